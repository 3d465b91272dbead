namespace SecretsPS.Core.Reencryption;

/// <summary>A job's state; stored in lower case (FORMATS.md §5).</summary>
public enum JobStatus
{
    Pending,
    Running,
    Paused,
    Finished,
    Failed,
}

public static class JobStatusText
{
    public static string ToText(this JobStatus status) => status.ToString().ToLowerInvariant();

    public static JobStatus Parse(string text) =>
        Enum.TryParse<JobStatus>(text, ignoreCase: true, out var s) ? s : JobStatus.Failed;
}
