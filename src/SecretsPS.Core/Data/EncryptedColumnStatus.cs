namespace SecretsPS.Core.Data;

/// <summary>
/// What a column holds, counted in the database: rows per key version, NULLs, values that are not
/// ciphertext, values naming a version the key file no longer has. Complete means every non-NULL value
/// is at the active version — the proof that a re-encryption is done and older keys can go.
/// </summary>
public sealed record EncryptedColumnStatus(
    string Table,
    string Column,
    string ActiveVersion,
    long TotalRows,
    long NullRows,
    long NotCiphertext,
    long UnknownVersionRows,
    long AtActiveVersion,
    IReadOnlyDictionary<string, long> RowsByVersion)
{
    public string Target => $"{Table}.{Column}";

    public long EncryptedRows => RowsByVersion.Values.Sum();

    public bool IsComplete => NotCiphertext == 0 && EncryptedRows == AtActiveVersion;

    public long RowsUsing(string version) => RowsByVersion.TryGetValue(version, out var n) ? n : 0;
}
