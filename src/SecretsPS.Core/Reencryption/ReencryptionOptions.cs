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

    /// <summary>Rows per chunk of a new job (at most <see cref="ChunkPlan.MaxChunks"/> chunks).</summary>
    public int ChunkRows { get; init; } = ChunkPlan.DefaultChunkRows;

    /// <summary>Workers in this process, each with its own connection, each claiming the next free chunk.</summary>
    public int ThrottleLimit { get; init; } = 1;

    /// <summary>Take part in the target's running job instead of refusing it (JobAlreadyRunning); start one when none runs.</summary>
    public bool Join { get; init; }

    /// <summary>The most workers one runner starts.</summary>
    public const int MaxThrottleLimit = 64;

    /// <summary>What a run refuses before it reads anything, checked for a rehearsal (-WhatIf) too.</summary>
    public void Validate()
    {
        if (BatchSize < 1 || CommitEvery < 1)
            throw new SecretsPSException(ErrorIds.BatchSizeInvalid, ErrorKind.InvalidArgument, Messages.BatchSizeInvalid);
        if (ChunkRows < 1 || ThrottleLimit < 1 || ThrottleLimit > MaxThrottleLimit)
            throw new SecretsPSException(ErrorIds.ChunkSettingsInvalid, ErrorKind.InvalidArgument,
                Localized.Format(Messages.ChunkSettingsInvalid, MaxThrottleLimit));
    }

    /// <summary>
    /// <see cref="Validate()"/>, and what the database cannot do: SQLite has one writer, so workers in parallel would only
    /// queue for its lock; refused before anything is written (and under -WhatIf).
    /// </summary>
    public void Validate(Data.DatabaseProvider provider)
    {
        Validate();
        if (ThrottleLimit > 1 && provider == Data.DatabaseProvider.Sqlite)
            throw new SecretsPSException(ErrorIds.ThrottleLimitNotSupported, ErrorKind.InvalidArgument,
                Localized.Format(Messages.ThrottleLimitNotSupported, ThrottleLimit));
    }
}
