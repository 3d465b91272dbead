using System.Data.Common;
using System.Diagnostics;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// The wait of a run whose workers found no free chunk while other runners still hold some (FORMATS.md §5): such a run
/// does not leave the job to a later run, since a runner on another machine that died is seen only once its heartbeat is
/// older than -StaleAfter, and a finisher that died while it counted the column leaves the job running with every chunk
/// done. The run stays, looks at the job now and then, and ends with a definitive outcome of its own.
/// </summary>
public sealed partial class ReencryptionEngine
{
    /// <summary>
    /// How often a waiting run looks at the job: a tenth of -StaleAfter, so that a chunk whose runner went silent is taken
    /// over at most 10% later than it could be, and at most 2 seconds, so that a freed chunk or the job's end is seen about
    /// as soon as a runbook's operator would notice; at least 200 ms, as a look is two indexed reads of the job tables.
    /// </summary>
    internal static TimeSpan WaitInterval(TimeSpan staleAfter) =>
        TimeSpan.FromTicks(Math.Clamp(staleAfter.Ticks / 10, TimeSpan.FromMilliseconds(200).Ticks, TimeSpan.FromSeconds(2).Ticks));

    /// <summary>The job and its chunks as a waiting run sees them at one look, with what that means for the run.</summary>
    /// <param name="Free">Chunks a worker can claim now: pending, or running under a silent runner.</param>
    /// <param name="Held">Chunks other live runners hold (a live finisher counting the column counts as one).</param>
    /// <param name="FinisherSilent">Every chunk is done, the job still runs, and its finisher is silent by the job's rule.</param>
    private sealed record JobLook(ReencryptJob Job, int Free, int Held, bool AllDone, bool FinisherSilent);

    /// <summary>
    /// On the caller's thread, with one connection and no transaction or lock held between looks, and no heartbeat written
    /// for a chunk it does not hold: looks at the job every <see cref="WaitInterval"/>, reports the whole job's progress,
    /// and works again (up to -ThrottleLimit workers, the existing claim and takeover) as soon as chunks are free. Returns the
    /// job when another runner ended it; null when the run ends itself: it stopped (-MaxDuration, Ctrl+C, a failure), one of
    /// its workers marked the last chunk done, it took over the proof of a silent finisher (both: <see cref="RunState.FinishRequested"/>),
    /// or nobody else holds anything any more.
    /// </summary>
    private ReencryptJob? WaitForJob(DbConnection runConnection, JobStore store, ColumnTarget target, ReencryptJob claimed, string[] owners,
        RunState run, IReencryptionObserver observer)
    {
        var staleAfter = run.Options.StaleAfter;
        var interval = WaitInterval(staleAfter);
        var connection = runConnection;
        DbConnection? reopened = null;
        long? doneAtStart = null;
        var clock = Stopwatch.StartNew();
        bool told = false;
        void Pause() => run.Token.WaitHandle.WaitOne(run.TimeLeft is { } left && left < interval ? left : interval);
        try
        {
            for (int attempt = 0; ; )
            {
                if (run.ShouldStopWaiting()) return null;
                JobLook look;
                try
                {
                    if (connection.State != System.Data.ConnectionState.Open)
                    {
                        reopened?.Dispose();
                        reopened = null;
                        reopened = Open(readOnly: false);
                        connection = reopened;
                    }
                    look = Look(connection, store, target, claimed.Id, owners, staleAfter);
                    attempt = 0;
                }
                catch (Exception e) when (attempt < TransientRetries && !run.Token.IsCancellationRequested && IsTransient(e))
                {
                    attempt++;
                    connection.Dispose();
                    var delay = TransientRetryDelay(attempt);
                    observer.Warning(Localized.Format(Messages.TransientFailureRetrying, claimed.Id, target.Name,
                        e is SecretsPSException s ? s.ErrorId : DatabaseErrorText.Describe(e), (int)delay.TotalSeconds, attempt, TransientRetries));
                    run.Token.WaitHandle.WaitOne(delay);
                    continue;
                }

                var job = look.Job;
                run.Job = (job.TotalRows, job.Processed, job.Skipped, job.Errors); // -MaxErrors counts the other runners' errors too
                if (job.StatusKind != JobStatus.Running)
                {
                    observer.Info(job.StatusKind.HasEnded()
                        ? Localized.Format(Messages.JobEndedByOtherRunner, job.Id, job.StatusKind.ToText())
                        : Localized.Format(Messages.JobStoppedByOtherRunner, job.Id, job.StatusKind.ToText()));
                    return job;
                }
                if (look.Free > 0)
                {
                    long before = run.Done;
                    RunWorkerSet(connection, store, target, claimed, owners.Take(Math.Min(look.Free, owners.Length)).ToArray(), run, observer);
                    if (run.Failure is not null || run.FinishRequested || run.Stopped) return null;
                    told = false;
                    // Another runner claimed them first: the next look waits its turn rather than spin.
                    if (run.Done == before) Pause();
                    continue;
                }
                if (look.FinisherSilent)
                {
                    if (TakeOverProof(connection, store, target, claimed.Id, owners[0], staleAfter) is { } silent)
                    {
                        observer.Info(Localized.Format(Messages.ProvingForSilentFinisher, silent.Id, silent.Owner, silent.UpdatedAt));
                        run.RequestFinish();
                        return null;
                    }
                    continue; // another waiter took it first: the next look sees its heartbeat
                }
                if (look.Held == 0) return null; // nobody else holds anything: the job is left as it stands, as before

                if (!told)
                {
                    observer.Info(look.AllDone
                        ? Localized.Format(Messages.RunnerWaitingForProof, job.Id, job.Owner, staleAfter)
                        : Localized.Format(Messages.RunnerWaitingForChunks, job.Id, look.Held, staleAfter));
                    told = true;
                }
                // The whole job's progress, at the rate the job moved while this run waited.
                long done = job.Processed + job.Skipped + job.Errors;
                doneAtStart ??= done;
                observer.Progress(Snapshot(job.Id, target.Name, job.TotalRows, job.Processed, job.Skipped, job.Errors, done - doneAtStart.Value, clock.Elapsed));
                Pause();
            }
        }
        finally
        {
            reopened?.Dispose();
        }
    }

    /// <summary>One look at the job, two plain reads in no transaction: nothing locked, nothing written.</summary>
    private JobLook Look(DbConnection connection, JobStore store, ColumnTarget target, long jobId, string[] owners, TimeSpan staleAfter)
    {
        var job = store.Get(connection, null, jobId)
            ?? throw new SecretsPSException(ErrorIds.JobNotFound, ErrorKind.ObjectNotFound, Localized.Format(Messages.JobNotFoundFor, jobId, target.Name, target.Table),
                target: jobId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var chunks = store.Chunks.All(connection, null, jobId);
        var now = DateTime.UtcNow;
        int free = chunks.Count(c => c.Status == ChunkStatus.Pending || c.Status == ChunkStatus.Running && IsChunkStale(c, now, staleAfter));
        bool allDone = chunks.All(c => c.Status == ChunkStatus.Done);
        // Judged once: the finisher's process leaves this machine's running owners when its run ends, so two judgements of
        // one look could differ, and a look would find the job neither silent nor held by anyone.
        bool silent = allDone && job.StatusKind == JobStatus.Running && IsFinisherSilent(job, now, staleAfter);
        return new JobLook(job, free, OthersHolding(job, chunks, owners, now, staleAfter, silent), allDone, silent);
    }

    /// <summary>
    /// Under the target's lock, looked at again there, so that of two waiters only one takes it: the proof of a job whose
    /// chunks are all done and whose finisher is silent becomes this run's (its owner and a fresh heartbeat on the job row).
    /// The job as it was before, or null when it is not (any more) such a job.
    /// </summary>
    private ReencryptJob? TakeOverProof(DbConnection connection, JobStore store, ColumnTarget target, long jobId, string owner, TimeSpan staleAfter)
    {
        using var transaction = _dialect.BeginWrite(connection);
        _dialect.LockTarget(connection, transaction, target.Name);
        var now = DateTime.UtcNow;
        var job = store.Get(connection, transaction, jobId);
        bool take = job is { StatusKind: JobStatus.Running }
            && store.Chunks.All(connection, transaction, jobId).All(c => c.Status == ChunkStatus.Done)
            && IsFinisherSilent(job, now, staleAfter);
        if (take) store.Beat(connection, transaction, jobId, owner, now);
        transaction.Commit();
        return take ? job : null;
    }

    /// <summary>With every chunk done, the job's own heartbeat and owner say whether its finisher is still counting (the job's rule).</summary>
    private bool IsFinisherSilent(ReencryptJob job, DateTime now, TimeSpan staleAfter) =>
        JobStaleness.IsStale(job.UpdatedAt, job.Owner, now, staleAfter, _serverStarted, () =>
        {
            lock (RunningHere) return job.Owner is not null && RunningHere.Contains(job.Owner);
        });

    /// <summary>
    /// How many chunks other live runners hold (running, not this run's, not stale); with every chunk done, a live finisher
    /// counting the column holds the job and counts as one. A run that stops leaves a job others hold running, never paused.
    /// </summary>
    /// <param name="finisherSilent">The finisher judged already (one look's judgement); null: judged here.</param>
    private int OthersHolding(ReencryptJob job, IReadOnlyCollection<ReencryptJobChunk> chunks, string[] owners, DateTime now, TimeSpan staleAfter,
        bool? finisherSilent = null)
    {
        int held = chunks.Count(c => c.Status == ChunkStatus.Running && !owners.Contains(c.Owner) && !IsChunkStale(c, now, staleAfter));
        if (held == 0 && chunks.Count > 0 && chunks.All(c => c.Status == ChunkStatus.Done) && job.StatusKind == JobStatus.Running
            && !owners.Contains(job.Owner) && !(finisherSilent ?? IsFinisherSilent(job, now, staleAfter)))
            return 1;
        return held;
    }
}
