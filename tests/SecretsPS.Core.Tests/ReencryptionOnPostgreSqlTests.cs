using Npgsql;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Every scenario of <see cref="ReencryptionEngineTests"/> on the collection's throwaway PostgreSQL server
/// (a fresh database per test), plus what only PostgreSQL has here: schemas, uuid keys, and a backend
/// killed under the engine. Where the machine has no PostgreSQL the tests say NOT RUN and pass.
/// </summary>
[Collection("postgres")]
public sealed class ReencryptionOnPostgreSqlTests : ReencryptionEngineTests
{
    private readonly PostgresServer _server;

    public ReencryptionOnPostgreSqlTests(PostgresServer server, ITestOutputHelper output)
        : base(output)
    {
        _server = server;
    }

    internal override TestDatabase NewDatabase() => new PostgreSqlTestDatabase(_server);

    internal override string TextKeyType => "text PRIMARY KEY";

    internal override string PlainIntegerType => "bigint";

    protected override bool Unavailable()
    {
        if (_server.Available) return false;
        Output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    [Fact]
    public void A_runner_with_data_rights_only_reencrypts_once_the_job_tables_exist()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 50, _ => "v1");
        // The owner's first run creates the job tables (a DBA could as well); the scheduled runner may only read and write rows.
        db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 10 }, new RecordingObserver(), CancellationToken.None);
        var role = "runner_" + Guid.NewGuid().ToString("N")[..12];
        db.Execute($"CREATE ROLE {role} LOGIN");
        db.Execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
        db.Execute($"GRANT USAGE ON SCHEMA public TO {role}");
        db.Execute($"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}");
        db.Execute($"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}");
        var runner = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role }.ConnectionString;

        var job = db.Engine(keys.Ring, runner).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((40L, 10L, 0L), (job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public async Task Killing_the_engines_backend_mid_run_is_retried_from_the_committed_cursor_and_the_same_run_finishes_with_no_row_lost_or_encrypted_twice()
    {
        if (Unavailable()) return;
        const int rows = 20_000;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, rows, i => i % 97 == 0 ? null : "v1");
        long nonNull = expected.Count(e => e.Value is not null);
        Task<int>? killer = null;
        var observer = new RecordingObserver
        {
            // From a background thread while the engine carries on: the kill lands wherever the engine happens to be.
            OnProgress = (_, n) => { if (n == 5) killer = Task.Run(() => TerminateEngineBackends(db.ConnectionString)); },
        };

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 100, commit: 300), observer, CancellationToken.None);

        Output.WriteLine($"seed and run: {clock.ElapsedMilliseconds} ms");
        Assert.NotNull(killer);
        Assert.True(await killer! >= 1, "no SecretsPS backend was found to terminate");
        var retried = observer.Infos.Where(m => m.Contains("SQLSTATE 57P01", StringComparison.Ordinal)).ToList();
        foreach (var m in retried) Output.WriteLine(m);
        Assert.NotEmpty(retried);
        Assert.InRange(retried.Count, 1, ReencryptionEngine.TransientRetries);
        // One job, finished by the same invocation; rows of the batch the kill rolled back were written once, after it.
        Assert.Equal(job.Id, db.Jobs().Single().Id);
        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((nonNull, 0L, 0L), (job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_backend_killed_again_after_every_retry_stops_the_run_after_the_last_retry_and_Resume_finishes_with_no_row_lost()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 3000, i => i % 11 == 0 ? null : "v1");
        long nonNull = expected.Count(e => e.Value is not null);
        int kills = 0;
        // From the engine's own thread after every page: each attempt gets one page done, then loses its connection.
        var observer = new RecordingObserver { OnProgress = (_, _) => kills += TerminateEngineBackends(db.ConnectionString) };
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var failure = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50), observer, CancellationToken.None));

        Output.WriteLine($"{failure.ErrorId} after {clock.ElapsedMilliseconds} ms and {kills} kill(s): {failure.Message}");
        Assert.Equal("DatabaseUnavailable", failure.ErrorId);
        Assert.Equal(ReencryptionEngine.TransientRetries, observer.Infos.Count(m => m.Contains("SQLSTATE 57P01", StringComparison.Ordinal)));
        var stopped = db.Jobs().Single();
        Assert.Equal(JobStatus.Failed, stopped.StatusKind);
        // Each attempt committed its first page before it lost its connection: the cursor moved on, within bounds.
        Assert.InRange(stopped.Processed, 50, nonNull - 1);

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((stopped.Id, JobStatus.Finished), (job.Id, job.StatusKind));
        Assert.Equal((nonNull, 0L, 0L), (job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_retried_run_keeps_to_MaxRows_for_the_whole_invocation()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 1000, _ => "v1");
        bool killed = false;
        var observer = new RecordingObserver { OnProgress = (_, n) => { if (n == 2 && !killed) killed = TerminateEngineBackends(db.ConnectionString) > 0; } };

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50) with { MaxRows = 300 }, observer, CancellationToken.None);

        Assert.True(killed);
        Assert.Equal(JobStatus.Paused, job.StatusKind);
        Assert.InRange(job.Processed, 250, 300);
        job = db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50) with { Resume = true }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Finished, 1000L), (job.StatusKind, job.Processed));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void After_the_server_restarts_mid_run_Resume_in_the_same_process_continues_the_job()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 2000, _ => "v1");
        // Stopped from the engine's own thread: the run cannot finish its 2,000 rows before the server is gone.
        var observer = new RecordingObserver { OnProgress = (_, n) => { if (n == 3) _server.Stop(); } };

        SecretsPSException? failure;
        try
        {
            failure = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50), observer, CancellationToken.None));
        }
        finally
        {
            _server.Start(); // as the database comes back after a restart or a failover
        }

        Output.WriteLine($"{failure.ErrorId}: {failure.Message}");
        Assert.Equal("DatabaseUnavailable", failure.ErrorId);
        var left = db.Jobs().Single();
        Output.WriteLine($"job after the restart: {left.Status}, owner {left.Owner}, heartbeat {left.UpdatedAt:O}: {left.Message}");

        // What the error message says to do, in the same PowerShell session (same process), right away.
        ReencryptJob? job = null;
        SecretsPSException? refused = null;
        try
        {
            job = db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50) with { Resume = true }, new RecordingObserver(), CancellationToken.None);
        }
        catch (SecretsPSException e)
        {
            refused = e;
        }

        Assert.True(refused is null, $"Resume refused with {refused?.ErrorId}: {refused?.Message} (the job was left '{left.Status}')");
        Assert.Equal((left.Id, JobStatus.Finished, 2000L), (job!.Id, job.StatusKind, job.Processed));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_schema_qualified_table_is_reencrypted_and_the_same_name_in_public_is_left_alone()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var app = new TestTable("app", "users", "id", "secret");
        var publicUsers = new TestTable(null, "users", "id", "secret");
        db.CreateTable(app);
        db.CreateTable(publicUsers);
        var expected = Seed(db, app, keys, 50, i => i % 6 == 0 ? null : "v1");
        var untouched = Seed(db, publicUsers, keys, 20, _ => "v1");

        var job = db.Engine(keys.Ring).Run(Options(app) with { MaxRows = 20 }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Paused, "app.users"), (job.StatusKind, job.Table));
        job = db.Engine(keys.Ring).Run(Options(app) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((JobStatus.Finished, expected.Count(e => e.Value is not null), 0L), (job.StatusKind, job.Processed, job.Errors));
        Assert.Equal("id", job.KeyColumn);
        AssertHolds(db, app, keys, expected, "v2");
        AssertHolds(db, publicUsers, keys, untouched, "v1");
        var preview = db.Engine(keys.Ring).Preview(Options(app), new RecordingObserver(), CancellationToken.None);
        Assert.Equal(("app.users", 0L, (long)expected.Count(e => e.Value is not null)), (preview.Table, preview.WouldReencrypt, preview.AlreadyAtTarget));
    }

    [Fact]
    public void A_uuid_primary_key_is_found_and_used_as_the_cursor_across_pauses()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var table = new TestTable(null, "accounts", "account_id", "secret");
        db.CreateTable(table, keyType: "uuid PRIMARY KEY");
        var expected = Seed(db, table, keys, 60, i => i % 10 == 0 ? null : "v1", _ => Guid.NewGuid());

        int runs = 0;
        ReencryptJob job;
        do
        {
            job = db.Engine(keys.Ring).Run(Options(table, batch: 4, commit: 4) with { Resume = true, MaxRows = 10 }, new RecordingObserver(), CancellationToken.None);
            runs++;
            if (job.StatusKind == JobStatus.Paused) Assert.True(Guid.TryParse(job.LastKey, out _), $"cursor '{job.LastKey}' is not a uuid");
        }
        while (job.StatusKind == JobStatus.Paused && runs < 20);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal(("account_id", 54L, 0L, 0L), (job.KeyColumn, job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, table, keys, expected, "v2");
    }

    [Fact]
    public void Preview_runs_in_a_read_only_session_even_with_the_job_tables_present()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 40, _ => "v1");
        var paused = db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 10 }, new RecordingObserver(), CancellationToken.None);
        var before = db.Fingerprint(Standard);
        var jobs = db.Jobs();

        var preview = db.Engine(keys.Ring).Preview(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.Equal((40L, 30L, 10L), (preview.TotalRows, preview.WouldReencrypt, preview.AlreadyAtTarget));
        Assert.Equal(before, db.Fingerprint(Standard));
        // Every stored field of every job, unchanged (a job is a class: compared by what it holds).
        static object Row(ReencryptJob j) => (j.Id, j.StatusKind, j.TotalRows, j.Processed, j.Skipped, j.Errors, j.LastKey, j.UpdatedAt, j.FinishedAt, j.Owner, j.Message);
        Assert.Equal(jobs.Select(Row), db.Jobs().Select(Row));
        Assert.Equal(JobStatus.Paused, db.Job(paused.Id)!.StatusKind);
    }

    [Fact]
    public void A_database_error_that_quotes_the_value_reaches_neither_the_exception_nor_the_job_row()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 20, _ => "v1");
        // A trigger that fails with both values in its message, as an application's validation trigger might.
        db.Execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused % -> %', OLD.secret, NEW.secret; END $$ LANGUAGE plpgsql");
        db.Execute("CREATE TRIGGER refuse BEFORE UPDATE ON secrets FOR EACH ROW EXECUTE FUNCTION refuse()");
        var stored = db.Read(Standard).Values.OfType<string>().ToList();

        var error = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None));

        Output.WriteLine($"{error.ErrorId}: {error.Message}");
        Assert.Equal("DatabaseError", error.ErrorId);
        Assert.Contains("SQLSTATE P0001", error.Message);
        var job = db.Jobs().Single();
        foreach (var value in stored)
        {
            Assert.DoesNotContain(value[3..20], error.Message);
            Assert.DoesNotContain(value[3..20], job.Message ?? "");
        }
        Assert.DoesNotContain("refused", error.Message);
    }

    /// <summary>pg_terminate_backend for every session of this database whose application_name is SecretsPS (the engine's).</summary>
    private static int TerminateEngineBackends(string connectionString)
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "test-killer" }.ToString());
        connection.Open();
        using var command = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'SecretsPS' AND pid <> pg_backend_pid()",
            connection);
        return Convert.ToInt32(command.ExecuteScalar());
    }
}
