using System.Data.Common;
using System.Globalization;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// One job worked by many workers (issue #15): chunks that partition the key space, N workers in one process, runners
/// that join a running job, a chunk whose runner died taken over at its cursor, a job of an older version continued as
/// one chunk. Each scenario ends with the table read back by the independent reader: every row once, at the target.
/// </summary>
public abstract class ChunkedReencryptionTests
{
    private protected static readonly TestTable Standard = new(null, "secrets", "id", "secret");

    protected ChunkedReencryptionTests(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    internal abstract TestDatabase NewDatabase();

    protected abstract bool Unavailable();

    /// <summary>Workers one runner may start here (SQLite: one).</summary>
    protected virtual int Workers => 4;

    internal static ReencryptionOptions Options(TestTable table, int chunkRows, int batch = 50, int commit = 100) =>
        ReencryptionEngineTests.Options(table, batch, commit) with { ChunkRows = chunkRows };

    internal void AssertHolds(TestDatabase db, TestTable table, TestKeys keys, IReadOnlyDictionary<string, string?> expected, string? version) =>
        IndependentReader.AssertTableHolds(db, table, keys, expected, version, Output);

    internal static IReadOnlyList<ReencryptJobChunk> Chunks(TestDatabase db, long jobId)
    {
        using var connection = db.Open();
        return new JobStore(db.Dialect).Chunks.All(connection, null, jobId);
    }

    /// <summary>The job's counters are the sum of its chunks', and every row was settled exactly once: written, skipped or failed.</summary>
    internal static void AssertCountersAddUp(TestDatabase db, ReencryptJob job, long rows, long alreadyAtTarget)
    {
        var row = db.Job(job.Id)!;
        var chunks = Chunks(db, job.Id);
        Assert.All(chunks, c => Assert.Equal(ChunkStatus.Done, c.Status));
        Assert.Equal((row.Processed, row.Skipped, row.Errors), (chunks.Sum(c => c.Processed), chunks.Sum(c => c.Skipped), chunks.Sum(c => c.Errors)));
        Assert.Equal((rows - alreadyAtTarget, alreadyAtTarget, 0L), (row.Processed, row.Skipped, row.Errors));
    }

    [Fact]
    public void Runners_starting_at_once_where_the_chunk_table_is_missing_all_find_it_or_add_it()
    {
        if (Unavailable()) return;
        using var db = NewDatabase();
        for (int round = 0; round < 5; round++)
        {
            // The job and error tables exist without the chunk table: an older version's, or another runner's halfway through
            // creating all three. Every runner starting now adds the chunk table or finds it added; none is refused.
            using (var connection = db.Open())
            {
                var store = new JobStore(db.Dialect);
                store.EnsureTables(connection);
                TestDatabase.Execute(connection, null, $"DROP TABLE {db.Dialect.QuoteTable(store.ChunksTable)}");
            }
            using var start = new Barrier(Workers);
            var runners = Enumerable.Range(0, Workers).Select(_ => Task.Factory.StartNew(() =>
            {
                using var connection = db.Open();
                start.SignalAndWait();
                new JobStore(db.Dialect).EnsureTables(connection);
            }, TaskCreationOptions.LongRunning)).ToArray();
            Task.WaitAll(runners);
            using var check = db.Open();
            Assert.True(new JobStore(db.Dialect).ChunkTableExists(check));
        }
    }

    [Fact]
    public void While_the_finisher_counts_the_column_the_jobs_heartbeat_is_renewed_and_a_late_beat_leaves_an_ended_job_as_it_was()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        ReencryptionEngineTests.Seed(db, Standard, keys, 20, _ => "v1");
        var engine = db.Engine(keys.Ring);
        var job = engine.Run(Options(Standard, chunkRows: 100), new RecordingObserver(), CancellationToken.None);
        var store = new JobStore(db.Dialect);
        // The job as a finisher holds it while it counts: running, its last heartbeat older than -StaleAfter.
        var old = DateTime.UtcNow.AddMinutes(-30);
        Save(new ReencryptJob(db.Job(job.Id)!) { StatusKind = JobStatus.Running, UpdatedAt = old, FinishedAt = null, Owner = "elsewhere:1:w0-00000000" });

        const string finisher = "finisher:7:w0-0badcafe";
        using (engine.KeepAlive(store, job.Id, finisher, TimeSpan.FromSeconds(3)))
        {
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (db.Job(job.Id)!.Owner != finisher && DateTime.UtcNow < deadline) Thread.Sleep(100);
        }
        var beaten = db.Job(job.Id)!;
        Assert.Equal(finisher, beaten.Owner);
        Assert.True(beaten.UpdatedAt!.Value.UtcDateTime > DateTime.UtcNow.AddSeconds(-20), $"heartbeat {beaten.UpdatedAt:O}");
        Assert.False(JobStaleness.IsStale(beaten, DateTime.UtcNow, TimeSpan.FromMinutes(1), null));

        // A beat that arrives after the job ended changes nothing.
        var ended = new ReencryptJob(beaten) { StatusKind = JobStatus.Finished, UpdatedAt = old, FinishedAt = old, Owner = "elsewhere:1:w0-00000000" };
        Save(ended);
        using (var connection = db.Open())
        using (var transaction = db.Dialect.BeginWrite(connection))
        {
            store.Beat(connection, transaction, job.Id, finisher, DateTime.UtcNow);
            transaction.Commit();
        }
        var after = db.Job(job.Id)!;
        Assert.Equal((JobStatus.Finished, "elsewhere:1:w0-00000000"), (after.StatusKind, after.Owner));
        Assert.True(after.UpdatedAt!.Value.UtcDateTime < DateTime.UtcNow.AddMinutes(-20));

        void Save(ReencryptJob state)
        {
            using var connection = db.Open();
            using var transaction = db.Dialect.BeginWrite(connection);
            store.SaveState(connection, transaction, state);
            transaction.Commit();
        }
    }

    [Fact]
    public void A_job_of_many_rows_is_cut_into_chunks_in_the_transaction_that_creates_it_and_one_worker_finishes_them_all()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 1200, i => i % 50 == 0 ? null : i % 7 == 0 ? "v2" : "v1");
        long nonNull = expected.Count(e => e.Value is not null), atTarget = Enumerable.Range(1, 1200).Count(i => i % 50 != 0 && i % 7 == 0);

        var job = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 100), new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        var chunks = Chunks(db, job.Id);
        Assert.InRange(chunks.Count, 6, 12); // a ThrottleLimit 1 job still has chunks, for runners that join it later
        Assert.Null(chunks[0].LowKey);
        Assert.Null(chunks[^1].HighKey);
        Assert.All(chunks.Skip(1), c => Assert.Equal(chunks[c.Chunk - 1].HighKey, c.LowKey));
        Assert.Equal(chunks[^1].LastKey, db.Job(job.Id)!.LastKey); // one runner works the chunks in key order: the job's cursor is the last
        AssertCountersAddUp(db, job, nonNull, atTarget);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void Workers_in_one_process_finish_one_job_with_every_row_written_once()
    {
        if (Unavailable() || Workers == 1) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 3000, i => i % 97 == 0 ? null : i % 5 == 0 ? "v2" : "v1");
        long nonNull = expected.Count(e => e.Value is not null), atTarget = Enumerable.Range(1, 3000).Count(i => i % 97 != 0 && i % 5 == 0);
        var caller = Environment.CurrentManagedThreadId;
        var threads = new System.Collections.Concurrent.ConcurrentBag<int>();
        var observer = new RecordingObserver { OnProgress = (_, _) => threads.Add(Environment.CurrentManagedThreadId) };

        var job = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 250) with { ThrottleLimit = Workers }, observer, CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.All(threads, t => Assert.Equal(caller, t)); // the observer hears only on the caller's thread
        Assert.Equal(nonNull, observer.Progresses[^1].Done);
        var owners = Chunks(db, job.Id).Select(c => c.Owner).Distinct().ToList();
        Assert.All(owners, o => Assert.StartsWith(ReencryptionEngine.Owner + ":w", o));
        AssertCountersAddUp(db, job, nonNull, atTarget);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void Runners_that_join_at_the_same_time_make_one_job_and_write_every_row_once()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 2000, _ => "v1");
        var options = Options(Standard, chunkRows: 200, batch: 50, commit: 50) with { Join = true };
        // Each runner holds at its first page until the other two have joined, so that none can finish the job alone first.
        var joins = new CountdownEvent(2);
        var observers = Enumerable.Range(0, 3).Select(_ => new HoldingObserver(joins)).ToArray();

        var runs = observers.Select(o => Task.Run(() => db.Engine(keys.Ring).Run(options, o, CancellationToken.None))).ToArray();
        Task.WaitAll(runs);

        var job = Assert.Single(db.Jobs());
        Assert.All(runs, r => Assert.Equal(job.Id, r.Result.Id));
        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal(2, observers.Count(o => o.Joined));
        AssertCountersAddUp(db, job, 2000, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    /// <summary>Counts the runs that joined a job, and holds its run at its first page until <paramref name="joins"/> is set.</summary>
    private sealed class HoldingObserver(CountdownEvent joins) : IReencryptionObserver
    {
        private bool _held;

        public bool Joined { get; private set; }

        public void Progress(ReencryptionProgress progress)
        {
            if (_held) return;
            _held = true;
            Assert.True(joins.Wait(TimeSpan.FromSeconds(60)), "the other runners did not join");
        }

        public void RowFailed(string target, string rowKey, RowError error) { }

        public void Info(string message)
        {
            if (!message.StartsWith("Joining job", StringComparison.Ordinal) || Joined) return;
            Joined = true;
            joins.Signal();
        }
    }

    [Fact]
    public void A_stopped_runner_gives_its_chunks_back_at_their_cursors_and_Resume_finishes_the_job()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 1000, _ => "v1");
        var options = Options(Standard, chunkRows: 100, batch: 20, commit: 20) with { ThrottleLimit = Workers };

        var paused = db.Engine(keys.Ring).Run(options with { MaxRows = 300 }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Paused, paused.StatusKind);
        Assert.Equal(300L, paused.Processed);
        var chunks = Chunks(db, paused.Id);
        Assert.DoesNotContain(chunks, c => c.Status == ChunkStatus.Running);
        Assert.Equal(300L, chunks.Sum(c => c.Processed));
        var stored = db.Read(Standard);
        Assert.Equal(300, stored.Values.Count(v => v!.StartsWith("v2:", StringComparison.Ordinal)));

        var done = db.Engine(keys.Ring).Run(options with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((paused.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        AssertCountersAddUp(db, done, 1000, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_chunk_whose_runner_is_gone_is_taken_over_at_its_cursor_and_one_held_by_a_live_runner_is_left_to_it()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 600, _ => "v1");
        var options = Options(Standard, chunkRows: 100, batch: 10, commit: 10);
        var paused = db.Engine(keys.Ring).Run(options with { MaxRows = 30 }, new RecordingObserver(), CancellationToken.None);
        var first = Chunks(db, paused.Id)[0];
        Assert.Equal((ChunkStatus.Pending, "30", 30L), (first.Status, first.LastKey, first.Processed));

        // As a runner on another machine left them: chunk 0 half done and its heartbeat fresh, the job running.
        db.Execute("UPDATE reencrypt_job_chunks SET status = 'running', owner = 'another-host:4242:w0-0badcafe', updated_at = @p0 WHERE job_id = @p1 AND chunk = 0",
            DateTime.UtcNow, paused.Id);
        db.Execute("UPDATE reencrypt_jobs SET status = 'running', updated_at = @p0 WHERE id = @p1", DateTime.UtcNow, paused.Id);
        var refused = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None));
        Assert.Equal(ErrorIds.JobAlreadyRunning, refused.ErrorId);
        var byId = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(options with { JobId = paused.Id }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal(ErrorIds.JobAlreadyRunning, byId.ErrorId);

        // -Join with -JobId joins that job: its part done, it waits for the live runner's chunk, until Ctrl+C stops it.
        using var stop = new CancellationTokenSource();
        var observer = new RecordingObserver { OnInfo = i => { if (i.Contains("it waits for the job", StringComparison.Ordinal)) stop.Cancel(); } };
        var joined = db.Engine(keys.Ring).Run(options with { Join = true, JobId = paused.Id }, observer, stop.Token);

        Assert.Equal((paused.Id, JobStatus.Running), (joined.Id, joined.StatusKind)); // stopped while the live runner holds chunk 0: running, not paused
        Assert.Contains(observer.Infos, i => i.Contains("held by other runners go on", StringComparison.Ordinal));
        var chunks = Chunks(db, paused.Id);
        Assert.Equal(ChunkStatus.Running, chunks[0].Status);
        Assert.All(chunks.Skip(1), c => Assert.Equal(ChunkStatus.Done, c.Status));

        // The other runner's heartbeat grows old: the next runner looking for work takes its chunk over at its cursor.
        db.Execute("UPDATE reencrypt_job_chunks SET updated_at = @p0 WHERE job_id = @p1 AND chunk = 0", DateTime.UtcNow.AddHours(-1), paused.Id);
        var takeover = new RecordingObserver();
        var done = db.Engine(keys.Ring).Run(options with { Join = true, StaleAfter = TimeSpan.FromMinutes(5) }, takeover, CancellationToken.None);

        Assert.Equal((paused.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        Assert.Contains(takeover.Infos, i => i.Contains("taken over", StringComparison.Ordinal));
        AssertCountersAddUp(db, done, 600, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_worker_whose_chunk_was_taken_over_keeps_nothing_of_its_batch_and_goes_on_with_other_chunks()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 600, _ => "v1");
        var options = Options(Standard, chunkRows: 100, batch: 10, commit: 10);
        // At the second page (20 rows of chunk 0 committed), another host takes chunk 0 over, as if this worker looked stale.
        // Once its part is done the run waits for that host's chunk: Ctrl+C then.
        using var stop = new CancellationTokenSource();
        var observer = new RecordingObserver
        {
            OnInfo = i => { if (i.Contains("it waits for the job", StringComparison.Ordinal)) stop.Cancel(); },
            OnProgress = (_, n) =>
            {
                if (n != 2) return;
                db.Execute("UPDATE reencrypt_job_chunks SET owner = 'otherhost:1:w0-0badcafe', updated_at = @p0 WHERE chunk = 0", DateTime.UtcNow);
            },
        };

        var job = db.Engine(keys.Ring).Run(options, observer, stop.Token);

        Assert.Equal(JobStatus.Running, job.StatusKind); // its part is done; the other host holds chunk 0
        var chunks = Chunks(db, job.Id);
        var stolen = chunks[0];
        Assert.Equal((ChunkStatus.Running, "otherhost:1:w0-0badcafe", "20", 20L), (stolen.Status, stolen.Owner, stolen.LastKey, stolen.Processed));
        Assert.All(chunks.Skip(1), c => Assert.Equal(ChunkStatus.Done, c.Status));
        var stored = db.Read(Standard);
        // The batch in hand when the chunk was lost was rolled back: rows 21-100 are as they were.
        Assert.All(Enumerable.Range(1, 100), i => Assert.StartsWith(i <= 20 ? "v2:" : "v1:", stored[ReencryptionEngineTests.K(i)]));
        var row = db.Job(job.Id)!;
        Assert.Equal((chunks.Sum(c => c.Processed), 20L + 500L), (row.Processed, row.Processed));

        // The other host's heartbeat grows old: a -Join run takes chunk 0 over at its cursor and finishes the job.
        db.Execute("UPDATE reencrypt_job_chunks SET updated_at = @p0 WHERE chunk = 0", DateTime.UtcNow.AddHours(-1));
        var done = db.Engine(keys.Ring).Run(options with { Join = true, StaleAfter = TimeSpan.FromMinutes(5) }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((job.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        AssertCountersAddUp(db, done, 600, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void Ctrl_C_stops_every_worker_at_its_committed_cursor_and_an_exception_from_the_observer_too_and_Resume_finishes()
    {
        if (Unavailable() || Workers == 1) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 2000, _ => "v1");
        var options = Options(Standard, chunkRows: 100, batch: 10, commit: 30) with { ThrottleLimit = Workers };
        using var cancel = new CancellationTokenSource();

        var paused = db.Engine(keys.Ring).Run(options, new RecordingObserver { OnProgress = (_, n) => { if (n == 8) cancel.Cancel(); } }, cancel.Token);

        Assert.Equal(JobStatus.Paused, paused.StatusKind);
        AssertCommittedStateMatches(paused.Id);
        // The host stopping the pipeline: WriteProgress throws on the caller's thread while the workers write.
        Assert.Throws<OperationCanceledException>(() => db.Engine(keys.Ring).Run(options with { Resume = true },
            new RecordingObserver { OnProgress = (_, n) => { if (n == 6) throw new OperationCanceledException("the pipeline is stopping"); } }, CancellationToken.None));
        Assert.NotEqual(JobStatus.Running, db.Job(paused.Id)!.StatusKind);
        AssertCommittedStateMatches(paused.Id);

        var done = db.Engine(keys.Ring).Run(options with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((paused.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        AssertCountersAddUp(db, done, 2000, 0);
        AssertHolds(db, Standard, keys, expected, "v2");

        void AssertCommittedStateMatches(long jobId)
        {
            var chunks = Chunks(db, jobId);
            Assert.DoesNotContain(chunks, c => c.Status == ChunkStatus.Running); // every chunk given back
            var atTarget = db.Read(Standard).Values.Count(v => v!.StartsWith("v2:", StringComparison.Ordinal));
            Assert.Equal(atTarget, chunks.Sum(c => c.Processed)); // what is committed is exactly what the counters say
            Assert.Equal(atTarget, db.Job(jobId)!.Processed);
        }
    }

    [Fact]
    public void MaxErrors_counts_the_errors_of_the_whole_job_across_workers_and_fails_it_with_every_chunk_given_back()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        ReencryptionEngineTests.Seed(db, Standard, keys, 1000, _ => "v1");
        // Every 40th row holds plaintext (NotCiphertext): 25 row errors spread over the ten chunks, at most 3 in any one.
        db.Execute("UPDATE secrets SET secret = 'plain text' WHERE id % 40 = 0");
        var options = Options(Standard, chunkRows: 100, batch: 10, commit: 10) with { ThrottleLimit = Workers, MaxErrors = 5 };

        var job = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Failed, job.StatusKind);
        Assert.Equal("more than 5 row errors (-MaxErrors)", job.Message);
        var chunks = Chunks(db, job.Id);
        Assert.InRange(job.Errors, 6, 25); // more than 5 in all, though no chunk alone had more than 3
        Assert.Equal(job.Errors, chunks.Sum(c => c.Errors));
        Assert.DoesNotContain(chunks, c => c.Status == ChunkStatus.Running);
        Assert.Equal(job.Errors, db.JobErrors().Count);
    }

    [Fact]
    public void A_job_of_an_older_version_without_chunk_rows_is_resumed_as_one_chunk_from_its_cursor()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 200, _ => "v1");
        var paused = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 50_000) with { MaxRows = 70 }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Paused, "70"), (paused.StatusKind, paused.LastKey));
        db.Execute("DROP TABLE reencrypt_job_chunks"); // as an older version left the database

        var done = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 50) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((paused.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        var only = Assert.Single(Chunks(db, done.Id));
        Assert.Equal((null, null, "200"), (only.LowKey, only.HighKey, only.LastKey));
        AssertCountersAddUp(db, done, 200, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    /// <summary>Key sets of the provider's key types: (column type, n keys) pairs, each key as the inserted object.</summary>
    internal abstract IEnumerable<(string KeyType, Func<Random, int, List<object>> Keys)> KeySets();

    [Fact]
    public void Chunk_boundaries_partition_the_key_space_every_key_in_exactly_one_chunk_for_every_key_type_sampled_or_not()
    {
        if (Unavailable()) return;
        var random = new Random(15);
        using var db = NewDatabase();
        int tableNo = 0;
        foreach (var (keyType, generate) in KeySets())
        {
            for (int round = 0; round < 4; round++)
            {
                int n = random.Next(1, 900);
                var table = new TestTable(null, $"keys{tableNo++}", "k", "v");
                db.CreateTable(table, keyType + " PRIMARY KEY");
                var keys = generate(random, n);
                db.Insert(table, keys.Select(k => (k, (string?)"x")));
                using var connection = db.Open();
                var target = ColumnTarget.Resolve(db.Dialect, connection, table.Option, "v", null);
                int chunkRows = random.Next(1, 200);
                int sampleRows = round % 2 == 0 ? ChunkPlan.DefaultSampleRows : random.Next(1, 100);
                var boundaries = ChunkPlan.Boundaries(db.Dialect, connection, null, target, n, chunkRows, sampleRows);
                Assert.True(boundaries.Count < ChunkPlan.MaxChunks);

                var seen = new List<string>();
                for (int c = 0; c <= boundaries.Count; c++)
                {
                    using var command = connection.CreateCommand();
                    var low = c == 0 ? null : boundaries[c - 1];
                    var high = c == boundaries.Count ? null : boundaries[c];
                    command.CommandText = db.Dialect.SelectChunkPage(target, 100_000, fromStart: low is null, toEnd: high is null);
                    if (low is not null) db.Dialect.AddKeyParameter(command, "@after", db.Dialect.KeyFromCursor(low), target);
                    if (high is not null) db.Dialect.AddKeyParameter(command, "@high", db.Dialect.KeyFromCursor(high), target);
                    using var reader = command.ExecuteReader();
                    int inChunk = 0;
                    while (reader.Read())
                    {
                        seen.Add(db.Dialect.CursorText(db.Dialect.ReadKey(reader, 0)));
                        inChunk++;
                    }
                    Assert.True(inChunk > 0, $"{keyType}: chunk {c} of {boundaries.Count + 1} is empty (n {n}, chunk rows {chunkRows})");
                }
                Assert.Equal(n, seen.Count); // every key in one chunk: none twice, none missed
                Assert.Equal(n, seen.Distinct(StringComparer.Ordinal).Count());
            }
        }
    }

    internal static List<object> Distinct<T>(Random random, int n, Func<Random, T> next, IEqualityComparer<T>? comparer = null) where T : notnull
    {
        var set = new HashSet<T>(comparer);
        while (set.Count < n) set.Add(next(random));
        return set.Select(k => (object)k).ToList();
    }

    internal static string RandomText(Random random)
    {
        const string letters = "aAbBzZ09 -_éÉçß日";
        var chars = new char[random.Next(1, 12)];
        for (int i = 0; i < chars.Length; i++) chars[i] = letters[random.Next(letters.Length)];
        return new string(chars);
    }

    private const string OtherMachine = "otherhost:4242:w0-deadbeef";

    /// <summary>
    /// A job of 600 rows in chunks of 100, every chunk free but chunk 0, which a runner on another machine holds (30 rows
    /// committed, its heartbeat fresh), as that runner left it when it died a moment ago: the job running.
    /// </summary>
    private (ReencryptJob Job, IReadOnlyDictionary<string, string?> Expected, ReencryptionOptions Options) ChunkHeldOnAnotherMachine(TestDatabase db, TestKeys keys)
    {
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 600, _ => "v1");
        var options = Options(Standard, chunkRows: 100, batch: 10, commit: 10);
        var paused = db.Engine(keys.Ring).Run(options with { MaxRows = 30 }, new RecordingObserver(), CancellationToken.None);
        db.Execute("UPDATE reencrypt_job_chunks SET status = 'running', owner = @p0, updated_at = @p1 WHERE job_id = @p2 AND chunk = 0",
            OtherMachine, DateTime.UtcNow, paused.Id);
        db.Execute("UPDATE reencrypt_jobs SET status = 'running', owner = @p0, updated_at = @p1 WHERE id = @p2", OtherMachine, DateTime.UtcNow, paused.Id);
        return (paused, expected, options with { Join = true });
    }

    [Fact]
    public void A_run_whose_only_unfinished_chunk_is_held_on_another_machine_waits_takes_it_over_once_stale_and_finishes_the_job()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var (held, expected, options) = ChunkHeldOnAnotherMachine(db, keys);
        var caller = Environment.CurrentManagedThreadId;
        var threads = new System.Collections.Concurrent.ConcurrentBag<int>();
        var observer = new RecordingObserver { OnProgress = (_, _) => threads.Add(Environment.CurrentManagedThreadId) };

        var done = db.Engine(keys.Ring).Run(options with { ThrottleLimit = Workers, StaleAfter = TimeSpan.FromSeconds(3) }, observer, CancellationToken.None);

        Assert.Equal((held.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        Assert.Equal((JobStatus.Finished, done.Message), (db.Job(held.Id)!.StatusKind, db.Job(held.Id)!.Message));
        Assert.Single(observer.Infos, i => i.Contains("it waits for the job", StringComparison.Ordinal));
        Assert.Single(observer.Infos, i => i.Contains("taken over at its cursor from " + OtherMachine, StringComparison.Ordinal));
        Assert.All(threads, t => Assert.Equal(caller, t)); // the waiter reports on the caller's thread too
        var chunk0 = Chunks(db, held.Id)[0];
        Assert.StartsWith(ReencryptionEngine.Owner + ":w", chunk0.Owner);
        AssertCountersAddUp(db, done, 600, 0); // the other machine's 30 rows not written again: every row once
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_waiting_run_stopped_by_MaxDuration_returns_within_the_bound_and_leaves_the_job_running_for_the_runner_that_holds_a_chunk()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var (held, _, options) = ChunkHeldOnAnotherMachine(db, keys);
        var observer = new RecordingObserver();
        var bound = TimeSpan.FromSeconds(5);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var left = db.Engine(keys.Ring).Run(options with { StaleAfter = TimeSpan.FromMinutes(1), MaxDuration = bound }, observer, CancellationToken.None);

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, bound + TimeSpan.FromSeconds(3));
        Assert.Equal((held.Id, JobStatus.Running), (left.Id, left.StatusKind));
        Assert.Equal(JobStatus.Running, db.Job(held.Id)!.StatusKind); // never paused under the runner that holds chunk 0
        Assert.Contains(observer.Infos, i => i.Contains("it waits for the job", StringComparison.Ordinal));
        Assert.Contains(observer.Infos, i => i.Contains("held by other runners go on", StringComparison.Ordinal));
        var chunks = Chunks(db, held.Id);
        Assert.Equal((ChunkStatus.Running, OtherMachine, "30"), (chunks[0].Status, chunks[0].Owner, chunks[0].LastKey));
        Assert.All(chunks.Skip(1), c => Assert.Equal(ChunkStatus.Done, c.Status));
        var stored = db.Read(Standard);
        Assert.All(Enumerable.Range(31, 70), i => Assert.StartsWith("v1:", stored[ReencryptionEngineTests.K(i)])); // nothing of chunk 0 written
    }

    [Fact]
    public void A_waiting_run_returns_the_job_as_the_other_runner_finished_it_having_written_nothing_of_that_runners_chunk()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var (held, _, options) = ChunkHeldOnAnotherMachine(db, keys);
        const string theirs = "Re-encryption complete (written by the other runner).";
        // While this run waits, the other machine's runner finishes its chunk and proves the job.
        var observer = new RecordingObserver
        {
            OnInfo = i =>
            {
                if (!i.Contains("it waits for the job", StringComparison.Ordinal)) return;
                db.Execute("UPDATE reencrypt_job_chunks SET status = 'done', updated_at = @p0 WHERE job_id = @p1 AND chunk = 0", DateTime.UtcNow, held.Id);
                db.Execute("UPDATE reencrypt_jobs SET status = 'finished', finished_at = @p0, updated_at = @p0, message = @p1 WHERE id = @p2", DateTime.UtcNow, theirs, held.Id);
            },
        };

        var ended = db.Engine(keys.Ring).Run(options with { StaleAfter = TimeSpan.FromMinutes(1) }, observer, CancellationToken.None);

        Assert.Equal((held.Id, JobStatus.Finished, theirs), (ended.Id, ended.StatusKind, ended.Message));
        Assert.Contains(observer.Infos, i => i.Contains("was finished by another runner while this run waited: finished", StringComparison.Ordinal));
        var stored = db.Read(Standard);
        Assert.All(Enumerable.Range(31, 70), i => Assert.StartsWith("v1:", stored[ReencryptionEngineTests.K(i)]));
        Assert.Equal(OtherMachine, Chunks(db, held.Id)[0].Owner);
    }

    /// <summary>A finished job of 300 rows set back as its finisher left it when it died counting the column: every chunk done, running.</summary>
    private (ReencryptJob Job, IReadOnlyDictionary<string, string?> Expected) FinisherDiedMidProof(TestDatabase db, TestKeys keys, DateTime heartbeat)
    {
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, 300, _ => "v1");
        var job = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 100), new RecordingObserver(), CancellationToken.None);
        Assert.Equal(JobStatus.Finished, job.StatusKind);
        db.Execute("UPDATE reencrypt_jobs SET status = 'running', finished_at = NULL, message = NULL, owner = @p0, updated_at = @p1 WHERE id = @p2",
            OtherMachine, heartbeat, job.Id);
        return (job, expected);
    }

    private static bool IsProofTakenOver(string info) => info.Contains("is silent; this run counts the column", StringComparison.Ordinal);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_job_whose_finisher_died_mid_proof_is_proved_once_by_the_next_Join_or_Resume_run(bool join)
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var (job, expected) = FinisherDiedMidProof(db, keys, DateTime.UtcNow.AddHours(-1));
        var observer = new RecordingObserver();

        var done = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 100) with { Join = join, Resume = !join }, observer, CancellationToken.None);

        Assert.Equal((job.Id, JobStatus.Finished), (done.Id, done.StatusKind));
        Assert.Single(db.Jobs());
        Assert.Single(observer.Infos, IsProofTakenOver);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(db.Job(job.Id)!.Message!, "counted at finish:"));
        AssertCountersAddUp(db, done, 300, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void Runners_waiting_on_a_finisher_that_goes_silent_mid_proof_prove_the_job_once_between_them()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var (job, expected) = FinisherDiedMidProof(db, keys, DateTime.UtcNow);
        var options = Options(Standard, chunkRows: 100) with { Join = true, StaleAfter = TimeSpan.FromSeconds(3) };
        var observers = Enumerable.Range(0, 3).Select(_ => new RecordingObserver()).ToArray();

        var runs = observers.Select(o => Task.Run(() => db.Engine(keys.Ring).Run(options, o, CancellationToken.None))).ToArray();
        Task.WaitAll(runs);

        Assert.All(runs, r => Assert.Equal((job.Id, JobStatus.Finished), (r.Result.Id, r.Result.StatusKind)));
        Assert.All(observers, o => Assert.Contains(o.Infos, i => i.Contains("is counting the column to end the job", StringComparison.Ordinal)));
        var provers = observers.Where(o => o.Infos.Any(IsProofTakenOver)).ToList();
        Assert.Single(provers);
        Assert.All(observers.Except(provers), o => Assert.Contains(o.Infos, i => i.Contains("finished by another runner", StringComparison.Ordinal)));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(db.Job(job.Id)!.Message!, "counted at finish:"));
        AssertCountersAddUp(db, db.Job(job.Id)!, 300, 0);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_run_that_stops_while_a_live_finisher_counts_the_column_leaves_the_job_running_never_paused_under_it()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var (job, _) = FinisherDiedMidProof(db, keys, DateTime.UtcNow); // its heartbeat fresh: the finisher is alive
        var options = Options(Standard, chunkRows: 100) with { Join = true, StaleAfter = TimeSpan.FromMinutes(1) };

        var stopped = db.Engine(keys.Ring).Run(options with { MaxDuration = TimeSpan.FromSeconds(1) }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((job.Id, JobStatus.Running), (stopped.Id, stopped.StatusKind));
        // The host stopping the pipeline while the run waits: the observer throws on the caller's thread.
        Assert.Throws<OperationCanceledException>(() => db.Engine(keys.Ring).Run(options,
            new RecordingObserver { OnProgress = (_, _) => throw new OperationCanceledException("the pipeline is stopping") }, CancellationToken.None));

        var row = db.Job(job.Id)!;
        Assert.Equal((JobStatus.Running, OtherMachine), (row.StatusKind, row.Owner));
    }

    [Fact]
    public void A_waiting_run_looks_at_the_job_a_tenth_of_StaleAfter_apart_between_200_ms_and_2_seconds()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(300), ReencryptionEngine.WaitInterval(TimeSpan.FromSeconds(3)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), ReencryptionEngine.WaitInterval(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(TimeSpan.FromSeconds(2), ReencryptionEngine.WaitInterval(JobStaleness.DefaultStaleAfter));
    }
}

public sealed class ChunkedReencryptionOnSqliteTests : ChunkedReencryptionTests
{
    public ChunkedReencryptionOnSqliteTests(ITestOutputHelper output) : base(output) { }

    internal override TestDatabase NewDatabase() => new SqliteTestDatabase();

    protected override bool Unavailable() => false;

    protected override int Workers => 1;

    internal override IEnumerable<(string, Func<Random, int, List<object>>)> KeySets()
    {
        yield return ("INTEGER", (r, n) => Distinct(r, n, x => (long)x.Next(-1_000_000, 1_000_000)));
        yield return ("TEXT", (r, n) => Distinct(r, n, RandomText, StringComparer.Ordinal));
    }

    [Fact]
    public void ThrottleLimit_above_one_is_refused_on_SQLite_before_anything_is_written()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        ReencryptionEngineTests.Seed(db, Standard, keys, 20, _ => "v1");
        var before = db.Fingerprint(Standard);
        var options = Options(Standard, chunkRows: 5) with { ThrottleLimit = 2 };

        var run = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None));
        var preview = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Preview(options, new RecordingObserver(), CancellationToken.None));

        Assert.Equal(ErrorIds.ThrottleLimitNotSupported, run.ErrorId);
        Assert.Equal(ErrorIds.ThrottleLimitNotSupported, preview.ErrorId);
        Assert.Equal(before, db.Fingerprint(Standard));
        Assert.DoesNotContain("reencrypt_jobs", db.TableNames());
    }
}

[Collection("postgres")]
public sealed class ChunkedReencryptionOnPostgreSqlTests : ChunkedReencryptionTests
{
    private readonly PostgresServer _server;

    public ChunkedReencryptionOnPostgreSqlTests(PostgresServer server, ITestOutputHelper output) : base(output) => _server = server;

    internal override TestDatabase NewDatabase() => new PostgreSqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        if (_server.Available) return false;
        Output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    internal override IEnumerable<(string, Func<Random, int, List<object>>)> KeySets()
    {
        yield return ("integer", (r, n) => Distinct(r, n, x => x.Next(int.MinValue, int.MaxValue)));
        yield return ("bigint", (r, n) => Distinct(r, n, x => x.NextInt64(long.MinValue, long.MaxValue)));
        yield return ("text", (r, n) => Distinct(r, n, RandomText, StringComparer.Ordinal));
        yield return ("uuid", (r, n) => Distinct(r, n, x => { var b = new byte[16]; x.NextBytes(b); return new Guid(b); }));
        // Microseconds, as the column keeps them.
        yield return ("timestamp", (r, n) => Distinct(r, n, x => new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Unspecified).AddTicks(x.NextInt64(0, TimeSpan.TicksPerDay * 3000) / 10 * 10)));
    }

    [Fact]
    public void A_runner_with_data_rights_only_on_job_tables_of_an_older_version_is_told_which_table_is_missing_and_what_to_run()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        ReencryptionEngineTests.Seed(db, Standard, keys, 20, _ => "v1");
        db.Engine(keys.Ring).Run(ReencryptionEngineTests.Options(Standard) with { MaxRows = 5 }, new RecordingObserver(), CancellationToken.None);
        db.Execute("DROP TABLE reencrypt_job_chunks");
        var role = "runner_" + Guid.NewGuid().ToString("N")[..12];
        db.Execute($"CREATE ROLE {role} LOGIN");
        db.Execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
        db.Execute($"GRANT USAGE ON SCHEMA public TO {role}");
        db.Execute($"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}");
        var runner = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role }.ConnectionString;

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring, runner).Run(ReencryptionEngineTests.Options(Standard) with { Resume = true }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal(ErrorIds.JobChunkTableMissing, e.ErrorId);
        Assert.Contains("reencrypt_job_chunks", e.Message);
        Assert.Contains("CREATE TABLE IF NOT EXISTS", e.Message);
        Assert.Equal(JobStatus.Paused, db.Job(1)!.StatusKind); // nothing of the job was touched
    }
}

[Collection("mariadb")]
public sealed class ChunkedReencryptionOnMariaDbTests : ChunkedReencryptionTests
{
    private readonly MariaDbServer _server;

    public ChunkedReencryptionOnMariaDbTests(MariaDbServer server, ITestOutputHelper output) : base(output) => _server = server;

    internal override TestDatabase NewDatabase() => new MySqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        _server.EnsureAvailable();
        return false;
    }

    [Fact]
    public void The_claim_runs_with_SKIP_LOCKED_here_and_as_FOR_UPDATE_alone_as_servers_before_MariaDB_10_6_need()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        ReencryptionEngineTests.Seed(db, Standard, keys, 300, _ => "v1");
        var paused = db.Engine(keys.Ring).Run(Options(Standard, chunkRows: 100) with { MaxRows = 50 }, new RecordingObserver(), CancellationToken.None);
        using var connection = db.Open();
        Assert.True(db.Dialect.SkipsLockedRows(connection)); // MariaDB 10.11
        foreach (var skipLocked in new[] { true, false })
        {
            using var transaction = connection.BeginTransaction();
            using var command = TestDatabase.Command(connection, transaction,
                db.Dialect.SelectForClaim(new TableName(null, "reencrypt_job_chunks"), "chunk, status", "job_id = @p0 AND status <> 'done'", "chunk", skipLocked), paused.Id);
            using var reader = command.ExecuteReader();
            var claimable = new List<long>();
            while (reader.Read()) claimable.Add(Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture));
            Assert.Equal(new long[] { 0, 1, 2 }, claimable);
        }
    }

    internal override IEnumerable<(string, Func<Random, int, List<object>>)> KeySets()
    {
        yield return ("bigint", (r, n) => Distinct(r, n, x => x.NextInt64(long.MinValue, long.MaxValue)));
        // Case- and accent-insensitive: the keys are unique under the collation, and compared and ordered in it.
        yield return ("varchar(40) COLLATE utf8mb4_general_ci", (r, n) => Distinct(r, n, CaseMixed, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>Letters in both cases, digits and punctuation (no trailing space: PAD SPACE would make 'a' and 'a ' one key).</summary>
    private static string CaseMixed(Random random)
    {
        const string letters = "aAbBcCzZ09-_";
        var chars = new char[random.Next(1, 10)];
        for (int i = 0; i < chars.Length; i++) chars[i] = letters[random.Next(letters.Length)];
        return new string(chars);
    }
}
