namespace SecretsPS.Core.Reencryption;

/// <summary>
/// Why one row was not re-encrypted: a stable ErrorId and an English reason that never contains the value. Stored in the
/// job's error table as "ErrorId: reason" (machine-read, whatever the UI culture).
/// </summary>
public sealed record RowError(string ErrorId, string Reason)
{
    public override string ToString() => $"{ErrorId}: {Reason}";
}
