using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// One row of the job table (FORMATS.md §5), as Get-ReencryptJob and Start-Reencryption write it. A plain class, so
/// that Get-Member and Format-List show only what a job is; its state is the lower-case name the table stores (an enum
/// would go out as a number in ConvertTo-Json). Times are UTC with their offset, so a CSV cell keeps the zone.
/// </summary>
public sealed class ReencryptJob
{
    public ReencryptJob(long id, string table, string column, string keyColumn, string targetVersion, JobStatus status,
        long totalRows, long processed, long skipped, long errors, string? lastKey, int batchSize, int commitEvery,
        DateTime createdAt, DateTime? startedAt, DateTime? updatedAt, DateTime? finishedAt, string? owner, string? message)
    {
        Id = id;
        Table = table;
        Column = column;
        KeyColumn = keyColumn;
        TargetVersion = targetVersion;
        StatusKind = status;
        TotalRows = totalRows;
        Processed = processed;
        Skipped = skipped;
        Errors = errors;
        LastKey = lastKey;
        BatchSize = batchSize;
        CommitEvery = commitEvery;
        CreatedAt = UtcTime.From(createdAt);
        StartedAt = UtcTime.From(startedAt);
        UpdatedAt = UtcTime.From(updatedAt);
        FinishedAt = UtcTime.From(finishedAt);
        Owner = owner;
        Message = message;
    }

    /// <summary>A copy to change with an object initializer (what a record's <c>with</c> did).</summary>
    internal ReencryptJob(ReencryptJob job)
    {
        Id = job.Id;
        Table = job.Table;
        Column = job.Column;
        KeyColumn = job.KeyColumn;
        TargetVersion = job.TargetVersion;
        StatusKind = job.StatusKind;
        TotalRows = job.TotalRows;
        Processed = job.Processed;
        Skipped = job.Skipped;
        Errors = job.Errors;
        LastKey = job.LastKey;
        BatchSize = job.BatchSize;
        CommitEvery = job.CommitEvery;
        CreatedAt = job.CreatedAt;
        StartedAt = job.StartedAt;
        UpdatedAt = job.UpdatedAt;
        FinishedAt = job.FinishedAt;
        Owner = job.Owner;
        Message = job.Message;
        Provider = job.Provider;
        ConnectionString = job.ConnectionString;
        JobTable = job.JobTable;
    }

    public long Id { get; init; }
    public string Table { get; init; }
    public string Column { get; init; }
    public string KeyColumn { get; init; }
    public string TargetVersion { get; init; }

    /// <summary>The state as the job table stores it: pending, running, paused, finished, failed or incomplete.</summary>
    public string Status => StatusKind.ToText();

    internal JobStatus StatusKind { get; init; }

    public long TotalRows { get; init; }

    /// <summary>Rows re-encrypted (written) by the job.</summary>
    public long Processed { get; init; }

    /// <summary>Rows read and left as they were (already at the target version, or NULL).</summary>
    public long Skipped { get; init; }

    public long Errors { get; init; }
    public string? LastKey { get; init; }
    public int BatchSize { get; init; }
    public int CommitEvery { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public string? Owner { get; init; }
    public string? Message { get; init; }

    public string Target => $"{Table}.{Column}";

    /// <summary>Rows the job has settled: processed, skipped or failed.</summary>
    public long Done => Processed + Skipped + Errors;

    /// <summary>The column's values by version as counted in the database when the job ended (its proof), or null.</summary>
    public VersionCounts? CountsAtFinish => CompletionProof.Parse(Message) is { } counts ? VersionCounts.From(counts) : null;

    /// <summary>The database provider of the connection the job was read through; set by the cmdlet, null from the library.</summary>
    public string? Provider { get; set; }

    /// <summary>
    /// The connection string the job was read through, without its password or token (a pipeline asks for those again);
    /// set by the cmdlet, null from the library.
    /// </summary>
    public string? ConnectionString { get; set; }

    public override string ToString() => $"{Id} {Target} {Status}";

    /// <summary>The job table the job is a row of (its error table is named after it); set by the cmdlet, null from the library.</summary>
    public string? JobTable { get; set; }

    /// <summary>Message in the user's language; Message itself stays as stored (English), since tools read it (CountsAtFinish).</summary>
    public string? MessageText => StoredText.Display(Message);
}
