namespace SecretsPS.Core.Reencryption;

/// <summary>
/// One row of a job's error table (FORMATS.md §5): which row could not be re-encrypted and why. Never a value: the row's
/// key, the reason's code, and the reason in the user's language (as stored, for a text written by an older version).
/// </summary>
public sealed class ReencryptJobError
{
    public long JobId { get; init; }

    /// <summary>The table and column of the job.</summary>
    public string Target { get; init; } = "";

    /// <summary>The key-column value of the row, as text.</summary>
    public string RowKey { get; init; } = "";

    /// <summary>The stable reason code (NotCiphertext, CiphertextDamaged, …); empty for a reason stored without one.</summary>
    public string ErrorId { get; init; } = "";

    public string Reason { get; init; } = "";

    /// <summary>When the row failed, in UTC with its zone: JSON, CSV and the view all say +00:00 or Z.</summary>
    public DateTimeOffset CreatedAt { get; init; }
}
