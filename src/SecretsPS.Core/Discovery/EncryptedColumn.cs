using SecretsPS.Core.Data;

namespace SecretsPS.Core.Discovery;

/// <summary>
/// A text column that holds stored values (FORMATS.md §4), with its rows by version. <see cref="Table"/> and
/// <see cref="Column"/> are the names -Table and -Column take back (a schema only outside the default one, a part
/// with a dot or a leading quote in double quotes), so the object pipes into the cmdlets that take a target.
/// </summary>
public sealed record EncryptedColumn(
    CatalogColumn Catalog,
    IReadOnlyDictionary<string, long> RowsByVersion,
    IReadOnlyList<string> UnknownVersions,
    long RowsRead,
    bool Sampled)
{
    public string Table => TableText(Catalog);

    public string Column => Catalog.Column;

    public string? Schema => Catalog.Table.Schema;

    public string ColumnType => Catalog.Type.ToString();

    public string Target => $"{Table}.{Column}";

    public long EncryptedRows => RowsByVersion.Values.Sum();

    /// <summary>The counts in one line, oldest name first by ordinal order: "v1=120, v2=3".</summary>
    public string Versions => string.Join(", ", RowsByVersion.Select(kv => $"{kv.Key}={kv.Value}"));

    public long RowsUsing(string version) => RowsByVersion.TryGetValue(version, out var n) ? n : 0;

    /// <summary>The table as -Table takes it back (Identifier.ParseTable gives the same table again).</summary>
    public static string TableText(CatalogColumn column) =>
        column.InDefaultSchema || column.Table.Schema is null
            ? Part(column.Table.Name)
            : Part(column.Table.Schema) + "." + Part(column.Table.Name);

    private static string Part(string name) =>
        name.Contains('.') || name.StartsWith('"') ? "\"" + name.Replace("\"", "\"\"") + "\"" : name;
}

/// <summary>A column the search did not read: the time limit came first, or the database refused the read.</summary>
public sealed record UnsearchedColumn(CatalogColumn Catalog, UnsearchedReason Reason, string? Detail)
{
    public string Target => $"{EncryptedColumn.TableText(Catalog)}.{Catalog.Column}";
}

public enum UnsearchedReason
{
    TimeLimit,
    ReadFailed,
    NameUnusable,
}

/// <summary>What a search found, and what it could not read: it is complete only when <see cref="NotSearched"/> is empty.</summary>
public sealed record EncryptedColumnSearchResult(
    IReadOnlyList<EncryptedColumn> Found,
    IReadOnlyList<UnsearchedColumn> NotSearched,
    int ColumnsSearched,
    TimeSpan Elapsed)
{
    public bool Complete => NotSearched.Count == 0;
}
