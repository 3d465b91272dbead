using System.Data.Common;
using System.Diagnostics;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// Moves every value of a column to the target key version, online: keyset pages in key order, each row
/// written only if it still holds what was read (a concurrent write by the application wins and is
/// re-read), and the cursor and counters committed in the same transaction as the rows they describe —
/// so a run killed at any moment resumes without losing, skipping or double-encrypting a row.
/// </summary>
public sealed class ReencryptionEngine
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

    public static string Owner => $"{Environment.MachineName}:{Environment.ProcessId}";

    private DbConnection Open(bool readOnly) => DatabaseConnection.Open(_dialect, _connectionString, _signIn, readOnly);

    private SecretsPSException Unavailable(Exception e) =>
        DatabaseConnection.Failure(_dialect, _connectionString, e, Messages.ReencryptionDatabaseUnavailable);

    /// <summary>-WhatIf: reads and decrypts every value, writes nothing (read-only connection; no job row).</summary>
    public ReencryptionPreview Preview(ReencryptionOptions options, IReencryptionObserver observer, CancellationToken cancellation)
    {
        options.Validate();
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
            var page = ReadPage(connection, transaction, target, cursor, options.BatchSize, cancellation);
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
        options.Validate();
        var store = new JobStore(_dialect, options.JobTable);
        using var connection = Open(readOnly: false);
        ColumnTarget target;
        ReencryptJob job;
        try
        {
            target = ColumnTarget.Resolve(_dialect, connection, options.Table, options.Column, options.KeyColumn);
            store.EnsureTables(connection);
            job = Claim(connection, store, target, options, observer);
        }
        catch (DbException e) when (_dialect.IsConnectionFailure(e))
        {
            throw Unavailable(e);
        }

        lock (RunningHere) RunningHere.Add(RunKey(job.Id));
        try
        {
            return ProcessRetryingTransientFailures(connection, store, target, job, options, observer, cancellation);
        }
        catch (Exception e) when (e is DbException or IOException or InvalidOperationException or System.Net.Sockets.SocketException or TimeoutException)
        {
            var failed = MarkFailed(store, job.Id, _dialect.IsConnectionFailure(e)
                ? StoredText.Store(nameof(Messages.JobMessageConnectionLost))
                : StoredText.Store(nameof(Messages.JobMessageDatabaseError), e.GetType().Name));
            if (_dialect.IsConnectionFailure(e)) throw Unavailable(e);
            throw new SecretsPSException(ErrorIds.DatabaseError, ErrorKind.InvalidOperation,
                Localized.Format(Messages.JobDatabaseError, job.Id, DatabaseErrorText.Describe(e), failed ? "failed" : "running"),
                e, target.Name);
        }
        catch (Exception e)
        {
            // Whatever stopped the loop (the host stopping the pipeline, an error the caller turned terminating),
            // the uncommitted batch is rolled back and the job must not claim to be running.
            MarkFailed(store, job.Id, e is SecretsPSException s ? StoredText.Store(nameof(Messages.JobMessageFailedWith), s.ErrorId) : StoredText.Store(nameof(Messages.JobMessageInterrupted), e.GetType().Name),
                e is SecretsPSException ? JobStatus.Failed : JobStatus.Paused);
            throw;
        }
        finally
        {
            lock (RunningHere) RunningHere.Remove(RunKey(job.Id));
        }
    }

    /// <summary>How often one run continues after a transient database failure before it stops with the error.</summary>
    public const int TransientRetries = 3;

    /// <summary>The wait before each retry: 2, 4, 8 seconds (a failover of a managed database usually takes under 30).</summary>
    public static TimeSpan TransientRetryDelay(int attempt) => TimeSpan.FromSeconds(Math.Pow(2, attempt));

    /// <summary>
    /// Runs the job; when a transient failure stops it (the dialect says which: a lost connection, a failover, a
    /// throttled or deadlocked batch), the uncommitted batch is gone with its transaction, so the run waits, opens a
    /// new connection, takes the job back at its committed cursor and counters, and continues, a bounded number of
    /// times, telling the observer each time. Anything else, or a failure past the last retry, ends the run as before.
    /// </summary>
    private ReencryptJob ProcessRetryingTransientFailures(DbConnection connection, JobStore store, ColumnTarget target, ReencryptJob job,
        ReencryptionOptions options, IReencryptionObserver observer, CancellationToken cancellation)
    {
        var current = connection;
        var clock = Stopwatch.StartNew();
        var first = job;
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    var limits = options;
                    if (attempt > 0)
                    {
                        try { current = Open(readOnly: false); }
                        catch (SecretsPSException s) when (s.ErrorId == ErrorIds.DatabaseUnavailable && s.InnerException is { } lost)
                        {
                            throw Unavailable(lost); // the run's own message, which says to -Resume
                        }
                        job = TakeBack(current, store, target, job);
                        // -MaxDuration and -MaxRows bound the whole invocation, retries included.
                        long done = job.Processed + job.Skipped + job.Errors - (first.Processed + first.Skipped + first.Errors);
                        limits = options with
                        {
                            MaxDuration = options.MaxDuration is { } d ? (d > clock.Elapsed ? d - clock.Elapsed : TimeSpan.Zero) : null,
                            MaxRows = options.MaxRows is { } m ? Math.Max(0, m - done) : null,
                        };
                    }
                    return Process(current, store, target, job, limits, observer, cancellation);
                }
                catch (Exception e) when (attempt < TransientRetries && !cancellation.IsCancellationRequested && IsTransient(e))
                {
                    if (!ReferenceEquals(current, connection)) current.Dispose();
                    current = connection;
                    var delay = TransientRetryDelay(attempt + 1);
                    observer.Warning(Localized.Format(Messages.TransientFailureRetrying, job.Id, target.Name,
                        e is SecretsPSException s ? s.ErrorId : DatabaseErrorText.Describe(e), (int)delay.TotalSeconds, attempt + 1, TransientRetries));
                    if (cancellation.WaitHandle.WaitOne(delay)) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
                }
            }
        }
        finally
        {
            if (!ReferenceEquals(current, connection)) current.Dispose();
        }
    }

    private bool IsTransient(Exception e) => e switch
    {
        SecretsPSException s => s.ErrorId == ErrorIds.DatabaseUnavailable, // the new connection did not open (yet)
        DbException or IOException or InvalidOperationException or System.Net.Sockets.SocketException or TimeoutException => _dialect.IsTransient(e),
        _ => false,
    };

    /// <summary>
    /// The job as its last commit left it (the rows before its cursor written, its counters true), claimed again under
    /// the target's lock: if another runner took it over meanwhile (its heartbeat looked stale), this run stops.
    /// </summary>
    private ReencryptJob TakeBack(DbConnection connection, JobStore store, ColumnTarget target, ReencryptJob job)
    {
        using var transaction = _dialect.BeginWrite(connection);
        _dialect.LockTarget(connection, transaction, target.Name);
        var committed = store.Get(connection, transaction, job.Id);
        if (committed is null || committed.StatusKind != JobStatus.Running || committed.Owner != Owner)
            throw new SecretsPSException(ErrorIds.JobAlreadyRunning, ErrorKind.ResourceUnavailable,
                Localized.Format(Messages.JobAlreadyRunning, job.Id, committed?.Owner, committed?.UpdatedAt), target: target.Name);
        committed = new ReencryptJob(committed) { UpdatedAt = DateTime.UtcNow };
        store.Save(connection, transaction, committed);
        transaction.Commit();
        return committed;
    }

    /// <summary>Job ids are per database: the key includes where the job table is.</summary>
    private long RunKey(long jobId) => HashCode.Combine(_dialect.Describe(_connectionString), jobId);

    private ReencryptJob Claim(DbConnection connection, JobStore store, ColumnTarget target, ReencryptionOptions options, IReencryptionObserver observer)
    {
        using var transaction = _dialect.BeginWrite(connection);
        _dialect.LockTarget(connection, transaction, target.Name);
        var now = DateTime.UtcNow;
        _serverStarted = _dialect.ServerStartTime(connection, transaction);
        var jobs = store.ForTarget(connection, transaction, target.Table.ToString(), target.Column);
        var running = jobs.FirstOrDefault(j => j.StatusKind == JobStatus.Running && !IsStale(j, now, options.StaleAfter) && j.Id != options.JobId);
        if (running is not null)
            throw new SecretsPSException(ErrorIds.JobAlreadyRunning, ErrorKind.ResourceUnavailable,
                Localized.Format(Messages.JobAlreadyRunningOn, running.Id, target.Name, running.Owner, running.UpdatedAt),
                target: target.Name);

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
            if (resumed.StatusKind == JobStatus.Running && !IsStale(resumed, now, options.StaleAfter))
                throw new SecretsPSException(ErrorIds.JobAlreadyRunning, ErrorKind.ResourceUnavailable,
                    Localized.Format(Messages.JobAlreadyRunning, id, resumed.Owner, resumed.UpdatedAt), target: id.ToString());
        }
        else if (options.Resume)
        {
            // An incomplete job has ended like a finished one: running again is a new job, a new pass from the first row.
            resumed = jobs.FirstOrDefault(j => !j.StatusKind.HasEnded());
            if (resumed is null) observer.Info(Localized.Format(Messages.NoUnfinishedJob, target.Name));
            else RequireSameJob(resumed, target);
        }

        if (resumed is not null)
        {
            var job = new ReencryptJob(resumed)
            {
                StatusKind = JobStatus.Running,
                StartedAt = resumed.StartedAt ?? now,
                UpdatedAt = now,
                Owner = Owner,
                BatchSize = options.BatchSize,
                CommitEvery = options.CommitEvery,
                Message = resumed.LastKey is null ? StoredText.Store(nameof(Messages.JobMessageResumedAtStart)) : StoredText.Store(nameof(Messages.JobMessageResumedAtKey), resumed.LastKey),
            };
            store.Save(connection, transaction, job);
            transaction.Commit();
            observer.Info(resumed.LastKey is null ? Localized.Format(Messages.ResumingJobAtStart, job.Id, resumed.StatusKind.ToText(), target.Name) : Localized.Format(Messages.ResumingJobAtKey, job.Id, resumed.StatusKind.ToText(), target.Name, resumed.LastKey));
            return job;
        }

        var fresh = new ReencryptJob(0, target.Table.ToString(), target.Column, target.KeyColumn, _ring.Active.Name, JobStatus.Running,
            Count(connection, transaction, target), 0, 0, 0, null, options.BatchSize, options.CommitEvery, now, now, now, null, Owner, null);
        fresh = new ReencryptJob(fresh) { Id = store.Insert(connection, transaction, fresh) };
        transaction.Commit();
        observer.Info(Localized.Format(Messages.JobStarting, fresh.Id, fresh.TotalRows, target.Name, fresh.TargetVersion));
        // A run without -Resume or -JobId starts over; the unfinished jobs of the target stay as they were, and the
        // operator is told which, and how to continue or remove them, instead of finding them months later.
        var leftBehind = jobs.Where(j => !j.StatusKind.HasEnded()) // a running one is stale here: a live one was refused above
            .Select(j => j.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        if (leftBehind.Count > 0)
            observer.Warning(Localized.Format(Messages.UnfinishedJobsNotContinued, MessageText.List(leftBehind), target.Name, fresh.Id, string.Join(",", leftBehind.Take(20))));
        return fresh;
    }

    /// <summary>
    /// A job's identity is fixed (FORMATS.md §4a): its cursor is a position in one key column's order, and its rows
    /// before the cursor are at one version. Continuing it for another column, key or version would skip rows.
    /// </summary>
    private void RequireSameJob(ReencryptJob job, ColumnTarget target)
    {
        if (job.Table == target.Table.ToString() && job.Column == target.Column && job.KeyColumn == target.KeyColumn && job.TargetVersion == _ring.Active.Name)
            return;
        throw new SecretsPSException(ErrorIds.JobOptionsMismatch, ErrorKind.InvalidArgument,
            Localized.Format(Messages.JobOptionsMismatch, job.Id, job.Target, job.KeyColumn, job.TargetVersion, target.Name, target.KeyColumn, _ring.Active.Name),
            target: job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // Jobs this process is running right now; a job that names this process as owner but is not here was
    // left behind by a run that ended without being able to update it (a database restart).
    private static readonly HashSet<long> RunningHere = new();

    private DateTime? _serverStarted;

    private bool IsStale(ReencryptJob job, DateTime now, TimeSpan staleAfter) =>
        JobStaleness.IsStale(job, now, staleAfter, _serverStarted, () =>
        {
            lock (RunningHere) return RunningHere.Contains(RunKey(job.Id));
        });

    private ReencryptJob Process(DbConnection connection, JobStore store, ColumnTarget target, ReencryptJob job, ReencryptionOptions options,
        IReencryptionObserver observer, CancellationToken cancellation)
    {
        var version = _ring.Get(job.TargetVersion);
        var transformer = new ValueTransformer(_ring, version, options.EncryptPlaintext, target.MaxLength);
        var clock = Stopwatch.StartNew();
        long runDone = 0, runRead = 0, sinceCommit = 0;
        var updates = new List<RowUpdate>(options.BatchSize);
        var pendingErrors = new List<(string, string)>();
        DbTransaction? transaction = null;
        string? stopReason = null;
        using var transforming = new OverlapThread<TransformedPage>("SecretsPS re-encryption");
        bool inFlight = false;

        // Null when the run stops before this page or the column has no more rows.
        List<(object Key, string? Value)>? ReadNext(object? after)
        {
            if (cancellation.IsCancellationRequested) { stopReason = StoredText.Store(nameof(Messages.JobMessageStopped)); return null; }
            // Any time limit above zero gets at least one page done, however slow the start: a runbook whose limit is too
            // tight for a loaded machine still moves forward each time it runs.
            if (options.MaxDuration is { } d && clock.Elapsed >= d && (d == TimeSpan.Zero || runRead > 0)) { stopReason = StoredText.Store(nameof(Messages.JobMessageMaxDuration), d); return null; }
            if (options.MaxRows is { } m && runRead >= m) { stopReason = StoredText.Store(nameof(Messages.JobMessageMaxRows), m); return null; }
            int limit = options.MaxRows is { } mr ? (int)Math.Min(options.BatchSize, mr - runRead) : options.BatchSize;
            transaction ??= _dialect.BeginWrite(connection);
            List<(object Key, string? Value)> page;
            try
            {
                page = ReadPage(connection, transaction, target, after, limit, cancellation);
            }
            catch (Exception e) when (cancellation.IsCancellationRequested && e is OperationCanceledException or DbException)
            {
                stopReason = StoredText.Store(nameof(Messages.JobMessageStopped));
                return null;
            }
            runRead += page.Count;
            return page.Count == 0 ? null : page;
        }

        ReencryptJob FailOnErrors(long maxErrors)
        {
            transaction = Commit(connection, transaction, store, new ReencryptJob(job) { UpdatedAt = DateTime.UtcNow }, pendingErrors);
            return Finish(connection, store, job, JobStatus.Failed, StoredText.Store(nameof(Messages.JobMessageTooManyErrors), maxErrors));
        }

        try
        {
            if (options.MaxErrors is { } me0 && job.Errors > me0) return FailOnErrors(me0);

            // The database and the cores overlap: while page N is transformed on its own thread, the calling thread writes
            // page N−1 and reads page N+1, on the one connection and in the same transaction. Reading ahead of a write
            // is safe because every write is guarded by the value that was read; the cursor still moves only with the
            // rows written, in the commit that covers them, and the observer is only ever called from this thread.
            var page = ReadNext(job.LastKey is null ? null : _dialect.KeyFromCursor(job.LastKey));
            TransformedPage? ready = null;
            while (page is not null || ready is not null)
            {
                if (cancellation.IsCancellationRequested)
                {
                    // Ctrl+C or SIGTERM: what was written is committed below; a page read ahead is dropped unwritten,
                    // and the cursor stays before it.
                    stopReason = StoredText.Store(nameof(Messages.JobMessageStopped));
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
                    job = WritePage(connection, transaction ??= _dialect.BeginWrite(connection), target, transformer, ready, updates, job, pendingErrors, observer);
                    runDone += ready.Rows.Count;
                    sinceCommit += ready.Rows.Count;
                    if (options.MaxErrors is { } me && job.Errors > me)
                    {
                        // The page in flight is dropped unwritten: the cursor is at the last page written.
                        if (inFlight) transforming.Collect();
                        inFlight = false;
                        return FailOnErrors(me);
                    }

                    if (sinceCommit >= options.CommitEvery)
                    {
                        job = new ReencryptJob(job) { UpdatedAt = DateTime.UtcNow };
                        transaction = Commit(connection, transaction, store, job, pendingErrors);
                        sinceCommit = 0;
                    }
                    observer.Progress(Snapshot(job.Id, target.Name, job.TotalRows, job.Processed, job.Skipped, job.Errors, runDone, clock.Elapsed));
                    ready = null;
                }

                if (page is not null)
                {
                    page = ReadNext(page[^1].Key);
                    ready = transforming.Collect();
                    inFlight = false;
                }
            }

            job = new ReencryptJob(job) { UpdatedAt = DateTime.UtcNow };
            transaction = Commit(connection, transaction, store, job, pendingErrors);
            if (stopReason is null)
            {
                // Every row was read: now the database, not this run's counters, says whether the job is done.
                var proof = CompletionProof.Count(_dialect, connection, target, _ring, job.TargetVersion, cancellation);
                job = (proof.Complete, job.Errors == 0) switch
                {
                    (true, true) => Finish(connection, store, job, JobStatus.Finished, StoredText.Store(nameof(Messages.JobMessageComplete), proof.ToText())),
                    (true, false) => Finish(connection, store, job, JobStatus.Finished,
                        StoredText.Store(nameof(Messages.JobMessageCompleteWithErrors), job.Errors, proof.ToText())),
                    (false, true) => Finish(connection, store, job, JobStatus.Incomplete,
                        StoredText.Store(nameof(Messages.JobMessageIncomplete), proof.BelowTarget, job.TargetVersion, proof.OlderVersionsText, proof.ToText())),
                    (false, false) => Finish(connection, store, job, JobStatus.Incomplete,
                        StoredText.Store(nameof(Messages.JobMessageIncompleteWithErrors), job.Errors, proof.BelowTarget, job.TargetVersion, proof.OlderVersionsText, proof.ToText())),
                };
            }
            else
            {
                job = Finish(connection, store, job, JobStatus.Paused, stopReason);
            }
            observer.Progress(Snapshot(job.Id, target.Name, job.TotalRows, job.Processed, job.Skipped, job.Errors, runDone, clock.Elapsed));
            return job;
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

    /// <summary>A page read and transformed, in key order, waiting to be written.</summary>
    private sealed record TransformedPage(List<(object Key, string? Value)> Rows, (RowOutcome Outcome, string? NewValue, RowError? Error)[] Results);

    /// <summary>Counts a transformed page's skips and errors, writes its updates, and moves the cursor past it.</summary>
    private ReencryptJob WritePage(DbConnection connection, DbTransaction transaction, ColumnTarget target, ValueTransformer transformer,
        TransformedPage page, List<RowUpdate> updates, ReencryptJob job, List<(string, string)> pendingErrors, IReencryptionObserver observer)
    {
        updates.Clear();
        long pageSkipped = 0, pageErrors = 0; // counted here, applied to the job once per page
        for (int i = 0; i < page.Rows.Count; i++)
        {
            var (key, value) = page.Rows[i];
            var (outcome, newValue, reason) = page.Results[i];
            switch (outcome)
            {
                case RowOutcome.Reencrypted: updates.Add(new RowUpdate(key, value!, newValue!)); break;
                case RowOutcome.AlreadyAtTarget: pageSkipped++; break;
                default:
                    pageErrors++;
                    var keyText = _dialect.CursorText(key);
                    pendingErrors.Add((keyText, reason!.ToString()));
                    observer.RowFailed(target.Name, keyText, reason);
                    break;
            }
        }
        job = new ReencryptJob(job) { Skipped = job.Skipped + pageSkipped, Errors = job.Errors + pageErrors };
        job = Write(connection, transaction, target, transformer, updates, job, pendingErrors, observer);
        return new ReencryptJob(job) { LastKey = _dialect.CursorText(page.Rows[^1].Key) };
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
    private ReencryptJob Write(DbConnection connection, DbTransaction transaction, ColumnTarget target, ValueTransformer transformer,
        List<RowUpdate> updates, ReencryptJob job, List<(string, string)> pendingErrors, IReencryptionObserver observer)
    {
        var todo = updates;
        for (int attempt = 0; todo.Count > 0; attempt++)
        {
            var written = _dialect.UpdateGuarded(connection, transaction, target, todo);
            job = new ReencryptJob(job) { Processed = job.Processed + written.Count };
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
                    job = new ReencryptJob(job) { Errors = job.Errors + 1 };
                    pendingErrors.Add((keyText, failure.ToString()));
                    observer.RowFailed(target.Name, keyText, failure);
                    continue;
                }
                switch (TransformOne(transformer, current, out var newValue, out var why))
                {
                    case RowOutcome.Reencrypted: retry.Add(new RowUpdate(row.Key, current, newValue!)); break;
                    case RowOutcome.AlreadyAtTarget: job = new ReencryptJob(job) { Skipped = job.Skipped + 1 }; break;
                    default:
                        job = new ReencryptJob(job) { Errors = job.Errors + 1 };
                        pendingErrors.Add((keyText, why!.ToString()));
                        observer.RowFailed(target.Name, keyText, why);
                        break;
                }
            }
            todo = retry;
        }
        return job;
    }

    private DbTransaction? Commit(DbConnection connection, DbTransaction? transaction, JobStore store, ReencryptJob job, List<(string, string)> pendingErrors)
    {
        transaction ??= _dialect.BeginWrite(connection);
        store.AddErrors(connection, transaction, job.Id, pendingErrors, DateTime.UtcNow);
        store.Save(connection, transaction, job);
        transaction.Commit();
        transaction.Dispose();
        pendingErrors.Clear();
        return null;
    }

    private ReencryptJob Finish(DbConnection connection, JobStore store, ReencryptJob job, JobStatus status, string message)
    {
        var now = DateTime.UtcNow;
        job = new ReencryptJob(job)
        {
            StatusKind = status,
            UpdatedAt = now,
            FinishedAt = status.HasEnded() ? now : null,
            Message = message,
        };
        using var transaction = _dialect.BeginWrite(connection);
        store.Save(connection, transaction, job);
        transaction.Commit();
        return job;
    }

    /// <summary>Best effort, on a new connection: a job must not stay 'running' after its runner gave up.</summary>
    private bool MarkFailed(JobStore store, long jobId, string message, JobStatus status = JobStatus.Failed)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            try
            {
                using var connection = Open(readOnly: false);
                using var transaction = _dialect.BeginWrite(connection);
                var job = store.Get(connection, transaction, jobId);
                if (job is null || job.Owner != Owner) return false; // taken over by another runner meanwhile: its job now
                store.Save(connection, transaction, new ReencryptJob(job) { StatusKind = status, UpdatedAt = DateTime.UtcNow, Message = message });
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

    private List<(object Key, string? Value)> ReadPage(DbConnection connection, DbTransaction? transaction, ColumnTarget target, object? after, int limit,
        CancellationToken cancellation)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _dialect.SelectPage(target, limit, fromStart: after is null);
        if (after is not null) _dialect.AddKeyParameter(command, "@after", after, target);
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
