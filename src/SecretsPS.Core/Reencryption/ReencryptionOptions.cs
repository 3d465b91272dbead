namespace SecretsPS.Core.Reencryption;

public sealed record ReencryptionOptions
{
    public required string Table { get; init; }
    public required string Column { get; init; }
    /// <summary>Null: the table's single-column primary key.</summary>
    public string? KeyColumn { get; init; }
    public int BatchSize { get; init; } = ReencryptionDefaults.BatchSize;
    public int CommitEvery { get; init; } = ReencryptionDefaults.CommitEvery;
    public bool Resume { get; init; }
    public long? JobId { get; init; }
    public TimeSpan? MaxDuration { get; init; }
    public long? MaxRows { get; init; }
    public long? MaxErrors { get; init; }
    public bool EncryptPlaintext { get; init; }
    /// <summary>A running job whose heartbeat is older than this may be taken over.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromMinutes(10);
    public string JobTable { get; init; } = JobStore.DefaultTable;

    /// <summary>What a run refuses before it reads anything, checked for a rehearsal (-WhatIf) too.</summary>
    public void Validate()
    {
        if (BatchSize < 1 || CommitEvery < 1)
            throw new SecretsPSException(ErrorIds.BatchSizeInvalid, ErrorKind.InvalidArgument, Messages.BatchSizeInvalid);
    }
}
