namespace SecretsPS.Core.Data;

/// <summary>
/// What a column holds, counted in the database: rows per key version, NULLs, values that are not
/// ciphertext, values naming a version the key file no longer has. Complete means every non-NULL value
/// is at the active version — the proof that a re-encryption is done and older keys can go.
/// </summary>
public sealed class EncryptedColumnStatus
{
    public EncryptedColumnStatus(string table, string column, string activeVersion, long totalRows, long nullRows, long notCiphertext,
        long unknownVersionRows, long atActiveVersion, IReadOnlyDictionary<string, long> rowsByVersion)
    {
        Table = table;
        Column = column;
        ActiveVersion = activeVersion;
        TotalRows = totalRows;
        NullRows = nullRows;
        NotCiphertext = notCiphertext;
        UnknownVersionRows = unknownVersionRows;
        AtActiveVersion = atActiveVersion;
        RowsByVersion = VersionCounts.From(rowsByVersion);
    }

    public string Table { get; }
    public string Column { get; }
    public string Target => $"{Table}.{Column}";
    public string ActiveVersion { get; }
    public long TotalRows { get; }
    public long NullRows { get; }
    public long NotCiphertext { get; }
    public long UnknownVersionRows { get; }
    public long AtActiveVersion { get; }

    /// <summary>Rows per version prefix; reads as <c>v1=15000, v2=3</c>.</summary>
    public VersionCounts RowsByVersion { get; }

    public long EncryptedRows => RowsByVersion.Values.Sum();

    public bool IsComplete => NotCiphertext == 0 && EncryptedRows == AtActiveVersion;

    public long RowsUsing(string version) => RowsByVersion.TryGetValue(version, out var n) ? n : 0;

    public override string ToString() => $"{Target}: {RowsByVersion}";
}
