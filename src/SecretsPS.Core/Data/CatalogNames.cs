using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>
/// The names a database holds (its tables, a table's columns), for the nearest names in a TargetNotFound message and for
/// argument completion. Read-only queries that read no row of data; any database the dialects support.
/// </summary>
public static class CatalogNames
{
    /// <summary>Schemas a user never names (the default one) are left off; others are shown as schema.table. Frozen: shared by every runspace.</summary>
    private static readonly System.Collections.Frozen.FrozenSet<string> DefaultSchemas =
        System.Collections.Frozen.FrozenSet.ToFrozenSet(new[] { "public", "dbo", "main" }, StringComparer.OrdinalIgnoreCase);

    private static readonly string[] SystemSchemas = { "pg_catalog", "information_schema", "sys", "mysql", "performance_schema", "pg_toast" };

    /// <summary>The tables and views, as -Table takes them, at most <paramref name="limit"/>.</summary>
    public static IReadOnlyList<string> Tables(ISqlDialect dialect, DbConnection connection, int limit = 5000)
    {
        using var command = connection.CreateCommand();
        command.CommandText = dialect.Provider == DatabaseProvider.Sqlite
            ? "SELECT NULL, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            : "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ("
              + string.Join(", ", SystemSchemas.Select(s => "'" + s + "'")) + ") ORDER BY table_schema, table_name";
        var names = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read() && names.Count < limit)
        {
            var schema = reader.IsDBNull(0) ? null : reader.GetValue(0) as string;
            var name = reader.GetValue(1) as string;
            if (name is null) continue;
            names.Add(schema is null || DefaultSchemas.Contains(schema) ? name : schema + "." + name);
        }
        return names;
    }

    /// <summary>A table's columns in their order, read from an empty result's shape; null when the table cannot be read.</summary>
    public static IReadOnlyList<string>? Columns(ISqlDialect dialect, DbConnection connection, TableName table)
    {
        try
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT * FROM {dialect.QuoteTable(table)} WHERE 1 = 0";
            using var reader = command.ExecuteReader();
            return Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
        }
        catch (DbException e) when (!dialect.IsConnectionFailure(e))
        {
            dialect.ReadAgainAfterFailure(connection); // no such table: the catalog is asked next
            return null;
        }
    }

    /// <summary>
    /// The names closest to what was typed (edit distance, case ignored; a different case alone is nearest), best first.
    /// Only names close enough to be a likely typo.
    /// </summary>
    public static IReadOnlyList<string> Nearest(string typed, IEnumerable<string> names, int max = 3)
    {
        var limit = Math.Max(2, typed.Length / 3);
        return names
            .Select(n => (Name: n, Distance: Distance(typed, n)))
            .Where(c => c.Distance <= limit || Tail(c.Name).Equals(typed, StringComparison.OrdinalIgnoreCase)
                        || typed.Length >= 3 && c.Name.Contains(typed, StringComparison.OrdinalIgnoreCase))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .Take(max)
            .Select(c => c.Name)
            .ToList();
    }

    private static string Tail(string name) => name[(name.LastIndexOf('.') + 1)..];

    /// <summary>Levenshtein distance, case-insensitive: 0 for names that differ only in case.</summary>
    private static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        if (a.Length > 200 || b.Length > 200) return int.MaxValue; // no typo of a name that long is worth the quadratic cost
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
