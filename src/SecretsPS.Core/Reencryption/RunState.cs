using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// What the workers of one run share: the limits of the whole invocation (-MaxDuration, -MaxRows), why it stopped, the
/// first failure, whether one of them marked the job's last chunk done, and the observer's queue.
/// </summary>
internal sealed class RunState : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private long _reserved;
    private long _read;
    private long _done;
    private string? _stopReason;
    private ExceptionDispatchInfo? _failure;

    public RunState(ReencryptionOptions options, CancellationToken outer)
    {
        Options = options;
        Outer = outer;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
    }

    public ReencryptionOptions Options { get; }

    /// <summary>The caller's token: Ctrl+C, SIGTERM, the host stopping the pipeline.</summary>
    public CancellationToken Outer { get; }

    /// <summary>Cancelled when the caller stops the run or when one worker failed: every worker stops at its next page.</summary>
    public CancellationToken Token => _stop.Token;

    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public ObserverQueue Events { get; } = new();

    /// <summary>The stored reason this run paused (a limit, Ctrl+C), null while it runs or when it ended otherwise.</summary>
    public string? StopReason => Volatile.Read(ref _stopReason);

    /// <summary>Set by the worker that marked the job's last chunk done: the run proves and finishes the job.</summary>
    public bool FinishRequested { get; private set; }

    /// <summary>The stored message of a job this run failed on purpose (-MaxErrors passed).</summary>
    public string? FailMessage { get; private set; }

    public ExceptionDispatchInfo? Failure => Volatile.Read(ref _failure);

    /// <summary>Rows this run has settled (written, skipped or failed), for its rate.</summary>
    public long Done => Interlocked.Read(ref _done);

    /// <summary>The job row's counters (all runners) as of the last commit any worker of this run made: for progress and -MaxErrors.</summary>
    public (long TotalRows, long Processed, long Skipped, long Errors) Job
    {
        get { lock (_gate) return _job; }
        set { lock (_gate) _job = value; }
    }

    private readonly object _gate = new();
    private (long, long, long, long) _job;

    public void AddDone(long rows) => Interlocked.Add(ref _done, rows);

    /// <summary>
    /// The run pauses for <paramref name="reason"/>: a limit lets each worker write what it has read; an interruption
    /// (<paramref name="interrupt"/>) drops the pages read ahead at once.
    /// </summary>
    public void Stop(string reason, bool interrupt = false)
    {
        Interlocked.CompareExchange(ref _stopReason, reason, null);
        if (interrupt) _stop.Cancel();
    }

    public void RequestFinish() => FinishRequested = true;

    public void FailJob(string message)
    {
        FailMessage ??= message;
        _stop.Cancel();
    }

    public void Fail(Exception e)
    {
        Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
        _stop.Cancel();
    }

    /// <summary>
    /// The rows the next page may read, or 0 when the run must stop (the reason set): any time limit above zero gets at
    /// least one page done, however slow the start, so a runbook whose limit is too tight still moves forward each time.
    /// </summary>
    public int Reserve(int batch)
    {
        if (Outer.IsCancellationRequested) { Stop(StoredText.Store(nameof(Messages.JobMessageStopped))); return 0; }
        if (Token.IsCancellationRequested || StopReason is not null) return 0;
        if (Options.MaxDuration is { } d && Clock.Elapsed >= d && (d == TimeSpan.Zero || Interlocked.Read(ref _read) > 0))
        {
            Stop(StoredText.Store(nameof(Messages.JobMessageMaxDuration), d));
            return 0;
        }
        if (Options.MaxRows is not { } max) return batch;
        while (true)
        {
            long reserved = Interlocked.Read(ref _reserved);
            long take = Math.Min(batch, max - reserved);
            if (take <= 0)
            {
                Stop(StoredText.Store(nameof(Messages.JobMessageMaxRows), max));
                return 0;
            }
            if (Interlocked.CompareExchange(ref _reserved, reserved + take, reserved) == reserved) return (int)take;
        }
    }

    /// <summary>Whether the run stops (the reason set when a limit is what stops it): no new chunk is claimed then.</summary>
    public bool ShouldStop()
    {
        if (Token.IsCancellationRequested || StopReason is not null) return true;
        if (Options.MaxRows is { } max && Interlocked.Read(ref _reserved) >= max)
        {
            Stop(StoredText.Store(nameof(Messages.JobMessageMaxRows), max));
            return true;
        }
        if (Options.MaxDuration is { } d && Clock.Elapsed >= d && (d == TimeSpan.Zero || Interlocked.Read(ref _read) > 0))
        {
            Stop(StoredText.Store(nameof(Messages.JobMessageMaxDuration), d));
            return true;
        }
        return false;
    }

    /// <summary>A page read <paramref name="read"/> of the <paramref name="reserved"/> rows it was allowed.</summary>
    public void Settle(int reserved, int read)
    {
        Interlocked.Add(ref _read, read);
        if (Options.MaxRows is not null) Interlocked.Add(ref _reserved, read - reserved);
    }

    /// <summary>Rows read but rolled back with their batch (a transient failure): read again, they count once.</summary>
    public void Unread(long rows)
    {
        Interlocked.Add(ref _read, -rows);
        if (Options.MaxRows is not null) Interlocked.Add(ref _reserved, -rows);
    }

    public void Dispose() => _stop.Dispose();

    /// <summary>Whether the run has stopped: a limit, Ctrl+C, a failure, or -MaxErrors passed.</summary>
    public bool Stopped => Token.IsCancellationRequested || StopReason is not null || FailMessage is not null;

    /// <summary>
    /// Whether a run that waits for other runners' chunks stops waiting (the reason set): as <see cref="ShouldStop"/>, and
    /// -MaxDuration counts even when this run has read nothing, since a wait has no page of its own to get done first.
    /// </summary>
    public bool ShouldStopWaiting()
    {
        if (Outer.IsCancellationRequested) Stop(StoredText.Store(nameof(Messages.JobMessageStopped)));
        if (ShouldStop() || FailMessage is not null) return true;
        if (Options.MaxDuration is { } d && Clock.Elapsed >= d)
        {
            Stop(StoredText.Store(nameof(Messages.JobMessageMaxDuration), d));
            return true;
        }
        return false;
    }

    /// <summary>What is left of -MaxDuration (null: no limit), never below zero.</summary>
    public TimeSpan? TimeLeft => Options.MaxDuration is { } d ? (d > Clock.Elapsed ? d - Clock.Elapsed : TimeSpan.Zero) : null;
}
