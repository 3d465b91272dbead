using System.Diagnostics;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// The one rule for "this running job's runner is gone" (a stale job), used by the engine before it takes over a job
/// and by Remove-ReencryptJob before it removes one. A running job is stale when:
/// <list type="bullet">
/// <item>it has no heartbeat, or its heartbeat (UpdatedAt, renewed at every commit) is older than <c>staleAfter</c>;</item>
/// <item>the database server started after the heartbeat: the runner's connection is gone, and the engine never reconnects;</item>
/// <item>its owner (<c>host:pid</c>) is a process on this machine that has exited: no need to wait out the heartbeat.</item>
/// </list>
/// A job whose owner is this very process is stale only when the caller says it is not running here.
/// </summary>
public static class JobStaleness
{
    /// <summary>The default time after which a heartbeat is old (Start-Reencryption's and Remove-ReencryptJob's -StaleAfter).</summary>
    public static readonly TimeSpan DefaultStaleAfter = TimeSpan.FromMinutes(10);

    /// <param name="job">The job as stored.</param>
    /// <param name="now">The current UTC time.</param>
    /// <param name="staleAfter">How old a heartbeat may be.</param>
    /// <param name="serverStarted">When the database server started (null where the dialect cannot tell).</param>
    /// <param name="runningHere">
    /// For a job owned by this process: whether it is running in this process now. Null when the caller cannot tell: this
    /// process is alive, so only the heartbeat and the server's start decide.
    /// </param>
    public static bool IsStale(ReencryptJob job, DateTime now, TimeSpan staleAfter, DateTime? serverStarted, Func<bool>? runningHere = null) =>
        IsStale(job.UpdatedAt, job.Owner, now, staleAfter, serverStarted, runningHere);

    /// <summary>
    /// A job worked in chunks (FORMATS.md §5) is alive while any of its running chunks is; with no chunk running (between
    /// its creation and its first claim, during its proof, a job of an older version), its own row decides.
    /// </summary>
    /// <param name="runningHere">For an owner of this process: whether that owner is running here now (null: cannot tell).</param>
    public static bool IsStale(ReencryptJob job, IReadOnlyCollection<ReencryptJobChunk> chunks, DateTime now, TimeSpan staleAfter, DateTime? serverStarted,
        Func<string?, bool>? runningHere = null)
    {
        Func<bool>? Here(string? owner) => runningHere is null ? null : () => runningHere(owner);
        var running = chunks.Where(c => c.Status == ChunkStatus.Running).ToList();
        if (running.Count > 0) return running.All(c => IsStale(c.UpdatedAt, c.Owner, now, staleAfter, serverStarted, Here(c.Owner)));
        return IsStale(job.UpdatedAt, job.Owner, now, staleAfter, serverStarted, Here(job.Owner));
    }

    /// <summary>The same rule for anything with a heartbeat and an owner: a job row, or one chunk of a job.</summary>
    public static bool IsStale(DateTimeOffset? heartbeat, string? owner, DateTime now, TimeSpan staleAfter, DateTime? serverStarted, Func<bool>? runningHere = null)
    {
        if (heartbeat is null || now - heartbeat.Value.UtcDateTime > staleAfter) return true;
        if (serverStarted is { } started && started > heartbeat.Value.UtcDateTime) return true;
        if (RunnerOwner.IsThisProcess(owner)) return runningHere is not null && !runningHere();
        return OwnerProcessGone(owner);
    }

    /// <summary>
    /// Whether the owner (<c>host:pid</c>, or a worker's <c>host:pid:w…</c>) names a process of this machine (not this one)
    /// that no longer exists.
    /// </summary>
    public static bool OwnerProcessGone(string? owner)
    {
        if (!RunnerOwner.TryParse(owner, out var host, out var pid) || host != Environment.MachineName || pid == Environment.ProcessId)
            return false;
        try
        {
            using var p = Process.GetProcessById(pid);
            return p.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }
}
