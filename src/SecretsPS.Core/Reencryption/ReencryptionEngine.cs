using System.Data.Common;
using System.Diagnostics;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// Moves every value of a column to the target key version, online: keyset pages in key order, each row
/// written only if it still holds what was read (a concurrent write by the application wins and is
/// re-read), and the cursor and counters committed in the same transaction as the rows they describe —
/// so a run killed at any moment resumes without losing, skipping or double-encrypting a row. A job is cut into
/// chunks (key ranges with their own cursors, FORMATS.md §5) that any number of workers, in this process
/// (-ThrottleLimit) or in others (-Join), claim with the database's row locks.
/// </summary>
public sealed partial class ReencryptionEngine
{
    /// <summary>How often a row changed under us is re-read and retried before it is reported.</summary>
    private const int ConflictRetries = 3;

    private readonly ISqlDialect _dialect;
    private readonly string _connectionString;
    private readonly DatabaseSignIn _signIn;
    private readonly KeyRing _ring;

    public ReencryptionEngine(ISqlDialect dialect, string connectionString, DatabaseSignIn signIn, KeyRing ring)
    {
        _dialect = dialect;
        _connectionString = connectionString;
        _signIn = signIn;
        _ring = ring;
    }

    /// <summary>This process as a job's owner names it (<see cref="RunnerOwner"/>; each worker adds its own tag).</summary>
    public static string Owner => RunnerOwner.Process;

    private DbConnection Open(bool readOnly) => DatabaseConnection.Open(_dialect, _connectionString, _signIn, readOnly);

    private SecretsPSException Unavailable(Exception e) =>
        DatabaseConnection.Failure(_dialect, _connectionString, e, Messages.ReencryptionDatabaseUnavailable);

    /// <summary>-WhatIf: reads and decrypts every value, writes nothing (read-only connection; no job row).</summary>
    public ReencryptionPreview Preview(ReencryptionOptions options, IReencryptionObserver observer, CancellationToken cancellation)
    {
        options.Validate(_dialect.Provider);
        using var connection = Open(readOnly: true);
        var target = ColumnTarget.Resolve(_dialect, connection, options.Table, options.Column, options.KeyColumn);
        using var transaction = _dialect.BeginRead(connection);
        var version = _ring.Active;
        var transformer = new ValueTransformer(_ring, version, options.EncryptPlaintext, target.MaxLength);
        long total = Count(connection, transaction, target), would = 0, skipped = 0, errors = 0;
        var byVersion = new Dictionary<string, long>(StringComparer.Ordinal);
        object? cursor = null;
        var clock = Stopwatch.StartNew();
        while (!cancellation.IsCancellationRequested)
        {
            var page = ReadPage(connection, transaction, target, cursor, null, options.BatchSize, cancellation);
            if (page.Count == 0) break;
            foreach (var (key, value) in page)
            {
                var prefix = StoredValue.TryParseAsApplication(value, out var sv) ? sv.Version : "(not ciphertext)";
                byVersion[prefix] = byVersion.GetValueOrDefault(prefix) + 1;
                switch (TransformOne(transformer, value, out _, out var reason))
                {
                    case RowOutcome.Reencrypted: would++; break;
                    case RowOutcome.AlreadyAtTarget: skipped++; break;
                    default:
                        errors++;
                        observer.RowFailed(target.Name, _dialect.CursorText(key), reason!);
                        break;
                }
            }
            cursor = page[^1].Key;
            observer.Progress(Snapshot(0, target.Name, total, would, skipped, errors, would + skipped + errors, clock.Elapsed));
        }
        return new ReencryptionPreview(target.Table.ToString(), target.Column, target.KeyColumn, version.Name, total, would, skipped, errors, byVersion);
    }

    public ReencryptJob Run(ReencryptionOptions options, IReencryptionObserver observer, CancellationToken cancellation)
    {
        options.Validate(_dialect.Provider);
        var store = new JobStore(_dialect, options.JobTable);
        var tag = RunnerOwner.NewRunnerTag();
        var owners = Enumerable.Range(0, options.ThrottleLimit).Select(i => RunnerOwner.Worker(tag, i)).ToArray();
        lock (RunningHere) foreach (var o in owners) RunningHere.Add(o);
        try
        {
            using var connection = Open(readOnly: false);
            ColumnTarget target;
            JobClaim claim;
            try
            {
                target = ColumnTarget.Resolve(_dialect, connection, options.Table, options.Column, options.KeyColumn);
                store.EnsureTables(connection);
                var counted = CountIfDone(connection, store, target, options, cancellation);
                claim = ClaimJob(connection, store, target, options, owners[0], observer, counted);
            }
            catch (DbException e) when (_dialect.IsConnectionFailure(e))
            {
                throw Unavailable(e);
            }
            if (claim.Job.StatusKind.HasEnded()) return claim.Job; // recorded finished from the count: no row to read
            return RunWorkers(connection, store, target, claim, options, owners, observer, cancellation);
        }
        finally
        {
            lock (RunningHere) foreach (var o in owners) RunningHere.Remove(o);
        }
    }

    /// <summary>The job a run works on: the chunks it has, and whether it only needs its proof (every chunk done).</summary>
    private sealed record JobClaim(ReencryptJob Job, int Chunks, bool FinishNow);

    /// <summary>
    /// The run's workers, each on its own thread with its own connection (the first on the run's), claim chunks until none
    /// is free or the run stops; this thread hands their events to the observer meanwhile. When none is free while other
    /// runners still hold chunks, the run waits for the job (<see cref="WaitForJob"/>). Then it ends the run: the proof and
    /// the job's end when one of its workers marked the last chunk done (or its finisher went silent), the job as another
    /// runner ended it, the job paused when it stopped and no other runner works on the job, or the job as it stands when
    /// others still do.
    /// </summary>
    private ReencryptJob RunWorkers(DbConnection connection, JobStore store, ColumnTarget target, JobClaim claim, ReencryptionOptions options,
        string[] owners, IReencryptionObserver observer, CancellationToken cancellation)
    {
        var job = claim.Job;
        using var run = new RunState(options, cancellation) { Job = (job.TotalRows, job.Processed, job.Skipped, job.Errors) };
        try
        {
            if (options.MaxErrors is { } me0 && job.Errors > me0)
                run.FailJob(StoredText.Store(nameof(Messages.JobMessageTooManyErrors), me0));
            else if (claim.FinishNow)
                run.RequestFinish();
            else
                RunWorkerSet(connection, store, target, job, owners, run, observer);

            if (run.Failure is { } failure) failure.Throw();
            if (!run.FinishRequested && !run.Stopped && WaitForJob(connection, store, target, job, owners, run, observer) is { } endedElsewhere)
                return endedElsewhere;
            if (run.Failure is { } failedWhileWaiting) failedWhileWaiting.Throw();
            // The run's own connection when its first worker left it open (a pool of one connection is enough for one worker).
            using var reopened = connection.State == System.Data.ConnectionState.Open ? null : Open(readOnly: false);
            var end = reopened ?? connection;
            if (run.FinishRequested) return FinishJob(end, store, target, job, owners[0], run, observer);
            return EndRun(end, store, target, job, owners, run, observer);
        }
        catch (Exception e) when (e is DbException or IOException or InvalidOperationException or System.Net.Sockets.SocketException or TimeoutException)
        {
            var failed = MarkFailed(store, target, job.Id, owners, options.StaleAfter, _dialect.IsConnectionFailure(e)
                ? StoredText.Store(nameof(Messages.JobMessageConnectionLost))
                : StoredText.Store(nameof(Messages.JobMessageDatabaseError), e.GetType().Name));
            if (_dialect.IsConnectionFailure(e)) throw Unavailable(e);
            throw new SecretsPSException(ErrorIds.DatabaseError, ErrorKind.InvalidOperation,
                Localized.Format(Messages.JobDatabaseError, job.Id, DatabaseErrorText.Describe(e), failed ? "failed" : "running"),
                e, target.Name);
        }
        catch (Exception e)
        {
            // Whatever stopped the run, the uncommitted batches are rolled back and the job must not claim to be running
            // (unless other runners still work on it).
            MarkFailed(store, target, job.Id, owners, options.StaleAfter,
                e is SecretsPSException s ? StoredText.Store(nameof(Messages.JobMessageFailedWith), s.ErrorId) : StoredText.Store(nameof(Messages.JobMessageInterrupted), e.GetType().Name),
                e is SecretsPSException ? JobStatus.Failed : JobStatus.Paused);
            throw;
        }
    }

    /// <summary>
    /// Workers, one per owner given, each on its own thread with its own connection (the first on <paramref name="connection"/>),
    /// claim chunks until none is free or the run stops, while this thread hands their events to the observer; one worker
    /// works on the calling thread and tells the observer itself.
    /// </summary>
    private void RunWorkerSet(DbConnection connection, JobStore store, ColumnTarget target, ReencryptJob job, string[] owners, RunState run,
        IReencryptionObserver observer)
    {
        if (owners.Length == 1)
        {
            // One worker works on the calling thread, and tells the observer itself, at once: what it reports is
            // what it has done, and a cancellation from the observer stops it before its next page.
            Work(new Worker(owners[0], connection, store, target, job.Id, job.TargetVersion, run, observer));
            return;
        }
        var threads = new List<Thread>();
        for (int i = 0; i < owners.Length; i++)
        {
            var worker = new Worker(owners[i], i == 0 ? connection : null, store, target, job.Id, job.TargetVersion, run, run.Events);
            var thread = new Thread(() => Work(worker)) { IsBackground = true, Name = "SecretsPS worker " + i };
            threads.Add(thread);
            thread.Start();
        }
        try
        {
            run.Events.Drain(observer, () => threads.All(t => !t.IsAlive));
        }
        catch (Exception)
        {
            // The observer threw (the host stopping the pipeline, an error the caller turned terminating): the
            // workers give their chunks back at their committed cursors before the error goes on.
            run.Stop(StoredText.Store(nameof(Messages.JobMessageStopped)), interrupt: true);
            foreach (var t in threads) t.Join();
            throw;
        }
    }

    /// <summary>One worker of a run: its owner text, and the connection it starts on (null: it opens its own).</summary>
    /// <param name="Events">The caller's observer for the one worker on its thread, the run's queue for workers on their own.</param>
    private sealed record Worker(string Owner, DbConnection? Connection, JobStore Store, ColumnTarget Target, long JobId, string TargetVersion,
        RunState Run, IReencryptionObserver Events);

    private enum ChunkOutcome { Done, Lost, Stopped, JobEnded }

    private enum ClaimKind { Claimed, Finish, NoneFree, JobEnded }

    private sealed record ChunkClaim(ClaimKind Kind, ReencryptJobChunk? Chunk = null);

    /// <summary>
    /// A worker's life: claim a chunk, work it to its end, mark it done while claiming the next, until none is free. A
    /// transient failure (the dialect says which) drops only the uncommitted batch: the worker waits, opens a new
    /// connection, takes its chunk back at its committed cursor (unless another runner took it over meanwhile) and goes
    /// on, a bounded number of times. Anything else stops the whole run.
    /// </summary>
    private void Work(Worker w)
    {
        var run = w.Run;
        var connection = w.Connection;
        bool own = connection is null;
        ReencryptJobChunk? current = null, finished = null;
        bool takeBack = false;
        var transformer = new ValueTransformer(_ring, _ring.Get(w.TargetVersion), run.Options.EncryptPlaintext, w.Target.MaxLength);
        try
        {
            for (int attempt = 0; ; )
            {
                try
                {
                    if (connection is null)
                    {
                        try { connection = Open(readOnly: false); }
                        catch (SecretsPSException s) when (s.ErrorId == ErrorIds.DatabaseUnavailable && s.InnerException is { } lost)
                        {
                            throw Unavailable(lost); // the run's own message, which says to -Resume
                        }
                        own = true;
                    }
                    if (takeBack && current is not null)
                    {
                        var committed = w.Store.Chunks.Get(connection, null, w.JobId, current.Chunk);
                        current = committed is { Status: ChunkStatus.Running } && committed.Owner == w.Owner ? committed : null;
                    }
                    takeBack = false;
                    if (current is null)
                    {
                        var next = ClaimNext(connection, w, finished, claimAnother: !run.ShouldStop());
                        finished = null;
                        if (next.Kind == ClaimKind.Finish) run.RequestFinish();
                        if (next.Kind != ClaimKind.Claimed) return;
                        current = next.Chunk;
                    }
                    var outcome = ProcessChunk(connection, w, current!, transformer);
                    if (outcome == ChunkOutcome.Done) finished = current;
                    current = null;
                    if (outcome is ChunkOutcome.Stopped or ChunkOutcome.JobEnded && finished is null) return;
                }
                catch (Exception e) when (attempt < TransientRetries && !run.Token.IsCancellationRequested && IsTransient(e))
                {
                    attempt++;
                    connection?.Dispose(); // the run's own too: closed, the run's end opens a new one
                    connection = null;
                    takeBack = true;
                    var delay = TransientRetryDelay(attempt);
                    w.Events.Warning(Localized.Format(Messages.TransientFailureRetrying, w.JobId, w.Target.Name,
                        e is SecretsPSException s ? s.ErrorId : DatabaseErrorText.Describe(e), (int)delay.TotalSeconds, attempt, TransientRetries));
                    if (run.Token.WaitHandle.WaitOne(delay)) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
                }
            }
        }
        catch (Exception e)
        {
            run.Fail(e);
            if (current is not null) ReleaseBestEffort(w, current.Chunk);
        }
        finally
        {
            if (own) connection?.Dispose();
        }
    }

    /// <summary>
    /// Under the target's lock: marks the chunk just worked done, then claims the first chunk that is pending or whose runner
    /// is gone (stale, as a job is: heartbeat, server restart, process gone), skipping chunks another transaction holds.
    /// The worker whose marking leaves no chunk undone is the one that finishes the job: decided under the lock, so
    /// exactly one runner sees "none left".
    /// </summary>
    private ChunkClaim ClaimNext(DbConnection connection, Worker w, ReencryptJobChunk? finished, bool claimAnother)
    {
        var chunks = w.Store.Chunks;
        using var transaction = _dialect.BeginWrite(connection);
        _dialect.LockTarget(connection, transaction, w.Target.Name);
        var now = DateTime.UtcNow;
        bool marked = finished is not null && chunks.MarkDone(connection, transaction, w.JobId, finished.Chunk, w.Owner, now);
        if (chunks.JobCounters(connection, transaction, w.JobId).Status != JobStatus.Running)
        {
            transaction.Commit();
            return new ChunkClaim(ClaimKind.JobEnded);
        }
        if (claimAnother)
        {
            foreach (var c in chunks.Candidates(connection, transaction, w.JobId))
            {
                bool stale = c.Status == ChunkStatus.Running && IsChunkStale(c, now, w.Run.Options.StaleAfter);
                if (c.Status != ChunkStatus.Pending && !stale) continue;
                chunks.Claim(connection, transaction, w.JobId, c.Chunk, w.Owner, now);
                transaction.Commit();
                if (stale) w.Events.Info(Localized.Format(Messages.ChunkTakenOver, w.JobId, c.Chunk, c.Owner, c.UpdatedAt));
                return new ChunkClaim(ClaimKind.Claimed, new ReencryptJobChunk
                {
                    JobId = c.JobId, Chunk = c.Chunk, LowKey = c.LowKey, HighKey = c.HighKey, LastKey = c.LastKey, Status = ChunkStatus.Running,
                    Processed = c.Processed, Skipped = c.Skipped, Errors = c.Errors, Owner = w.Owner, UpdatedAt = now,
                });
            }
        }
        if (marked && chunks.All(connection, transaction, w.JobId).All(c => c.Status == ChunkStatus.Done))
        {
            // The job's heartbeat and owner are the finisher's while it counts the column.
            w.Store.Beat(connection, transaction, w.JobId, w.Owner, now);
            transaction.Commit();
            return new ChunkClaim(ClaimKind.Finish);
        }
        transaction.Commit();
        return new ChunkClaim(ClaimKind.NoneFree);
    }

    /// <summary>Best effort, on a new connection: a chunk whose worker failed goes back to pending at its committed cursor.</summary>
    private void ReleaseBestEffort(Worker w, int chunk)
    {
        try
        {
            using var connection = Open(readOnly: false);
            using var transaction = _dialect.BeginWrite(connection);
            w.Store.Chunks.Release(connection, transaction, w.JobId, chunk, w.Owner, DateTime.UtcNow);
            transaction.Commit();
        }
        catch (Exception)
        {
            // The chunk stays running under this owner: stale once its heartbeat is old, or at once on this machine when the process is gone.
        }
    }

    private bool IsChunkStale(ReencryptJobChunk chunk, DateTime now, TimeSpan staleAfter) =>
        JobStaleness.IsStale(chunk.UpdatedAt, chunk.Owner, now, staleAfter, _serverStarted, () =>
        {
            lock (RunningHere) return chunk.Owner is not null && RunningHere.Contains(chunk.Owner);
        });

    private bool IsJobStale(DbConnection connection, DbTransaction transaction, JobStore store, ReencryptJob job, DateTime now, TimeSpan staleAfter) =>
        JobStaleness.IsStale(job, store.Chunks.All(connection, transaction, job.Id), now, staleAfter, _serverStarted, owner =>
        {
            lock (RunningHere) return owner is not null && RunningHere.Contains(owner);
        });

    /// <summary>Every chunk is done: the column counted in the database (the job's one proof) decides how the job ends.</summary>
    private ReencryptJob FinishJob(DbConnection connection, JobStore store, ColumnTarget target, ReencryptJob claimed, string owner, RunState run, IReencryptionObserver observer)
    {
        CompletionProof proof;
        using (KeepAlive(store, claimed.Id, owner, run.Options.StaleAfter))
            proof = CompletionProof.Count(_dialect, connection, target, _ring, claimed.TargetVersion, run.Outer);
        using var transaction = _dialect.BeginWrite(connection);
        var job = store.Get(connection, transaction, claimed.Id)!;
        var message = (proof.Complete, job.Errors == 0) switch
        {
            (true, true) => StoredText.Store(nameof(Messages.JobMessageComplete), proof.ToText()),
            (true, false) => StoredText.Store(nameof(Messages.JobMessageCompleteWithErrors), job.Errors, proof.ToText()),
            (false, true) => StoredText.Store(nameof(Messages.JobMessageIncomplete), proof.BelowTarget, job.TargetVersion, proof.OlderVersionsText, proof.ToText()),
            (false, false) => StoredText.Store(nameof(Messages.JobMessageIncompleteWithErrors), job.Errors, proof.BelowTarget, job.TargetVersion, proof.OlderVersionsText, proof.ToText()),
        };
        var now = DateTime.UtcNow;
        job = new ReencryptJob(job)
        {
            StatusKind = proof.Complete ? JobStatus.Finished : JobStatus.Incomplete,
            UpdatedAt = now,
            FinishedAt = now,
            Owner = owner,
            Message = message,
        };
        store.SaveState(connection, transaction, job);
        transaction.Commit();
        observer.Progress(Snapshot(job.Id, target.Name, job.TotalRows, job.Processed, job.Skipped, job.Errors, run.Done, run.Clock.Elapsed));
        return job;
    }

    /// <summary>
    /// The proof counts the whole column, minutes on a large table; meanwhile the job's heartbeat is renewed on a connection
    /// of its own (a third of -StaleAfter apart, and at most 10 seconds: a waiting runner started with a smaller -StaleAfter
    /// than this one's must not find the finisher silent and count a second time), so that no other runner takes the job for
    /// one whose runners are gone, and takes it over or starts the column again, while it is being proved. Best effort: a
    /// beat that fails is only a heartbeat older than it could be.
    /// </summary>
    internal IDisposable KeepAlive(JobStore store, long jobId, string owner, TimeSpan staleAfter)
    {
        var every = TimeSpan.FromTicks(Math.Clamp(staleAfter.Ticks / 3, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromSeconds(10).Ticks));
        int beating = 0;
        return new Timer(_ =>
        {
            if (Interlocked.Exchange(ref beating, 1) == 1) return; // the last beat is still waiting for the database
            try
            {
                using var connection = Open(readOnly: false);
                using var transaction = _dialect.BeginWrite(connection);
                store.Beat(connection, transaction, jobId, owner, DateTime.UtcNow);
                transaction.Commit();
            }
            catch (Exception)
            {
                // The proof goes on; the next beat tries again.
            }
            finally
            {
                Volatile.Write(ref beating, 0);
            }
        }, null, every, every);
    }

    /// <summary>
    /// The run ended without finishing the job: failed on purpose (-MaxErrors), paused when it stopped and no other runner
    /// holds a chunk, or left running, as it stands, for the runners that still do.
    /// </summary>
    private ReencryptJob EndRun(DbConnection connection, JobStore store, ColumnTarget target, ReencryptJob claimed, string[] owners, RunState run, IReencryptionObserver observer)
    {
        using var transaction = _dialect.BeginWrite(connection);
        _dialect.LockTarget(connection, transaction, target.Name);
        var now = DateTime.UtcNow;
        var job = store.Get(connection, transaction, claimed.Id)!;
        var others = OthersHolding(job, store.Chunks.All(connection, transaction, job.Id), owners, now, run.Options.StaleAfter);
        if (run.FailMessage is { } failMessage && job.StatusKind == JobStatus.Running)
        {
            job = new ReencryptJob(job) { StatusKind = JobStatus.Failed, UpdatedAt = now, Owner = owners[0], Message = failMessage };
            store.SaveState(connection, transaction, job);
        }
        else if (job.StatusKind == JobStatus.Running && run.StopReason is { } reason)
        {
            if (others == 0)
            {
                job = new ReencryptJob(job) { StatusKind = JobStatus.Paused, UpdatedAt = now, Owner = owners[0], Message = reason };
                store.SaveState(connection, transaction, job);
            }
            else observer.Info(Localized.Format(Messages.RunnerStoppedOthersRunning, job.Id, others));
        }
        else if (job.StatusKind == JobStatus.Running)
        {
            observer.Info(Localized.Format(Messages.RunnerPartDone, job.Id, others));
        }
        transaction.Commit();
        observer.Progress(Snapshot(job.Id, target.Name, job.TotalRows, job.Processed, job.Skipped, job.Errors, run.Done, run.Clock.Elapsed));
        return job;
    }

    /// <summary>How often one run continues after a transient database failure before it stops with the error.</summary>
    public const int TransientRetries = 3;

    /// <summary>The wait before each retry: 2, 4, 8 seconds (a failover of a managed database usually takes under 30).</summary>
    public static TimeSpan TransientRetryDelay(int attempt) => TimeSpan.FromSeconds(Math.Pow(2, attempt));

    private bool IsTransient(Exception e) => e switch
    {
        SecretsPSException s => s.ErrorId == ErrorIds.DatabaseUnavailable, // the new connection did not open (yet)
        DbException or IOException or InvalidOperationException or System.Net.Sockets.SocketException or TimeoutException => _dialect.IsTransient(e),
        _ => false,
    };

    /// <summary>
    /// Under the target's lock: the job this run works on. A live running job of the target is refused (JobAlreadyRunning)
    /// or, with -Join, joined as it is; -JobId and -Resume continue a job (its chunks; a job of an older version becomes
    /// one chunk from its cursor); otherwise a new job, with its chunks, in the same transaction.
    /// </summary>
    private JobClaim ClaimJob(DbConnection connection, JobStore store, ColumnTarget target, ReencryptionOptions options, string owner, IReencryptionObserver observer,
        ColumnAlreadyDone? counted)
    {
        using var transaction = _dialect.BeginWrite(connection);
        _dialect.LockTarget(connection, transaction, target.Name);
        var now = DateTime.UtcNow;
        _serverStarted = _dialect.ServerStartTime(connection, transaction);
        var jobs = store.ForTarget(connection, transaction, target.Table.ToString(), target.Column);
        bool Live(ReencryptJob j) => j.StatusKind == JobStatus.Running && !IsJobStale(connection, transaction, store, j, now, options.StaleAfter);
        var running = jobs.FirstOrDefault(j => j.Id != options.JobId && Live(j));
        if (running is not null)
        {
            if (options.Join && options.JobId is null) return Join(running);
            throw new SecretsPSException(ErrorIds.JobAlreadyRunning, ErrorKind.ResourceUnavailable,
                Localized.Format(Messages.JobAlreadyRunningOn, running.Id, target.Name, running.Owner, running.UpdatedAt),
                target: target.Name);
        }

        ReencryptJob? resumed = null;
        if (options.JobId is { } id)
        {
            resumed = store.Get(connection, transaction, id);
            if (resumed is null)
                throw new SecretsPSException(ErrorIds.JobNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.JobNotFoundFor, id, target.Name, target.Table), target: id.ToString());
            RequireSameJob(resumed, target);
            if (resumed.StatusKind.HasEnded())
                throw new SecretsPSException(ErrorIds.JobFinished, ErrorKind.InvalidOperation,
                    Localized.Format(Messages.JobFinished, id), target: id.ToString());
            if (Live(resumed))
            {
                if (options.Join) return Join(resumed);
                throw new SecretsPSException(ErrorIds.JobAlreadyRunning, ErrorKind.ResourceUnavailable,
                    Localized.Format(Messages.JobAlreadyRunning, id, resumed.Owner, resumed.UpdatedAt), target: id.ToString());
            }
        }
        else if (options.Resume)
        {
            // An incomplete job has ended like a finished one: running again is a new job, a new pass from the first row.
            resumed = jobs.FirstOrDefault(j => !j.StatusKind.HasEnded());
            if (resumed is null) observer.Info(Localized.Format(Messages.NoUnfinishedJob, target.Name));
            else RequireSameJob(resumed, target);
        }
        else if (options.Join)
        {
            // A running job whose runners are all gone: -Join takes its chunks over rather than leave it behind.
            resumed = jobs.FirstOrDefault(j => j.StatusKind == JobStatus.Running && IsSameJob(j, target));
        }

        if (resumed is not null)
        {
            var chunks = store.Chunks.All(connection, transaction, resumed.Id);
            if (chunks.Count == 0)
            {
                // A job of an older version: one chunk from its cursor, with its counters.
                store.Chunks.InsertWhole(connection, transaction, resumed, now);
                chunks = store.Chunks.All(connection, transaction, resumed.Id);
            }
            int notDone = chunks.Count(c => c.Status != ChunkStatus.Done);
            var job = new ReencryptJob(resumed)
            {
                StatusKind = JobStatus.Running,
                StartedAt = resumed.StartedAt ?? now,
                UpdatedAt = now,
                Owner = owner,
                BatchSize = options.BatchSize,
                CommitEvery = options.CommitEvery,
                Message = chunks.Count > 1 ? StoredText.Store(nameof(Messages.JobMessageResumedChunks), notDone, chunks.Count)
                    : resumed.LastKey is null ? StoredText.Store(nameof(Messages.JobMessageResumedAtStart)) : StoredText.Store(nameof(Messages.JobMessageResumedAtKey), resumed.LastKey),
            };
            store.SaveState(connection, transaction, job);
            transaction.Commit();
            observer.Info(resumed.LastKey is null ? Localized.Format(Messages.ResumingJobAtStart, job.Id, resumed.StatusKind.ToText(), target.Name) : Localized.Format(Messages.ResumingJobAtKey, job.Id, resumed.StatusKind.ToText(), target.Name, resumed.LastKey));
            if (chunks.Count > 1) observer.Info(Localized.Format(Messages.JoiningJob, job.Id, target.Name, notDone, chunks.Count));
            if (notDone == 0 && resumed.StatusKind == JobStatus.Running)
                observer.Info(Localized.Format(Messages.ProvingForSilentFinisher, job.Id, resumed.Owner, resumed.UpdatedAt));
            return new JobClaim(job, chunks.Count, FinishNow: notDone == 0);
        }

        // Counted before the lock: still valid when the newest job is still the finished one the count was decided on.
        if (counted is not null && jobs.FirstOrDefault()?.Id == counted.LastJobId && jobs.All(j => j.StatusKind.HasEnded()))
        {
            long atTarget = counted.Proof.RowsByVersion.Sum(v => v.Value);
            var proved = new ReencryptJob(0, target.Table.ToString(), target.Column, target.KeyColumn, _ring.Active.Name, JobStatus.Finished,
                atTarget, 0, atTarget, 0, null, options.BatchSize, options.CommitEvery, now, now, now, null, owner, null);
            proved = new ReencryptJob(proved)
            {
                Id = store.Insert(connection, transaction, proved),
                FinishedAt = now,
                Message = StoredText.Store(nameof(Messages.JobMessageComplete), counted.Proof.ToText()),
            };
            store.SaveState(connection, transaction, proved);
            transaction.Commit();
            observer.Info(Localized.Format(Messages.ColumnAlreadyDone, target.Name, proved.TargetVersion, counted.Proof.ToText(), proved.Id));
            observer.Progress(Snapshot(proved.Id, target.Name, atTarget, 0, atTarget, 0, 0, TimeSpan.Zero));
            return new JobClaim(proved, 0, FinishNow: false);
        }

        long total = Count(connection, transaction, target);
        var boundaries = ChunkPlan.Boundaries(_dialect, connection, transaction, target, total, options.ChunkRows);
        var fresh = new ReencryptJob(0, target.Table.ToString(), target.Column, target.KeyColumn, _ring.Active.Name, JobStatus.Running,
            total, 0, 0, 0, null, options.BatchSize, options.CommitEvery, now, now, now, null, owner, null);
        fresh = new ReencryptJob(fresh) { Id = store.Insert(connection, transaction, fresh) };
        store.Chunks.Insert(connection, transaction, fresh.Id, boundaries, now);
        transaction.Commit();
        observer.Info(Localized.Format(Messages.JobStarting, fresh.Id, fresh.TotalRows, target.Name, fresh.TargetVersion));
        if (boundaries.Count > 0) observer.Info(Localized.Format(Messages.JobChunksPlanned, fresh.Id, boundaries.Count + 1, total / (boundaries.Count + 1)));
        // A run without -Resume or -JobId starts over; the unfinished jobs of the target stay as they were, and the
        // operator is told which, and how to continue or remove them, instead of finding them months later.
        var leftBehind = jobs.Where(j => !j.StatusKind.HasEnded()) // a running one is stale here: a live one was refused above
            .Select(j => j.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        if (leftBehind.Count > 0)
            observer.Warning(Localized.Format(Messages.UnfinishedJobsNotContinued, MessageText.List(leftBehind), target.Name, fresh.Id, string.Join(",", leftBehind.Take(20))));
        return new JobClaim(fresh, boundaries.Count + 1, FinishNow: false);

        // A live job is joined as it is: its row is not written (its runners own its counters and state).
        JobClaim Join(ReencryptJob live)
        {
            RequireSameJob(live, target);
            var chunks = store.Chunks.All(connection, transaction, live.Id);
            if (chunks.Count == 0)
                throw new SecretsPSException(ErrorIds.JobAlreadyRunning, ErrorKind.ResourceUnavailable,
                    Localized.Format(Messages.JobAlreadyRunningOn, live.Id, target.Name, live.Owner, live.UpdatedAt), target: target.Name);
            transaction.Commit();
            observer.Info(Localized.Format(Messages.JoiningJob, live.Id, target.Name, chunks.Count(c => c.Status != ChunkStatus.Done), chunks.Count));
            return new JobClaim(live, chunks.Count, FinishNow: false);
        }
    }

    /// <summary>The count of a column whose every value is at the active version, and the finished job it was decided after.</summary>
    private sealed record ColumnAlreadyDone(long LastJobId, CompletionProof Proof);

    /// <summary>
    /// A run that would start a new job on a column whose newest job finished at the active version (a nightly run over a
    /// fleet of databases that are done) counts the column first, with the proof's own count: when every value is already at
    /// the active version, the run records a finished job with that count instead of reading every row again, which would
    /// only have skipped each one (a value is skipped by its version prefix, never decrypted). Anything else in the column
    /// (an older or unknown version, a value that is not ciphertext) and the run reads it as always. Counted outside the
    /// target's lock, so that runners starting together on a large table do not count one after the other.
    /// </summary>
    private ColumnAlreadyDone? CountIfDone(DbConnection connection, JobStore store, ColumnTarget target, ReencryptionOptions options, CancellationToken cancellation)
    {
        if (options.JobId is not null) return null;
        var jobs = store.ForTarget(connection, null, target.Table.ToString(), target.Column);
        if (jobs.FirstOrDefault() is not { StatusKind: JobStatus.Finished } last || !IsSameJob(last, target) || !jobs.All(j => j.StatusKind.HasEnded()))
            return null;
        var proof = CompletionProof.Count(_dialect, connection, target, _ring, _ring.Active.Name, cancellation);
        bool allAtTarget = proof.NotCiphertext == 0 && proof.RowsByVersion.All(v => v.Key == _ring.Active.Name || v.Value == 0);
        return allAtTarget ? new ColumnAlreadyDone(last.Id, proof) : null;
    }

    private bool IsSameJob(ReencryptJob job, ColumnTarget target) =>
        job.Table == target.Table.ToString() && job.Column == target.Column && job.KeyColumn == target.KeyColumn && job.TargetVersion == _ring.Active.Name;

    /// <summary>
    /// A job's identity is fixed (FORMATS.md §4a): its cursor is a position in one key column's order, and its rows
    /// before the cursor are at one version. Continuing it for another column, key or version would skip rows.
    /// </summary>
    private void RequireSameJob(ReencryptJob job, ColumnTarget target)
    {
        if (IsSameJob(job, target)) return;
        throw new SecretsPSException(ErrorIds.JobOptionsMismatch, ErrorKind.InvalidArgument,
            Localized.Format(Messages.JobOptionsMismatch, job.Id, job.Target, job.KeyColumn, job.TargetVersion, target.Name, target.KeyColumn, _ring.Active.Name),
            target: job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // The owners (workers) running in this process right now; a job or chunk that names this process but none of these was
    // left behind by a run that ended without being able to update it (a database restart).
    private static readonly HashSet<string> RunningHere = new(StringComparer.Ordinal);

    private DateTime? _serverStarted;

    /// <summary>
    /// Works one claimed chunk from its committed cursor to its upper bound: keyset pages in key order, each row written
    /// only if it still holds what was read, the chunk's cursor and counters (and their deltas on the job row) committed
    /// with the rows they describe, guarded by this worker's ownership of the chunk.
    /// </summary>
    private ChunkOutcome ProcessChunk(DbConnection connection, Worker w, ReencryptJobChunk chunk, ValueTransformer transformer)
    {
        var run = w.Run;
        var options = run.Options;
        var target = w.Target;
        var tally = new ChunkTally(chunk);
        var high = chunk.HighKey is null ? null : _dialect.KeyFromCursor(chunk.HighKey);
        long sinceCommit = 0, readSinceCommit = 0;
        var updates = new List<RowUpdate>(options.BatchSize);
        var pendingErrors = new List<(string, string)>();
        DbTransaction? transaction = null;
        bool stopping = false;
        using var transforming = new OverlapThread<TransformedPage>("SecretsPS re-encryption");
        bool inFlight = false;

        // Null when the run stops before this page or the chunk has no more rows.
        List<(object Key, string? Value)>? ReadNext(object? after)
        {
            int limit = run.Reserve(options.BatchSize);
            if (limit == 0) { stopping = true; return null; }
            transaction ??= _dialect.BeginWrite(connection);
            List<(object Key, string? Value)> page;
            try
            {
                page = ReadPage(connection, transaction, target, after, high, limit, run.Token);
            }
            catch (Exception e) when (run.Token.IsCancellationRequested && e is OperationCanceledException or DbException)
            {
                run.Settle(limit, 0);
                if (run.Outer.IsCancellationRequested) run.Stop(StoredText.Store(nameof(Messages.JobMessageStopped)));
                stopping = true;
                return null;
            }
            run.Settle(limit, page.Count);
            readSinceCommit += page.Count;
            return page.Count == 0 ? null : page;
        }

        ChunkOutcome? Commit(string status)
        {
            transaction ??= _dialect.BeginWrite(connection);
            var now = DateTime.UtcNow;
            var delta = tally.Delta;
            var chunks = w.Store.Chunks;
            if (!chunks.CommitBatch(connection, transaction, w.JobId, chunk.Chunk, w.Owner, tally.LastKey, tally.Processed, tally.Skipped, tally.Errors,
                    delta, status, now))
            {
                // Taken over by another runner (this one looked stale): nothing of the batch is kept, the chunk is theirs.
                transaction.Rollback();
                transaction.Dispose();
                transaction = null;
                pendingErrors.Clear();
                return ChunkOutcome.Lost;
            }
            w.Store.AddErrors(connection, transaction, w.JobId, pendingErrors, now);
            var job = chunks.JobCounters(connection, transaction, w.JobId);
            transaction.Commit();
            transaction.Dispose();
            transaction = null;
            pendingErrors.Clear();
            tally.Committed();
            run.Job = (job.TotalRows, job.Processed, job.Skipped, job.Errors);
            return job.Status == JobStatus.Running ? null : ChunkOutcome.JobEnded;
        }

        ChunkOutcome Release(ChunkOutcome outcome)
        {
            using var release = _dialect.BeginWrite(connection);
            w.Store.Chunks.Release(connection, release, w.JobId, chunk.Chunk, w.Owner, DateTime.UtcNow);
            release.Commit();
            return outcome;
        }

        try
        {
            // The database and the cores overlap: while page N is transformed on its own thread, this worker writes page
            // N−1 and reads page N+1, on its one connection and in the same transaction. Reading ahead of a write is safe
            // because every write is guarded by the value that was read; the cursor still moves only with the rows
            // written, in the commit that covers them.
            var start = chunk.LastKey ?? chunk.LowKey;
            var page = ReadNext(start is null ? null : _dialect.KeyFromCursor(start));
            TransformedPage? ready = null;
            while (page is not null || ready is not null)
            {
                if (run.Token.IsCancellationRequested)
                {
                    // Ctrl+C, SIGTERM, or another worker failed: what was written is committed below; a page read ahead is
                    // dropped unwritten, and the cursor stays before it.
                    if (run.Outer.IsCancellationRequested) run.Stop(StoredText.Store(nameof(Messages.JobMessageStopped)));
                    stopping = true;
                    break;
                }

                if (page is not null)
                {
                    var rows = page;
                    transforming.Start(() => new TransformedPage(rows, TransformAll(transformer, rows)));
                    inFlight = true;
                }

                if (ready is not null)
                {
                    WritePage(connection, transaction ??= _dialect.BeginWrite(connection), target, transformer, ready, updates, tally, pendingErrors, w.Events);
                    run.AddDone(ready.Rows.Count);
                    sinceCommit += ready.Rows.Count;
                    if (options.MaxErrors is { } me && run.Job.Errors + tally.Delta.Errors > me)
                    {
                        // The page in flight is dropped unwritten: the cursor is at the last page written.
                        if (inFlight) transforming.Collect();
                        inFlight = false;
                        run.FailJob(StoredText.Store(nameof(Messages.JobMessageTooManyErrors), me));
                        return Commit(ChunkStatus.Pending) ?? ChunkOutcome.Stopped;
                    }

                    if (sinceCommit >= options.CommitEvery)
                    {
                        if (Commit(ChunkStatus.Running) is { } ended)
                        {
                            if (inFlight) transforming.Collect();
                            inFlight = false;
                            return ended == ChunkOutcome.JobEnded ? Release(ended) : ended;
                        }
                        readSinceCommit -= sinceCommit;
                        sinceCommit = 0;
                    }
                    // The whole job as this worker knows it: its last commit's counters (all runners), and its own rows since.
                    var (total, processed, skipped, errors) = run.Job;
                    var uncommitted = tally.Delta;
                    w.Events.Progress(Snapshot(w.JobId, target.Name, total, processed + uncommitted.Processed, skipped + uncommitted.Skipped,
                        errors + uncommitted.Errors, run.Done, run.Clock.Elapsed));
                    ready = null;
                }

                if (page is not null)
                {
                    page = ReadNext(page[^1].Key);
                    ready = transforming.Collect();
                    inFlight = false;
                }
            }

            if (stopping) return Commit(ChunkStatus.Pending) is { } lost && lost == ChunkOutcome.Lost ? lost : ChunkOutcome.Stopped;
            return Commit(ChunkStatus.Running) switch
            {
                null => ChunkOutcome.Done,
                ChunkOutcome.JobEnded => Release(ChunkOutcome.JobEnded),
                var other => other.Value,
            };
        }
        catch (Exception) when (!run.Token.IsCancellationRequested)
        {
            // The rows read since the last commit are read again after a retry: -MaxRows counts them once.
            run.Unread(readSinceCommit);
            throw;
        }
        finally
        {
            // A database error can end the run while a page is being transformed: the transform must not outlive the keys
            // (the thread itself ends when `transforming` is disposed, after this).
            if (inFlight)
            {
                try { transforming.Collect(); } catch (Exception) { /* the run is already ending with the error that stopped it */ }
            }
            transaction?.Dispose();
        }
    }

    /// <summary>A chunk's cursor and counters as this worker has them, and what of them its last commit already wrote.</summary>
    private sealed class ChunkTally
    {
        private long _committedProcessed, _committedSkipped, _committedErrors;

        public ChunkTally(ReencryptJobChunk chunk)
        {
            LastKey = chunk.LastKey;
            Processed = _committedProcessed = chunk.Processed;
            Skipped = _committedSkipped = chunk.Skipped;
            Errors = _committedErrors = chunk.Errors;
        }

        public string? LastKey { get; set; }
        public long Processed { get; set; }
        public long Skipped { get; set; }
        public long Errors { get; set; }

        /// <summary>What the job row's counters gain with the next commit.</summary>
        public (long Processed, long Skipped, long Errors) Delta => (Processed - _committedProcessed, Skipped - _committedSkipped, Errors - _committedErrors);

        public void Committed() => (_committedProcessed, _committedSkipped, _committedErrors) = (Processed, Skipped, Errors);
    }

    /// <summary>A page read and transformed, in key order, waiting to be written.</summary>
    private sealed record TransformedPage(List<(object Key, string? Value)> Rows, (RowOutcome Outcome, string? NewValue, RowError? Error)[] Results);

    /// <summary>Counts a transformed page's skips and errors, writes its updates, and moves the chunk's cursor past it.</summary>
    private void WritePage(DbConnection connection, DbTransaction transaction, ColumnTarget target, ValueTransformer transformer,
        TransformedPage page, List<RowUpdate> updates, ChunkTally tally, List<(string, string)> pendingErrors, IReencryptionObserver observer)
    {
        updates.Clear();
        for (int i = 0; i < page.Rows.Count; i++)
        {
            var (key, value) = page.Rows[i];
            var (outcome, newValue, reason) = page.Results[i];
            switch (outcome)
            {
                case RowOutcome.Reencrypted: updates.Add(new RowUpdate(key, value!, newValue!)); break;
                case RowOutcome.AlreadyAtTarget: tally.Skipped++; break;
                default:
                    tally.Errors++;
                    var keyText = _dialect.CursorText(key);
                    pendingErrors.Add((keyText, reason!.ToString()));
                    observer.RowFailed(target.Name, keyText, reason);
                    break;
            }
        }
        Write(connection, transaction, target, transformer, updates, tally, pendingErrors, observer);
        tally.LastKey = _dialect.CursorText(page.Rows[^1].Key);
    }

    /// <summary>Below this many rows a page is transformed by one thread: spreading it costs more than it saves.</summary>
    private const int ParallelThreshold = 64;

    /// <summary>
    /// The cores a page's transform is spread over. The calling thread is busy with the database meanwhile (and on a
    /// small machine the database server shares the cores too), so the transform leaves it one core: on two cores,
    /// waking a second pool thread per page cost more in hand-offs and spinning than it gained (bench/RESULTS.md).
    /// </summary>
    private static readonly int TransformThreads = Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>
    /// Decrypt and re-encrypt a page (the crypto, not the database, is the work here); results stay in page order,
    /// and nothing but the transform runs off the calling thread.
    /// </summary>
    private static (RowOutcome Outcome, string? NewValue, RowError? Error)[] TransformAll(ValueTransformer transformer, List<(object Key, string? Value)> page)
    {
        var results = new (RowOutcome, string?, RowError?)[page.Count];
        if (page.Count < ParallelThreshold || TransformThreads < 2)
        {
            for (int i = 0; i < page.Count; i++) results[i] = (TransformOne(transformer, page[i].Value, out var n, out var r), n, r);
        }
        else
        {
            Parallel.For(0, page.Count, new ParallelOptions { MaxDegreeOfParallelism = TransformThreads },
                i => results[i] = (TransformOne(transformer, page[i].Value, out var n, out var r), n, r));
        }
        return results;
    }

    /// <summary>A value that is not text (possible in a SQLite column declared without a type) is an error for its row.</summary>
    private static RowOutcome TransformOne(ValueTransformer transformer, string? value, out string? newValue, out RowError? reason)
    {
        if (value is not null) return transformer.Transform(value, out newValue, out reason);
        newValue = null;
        reason = StoredText.Reason(ErrorIds.ValueNotText, nameof(Messages.RowReasonValueNotText));
        return RowOutcome.Failed;
    }

    /// <summary>The guarded batch update; rows someone else changed since they were read are re-read and handled again.</summary>
    private void Write(DbConnection connection, DbTransaction transaction, ColumnTarget target, ValueTransformer transformer,
        List<RowUpdate> updates, ChunkTally tally, List<(string, string)> pendingErrors, IReencryptionObserver observer)
    {
        var todo = updates;
        for (int attempt = 0; todo.Count > 0; attempt++)
        {
            var written = _dialect.UpdateGuarded(connection, transaction, target, todo);
            tally.Processed += written.Count;
            if (written.Count == todo.Count) break;

            // Every row sent and not written is accounted for: re-read, it was deleted or changed by someone else (handled
            // again), or it still holds what was read, and the update should have matched it: an error, never silence.
            var done = new HashSet<string>(written.Select(_dialect.CursorText), StringComparer.Ordinal);
            var retry = new List<RowUpdate>();
            foreach (var row in todo)
            {
                var keyText = _dialect.CursorText(row.Key);
                if (done.Contains(keyText)) continue;
                var current = ReadOne(connection, transaction, target, row.Key);
                if (current is null) continue; // deleted or set to NULL by the application: nothing to do
                RowError? failure = null;
                if (string.Equals(current, row.OldValue, StringComparison.Ordinal))
                    failure = StoredText.Reason(ErrorIds.RowNotUpdated, nameof(Messages.RowReasonRowNotUpdated), target.KeyColumn, target.KeyType, target.ColumnType);
                else if (attempt >= ConflictRetries)
                    failure = StoredText.Reason(ErrorIds.ConcurrentUpdate, nameof(Messages.RowReasonConcurrentUpdate));
                if (failure is not null)
                {
                    tally.Errors++;
                    pendingErrors.Add((keyText, failure.ToString()));
                    observer.RowFailed(target.Name, keyText, failure);
                    continue;
                }
                switch (TransformOne(transformer, current, out var newValue, out var why))
                {
                    case RowOutcome.Reencrypted: retry.Add(new RowUpdate(row.Key, current, newValue!)); break;
                    case RowOutcome.AlreadyAtTarget: tally.Skipped++; break;
                    default:
                        tally.Errors++;
                        pendingErrors.Add((keyText, why!.ToString()));
                        observer.RowFailed(target.Name, keyText, why);
                        break;
                }
            }
            todo = retry;
        }
    }

    /// <summary>
    /// Best effort, on a new connection: the chunks this run's workers still hold go back to pending, and the job, unless
    /// other runners still work on it, is marked so that it does not claim to be running after its runner gave up.
    /// </summary>
    private bool MarkFailed(JobStore store, ColumnTarget target, long jobId, string[] owners, TimeSpan staleAfter, string message, JobStatus status = JobStatus.Failed)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            try
            {
                using var connection = Open(readOnly: false);
                using var transaction = _dialect.BeginWrite(connection);
                _dialect.LockTarget(connection, transaction, target.Name);
                var now = DateTime.UtcNow;
                var job = store.Get(connection, transaction, jobId);
                if (job is null || job.StatusKind != JobStatus.Running) return false;
                var chunks = store.Chunks.All(connection, transaction, jobId);
                foreach (var c in chunks.Where(c => c.Status == ChunkStatus.Running && owners.Contains(c.Owner)))
                    store.Chunks.Release(connection, transaction, jobId, c.Chunk, c.Owner!, now);
                if (OthersHolding(job, chunks, owners, now, staleAfter) > 0)
                {
                    transaction.Commit();
                    return false; // other runners go on with the job
                }
                store.SaveState(connection, transaction, new ReencryptJob(job) { StatusKind = status, UpdatedAt = now, Owner = owners[0], Message = message });
                transaction.Commit();
                return true;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(500);
            }
            catch (Exception)
            {
                return false;
            }
        }
    }

    private long Count(DbConnection connection, DbTransaction? transaction, ColumnTarget target)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _dialect.CountNonNull(target.Table, target.Column);
        command.CommandTimeout = 0; // a full count: longer than a default timeout on a large table
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private List<(object Key, string? Value)> ReadPage(DbConnection connection, DbTransaction? transaction, ColumnTarget target, object? after, object? high,
        int limit, CancellationToken cancellation)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _dialect.SelectChunkPage(target, limit, fromStart: after is null, toEnd: high is null);
        if (after is not null) _dialect.AddKeyParameter(command, "@after", after, target);
        if (high is not null) _dialect.AddKeyParameter(command, "@high", high, target);
        var page = new List<(object, string?)>(limit);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            cancellation.ThrowIfCancellationRequested();
            page.Add((_dialect.ReadKey(reader, 0), reader.GetValue(1) as string));
        }
        return page;
    }

    private string? ReadOne(DbConnection connection, DbTransaction transaction, ColumnTarget target, object key)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _dialect.SelectOne(target);
        _dialect.AddKeyParameter(command, "@key", key, target);
        return command.ExecuteScalar() as string;
    }

    private static ReencryptionProgress Snapshot(long jobId, string target, long total, long processed, long skipped, long errors, long runDone, TimeSpan elapsed)
    {
        var done = processed + skipped + errors;
        var rate = elapsed.TotalSeconds > 0 ? runDone / elapsed.TotalSeconds : 0;
        TimeSpan? left = rate > 0 && total > done ? TimeSpan.FromSeconds((total - done) / rate) : null;
        return new ReencryptionProgress(jobId, target, total, done, processed, skipped, errors, rate, left);
    }
}
