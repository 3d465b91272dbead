namespace SecretsPS.Core.Reencryption;

/// <summary>A job's state; stored in lower case (FORMATS.md §5).</summary>
public enum JobStatus
{
    Pending,
    Running,
    Paused,
    Finished,
    Failed,
    /// <summary>Every row was read, but the count at the end found values still below the target (FORMATS.md §4a).</summary>
    Incomplete,
}

public static class JobStatusText
{
    public static string ToText(this JobStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>A job that has ended: it is never continued, a new run starts a new job.</summary>
    public static bool HasEnded(this JobStatus status) => status is JobStatus.Finished or JobStatus.Incomplete;

    public static JobStatus Parse(string text) =>
        Enum.TryParse<JobStatus>(text, ignoreCase: true, out var s) ? s : JobStatus.Failed;
}
