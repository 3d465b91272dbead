namespace SecretsPS.Core.Reencryption;

/// <summary>A snapshot of a run, reported after every batch.</summary>
public sealed record ReencryptionProgress(long JobId, string Target, long TotalRows, long Done, long Processed, long Skipped, long Errors,
    double RowsPerSecond, TimeSpan? TimeLeft);

/// <summary>
/// What the engine tells its caller, on the caller's thread only (a cmdlet can only write to its streams from the
/// pipeline thread): one worker calls it at once, from the caller's thread it runs on; the workers of -ThrottleLimit
/// post to a queue that the caller's thread drains while they work. Never receives a value or a key: row keys and
/// reasons only.
/// </summary>
public interface IReencryptionObserver
{
    void Progress(ReencryptionProgress progress);
    void RowFailed(string target, string rowKey, RowError error);
    void Info(string message);

    /// <summary>Something the operator should see although the run goes on (a transient failure retried); Info unless the caller shows warnings.</summary>
    void Warning(string message) => Info(message);
}

public sealed class NullObserver : IReencryptionObserver
{
    public static readonly NullObserver Instance = new();
    public void Progress(ReencryptionProgress progress) { }
    public void RowFailed(string target, string rowKey, RowError error) { }
    public void Info(string message) { }
}
