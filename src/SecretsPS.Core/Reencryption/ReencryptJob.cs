namespace SecretsPS.Core.Reencryption;

/// <summary>One row of the job table (FORMATS.md §5). Times are UTC.</summary>
public sealed record ReencryptJob(
    long Id,
    string Table,
    string Column,
    string KeyColumn,
    string TargetVersion,
    JobStatus Status,
    long TotalRows,
    long Processed,
    long Skipped,
    long Errors,
    string? LastKey,
    int BatchSize,
    int CommitEvery,
    DateTime CreatedAt,
    DateTime? StartedAt,
    DateTime? UpdatedAt,
    DateTime? FinishedAt,
    string? Owner,
    string? Message)
{
    public string Target => $"{Table}.{Column}";

    public long Done => Processed + Skipped + Errors;

    /// <summary>The column's values by version as counted in the database when the job ended (its proof), or null.</summary>
    public IReadOnlyDictionary<string, long>? CountsAtFinish => CompletionProof.Parse(Message);

    /// <summary>Where the job lives, so that a job piped to Remove-ReencryptJob or Get-ReencryptJobError names its database.</summary>
    public string? Provider { get; set; }

    /// <summary>The job's database without any password or token: a pipeline asks for those again, it never carries them.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The job table the job is a row of (its error table is named after it).</summary>
    public string? JobTable { get; set; }

    /// <summary>Message in the user's language; Message itself stays as stored (English), since tools read it (CountsAtFinish).</summary>
    public string? MessageText => StoredText.Display(Message);
}
