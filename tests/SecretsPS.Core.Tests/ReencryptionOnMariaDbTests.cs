using System.Globalization;
using MySqlConnector;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Every scenario of <see cref="ReencryptionEngineTests"/> on the collection's throwaway MariaDB (a fresh utf8mb4 database
/// with a case- and accent-insensitive collation per test), plus what MySQL makes different: collations that call
/// different texts equal, the update without RETURNING, its run lock, a session killed under the engine, a server
/// restarted or killed mid-run. Without MariaDB the tests fail, saying to install mariadb-server.
/// </summary>
[Collection("mariadb")]
public sealed class ReencryptionOnMariaDbTests : ReencryptionEngineTests
{
    private readonly MariaDbServer _server;

    public ReencryptionOnMariaDbTests(MariaDbServer server, ITestOutputHelper output)
        : base(output)
    {
        _server = server;
    }

    internal override TestDatabase NewDatabase() => new MySqlTestDatabase(_server);

    /// <summary>Binary collation: the shared tests' keys differ only in case (the case-insensitive ones are CompletenessOnMariaDbTests').</summary>
    internal override string TextKeyType => "varchar(200) COLLATE utf8mb4_bin PRIMARY KEY";

    internal override string PlainIntegerType => "bigint";

    protected override bool Unavailable()
    {
        _server.EnsureAvailable();
        return false;
    }

    private MySqlTestDatabase NewMySql() => (MySqlTestDatabase)NewDatabase();

    [Fact]
    public void A_runner_with_data_rights_only_reencrypts_once_the_job_tables_exist()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 50, _ => "v1");
        db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 10 }, new RecordingObserver(), CancellationToken.None);
        var user = "runner_" + Guid.NewGuid().ToString("N")[..12];
        db.Execute($"CREATE USER '{user}'@'%'");
        db.Execute($"GRANT SELECT, INSERT, UPDATE, DELETE ON \"{db.DatabaseName}\".* TO '{user}'@'%'");

        var job = db.Engine(keys.Ring, db.As(user)).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((40L, 10L, 0L), (job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, Standard, keys, expected, "v2");
        using var runner = new MySqlConnection(db.As(user));
        runner.Open();
        var refused = Assert.ThrowsAny<MySqlException>(() => TestDatabase.Execute(runner, null, "CREATE TABLE probe (i int)"));
        Output.WriteLine(refused.Message);
    }

    [Fact]
    public async Task Killing_the_engines_session_mid_run_is_retried_from_the_committed_cursor_and_the_same_run_finishes_with_no_row_lost_or_encrypted_twice()
    {
        Unavailable();
        const int rows = 10_000;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, rows, i => i % 97 == 0 ? null : "v1");
        long nonNull = expected.Count(e => e.Value is not null);
        Task<int>? killer = null;
        var observer = new RecordingObserver
        {
            OnProgress = (_, n) => { if (n == 5) killer = Task.Run(() => KillEngineSessions(db)); },
        };

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 100, commit: 300), observer, CancellationToken.None);

        Assert.NotNull(killer);
        Assert.True(await killer! >= 1, "no SecretsPS session was found to kill");
        var retried = observer.Infos.Where(m => m.Contains("Retrying from the last committed row", StringComparison.Ordinal)).ToList();
        foreach (var m in retried) Output.WriteLine(m);
        Assert.InRange(retried.Count, 1, ReencryptionEngine.TransientRetries);
        // One job, finished by the same invocation; rows of the batch the kill rolled back were written once, after it.
        Assert.Equal(job.Id, db.Jobs().Single().Id);
        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((nonNull, 0L, 0L), (job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void After_the_server_restarts_or_crashes_mid_run_Resume_in_the_same_process_continues_the_job(bool crash)
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 2000, _ => "v1");
        var observer = new RecordingObserver { OnProgress = (_, n) => { if (n == 3) _server.Stop(kill: crash); } };

        SecretsPSException failure;
        try
        {
            failure = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50), observer, CancellationToken.None));
        }
        finally
        {
            _server.Start();
        }

        Output.WriteLine($"{failure.ErrorId}: {failure.Message}");
        Assert.Equal("DatabaseUnavailable", failure.ErrorId);
        var left = db.Jobs().Single();
        Output.WriteLine($"job after the {(crash ? "crash" : "restart")}: {left.StatusKind}, heartbeat {left.UpdatedAt:O}, processed {left.Processed}: {left.Message}");

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 50, commit: 50) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((left.Id, JobStatus.Finished, 2000L), (job.Id, job.StatusKind, job.Processed));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void Preview_runs_in_a_read_only_session_and_leaves_every_CHECKSUM_TABLE_unchanged()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 40, _ => "v1");
        var paused = db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 10 }, new RecordingObserver(), CancellationToken.None);
        var before = db.Fingerprint(Standard);

        var preview = db.Engine(keys.Ring).Preview(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.Equal((40L, 30L, 10L), (preview.TotalRows, preview.WouldReencrypt, preview.AlreadyAtTarget));
        Assert.Equal(before, db.Fingerprint(Standard));
        Assert.Equal(JobStatus.Paused, db.Job(paused.Id)!.StatusKind);
        // The session itself refuses writes: a read-only connection of the dialect cannot update the table.
        using var readOnly = DatabaseConnection.Open(db.Dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: true);
        var write = Assert.ThrowsAny<MySqlException>(() => TestDatabase.Execute(readOnly, null, "UPDATE `secrets` SET `secret` = `secret`"));
        Output.WriteLine(write.Message);
    }

    /// <summary>
    /// The guard compares bytes: under utf8mb4_general_ci, 'abc' = 'ABC' = 'abc ' = 'àbc', and a guard in the column's
    /// collation would overwrite the application's change with the re-encryption of the old value.
    /// </summary>
    [Theory]
    [InlineData("case", "v1:ABC")]
    [InlineData("trailing space", "v1:abc ")]
    [InlineData("accent", "v1:àbc")]
    public void The_guard_refuses_a_value_the_collation_calls_equal_but_that_differs_by_one_byte(string what, string current)
    {
        Unavailable();
        using var db = NewMySql();
        db.Execute("CREATE TABLE g (id bigint PRIMARY KEY, secret varchar(100) COLLATE utf8mb4_general_ci, latin varchar(100) CHARACTER SET latin1)");
        db.Execute("INSERT INTO g VALUES (1, @p0, @p0), (2, 'v1:abc', 'v1:abc')", current);
        var dialect = db.Dialect;
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: false);
        foreach (var column in new[] { "secret", "latin" })
        {
            var target = ColumnTarget.Resolve(dialect, connection, "g", column, null);
            using var transaction = dialect.BeginWrite(connection);

            var written = dialect.UpdateGuarded(connection, transaction, target, [new RowUpdate("1", "v1:abc", "v2:new1"), new RowUpdate("2", "v1:abc", "v2:new2")]);

            transaction.Commit();
            Assert.True(written.SequenceEqual(["2"]), $"{what} in {column}: written {string.Join(",", written)}");
        }
        Assert.Equal(current, db.Scalar("SELECT secret FROM g WHERE id = 1"));
        Assert.Equal(current, db.Scalar("SELECT latin FROM g WHERE id = 1"));
        Assert.Equal("v2:new2", db.Scalar("SELECT secret FROM g WHERE id = 2"));
    }

    [Fact]
    public void The_rows_written_are_counted_exactly_in_batches_larger_than_one_statement_with_rows_changed_and_deleted_meanwhile()
    {
        Unavailable();
        using var db = NewMySql();
        db.Execute("CREATE TABLE g (id bigint PRIMARY KEY, secret text)");
        var rows = Enumerable.Range(1, MySqlDialect.RowsPerStatement * 2 + 7).Select(i => (Key: (object)(long)i, Value: (string?)$"v1:{i}")).ToList();
        db.Insert(new TestTable(null, "g", "id", "secret"), rows);
        db.Execute("UPDATE g SET secret = CONCAT(secret, 'x') WHERE id % 10 = 3");
        db.Execute("DELETE FROM g WHERE id % 10 = 7");
        var dialect = db.Dialect;
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: false);
        var target = ColumnTarget.Resolve(dialect, connection, "g", "secret", null);
        using var transaction = dialect.BeginWrite(connection);

        var written = dialect.UpdateGuarded(connection, transaction, target, rows.Select(r => new RowUpdate(dialect.CursorText(r.Key.ToString()!), r.Value!, "v2:" + r.Key)).ToList());
        transaction.Commit();

        var expected = rows.Select(r => (long)r.Key).Where(i => i % 10 is not 3 and not 7).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(expected, written.Cast<string>().ToList());
        Assert.Equal(expected.Count, db.Count("SELECT COUNT(*) FROM g WHERE secret LIKE 'v2:%'"));
    }

    [Fact]
    public void Names_with_backticks_and_a_decoy_table_that_differs_only_in_case_are_taken_exactly()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        var hostile = new TestTable(null, "us`ers; DROP TABLE x; --", "i`d", "sec`ret");
        var decoy = hostile with { Name = "US`ERS; DROP TABLE x; --" };
        var plainDecoy = new TestTable(null, "users", "id", "secret");
        db.Execute("CREATE TABLE x (id INTEGER)");
        foreach (var t in new[] { hostile, decoy, plainDecoy }) db.CreateTable(t, columnType: "varchar(500)");
        var expected = Seed(db, hostile, keys, 30, i => i % 7 == 0 ? null : "v1");
        var decoyExpected = Seed(db, decoy, keys, 10, _ => "v1");
        var plainExpected = Seed(db, plainDecoy, keys, 10, _ => "v1");

        var job = db.Engine(keys.Ring).Run(Options(hostile) with { KeyColumn = null }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((JobStatus.Finished, hostile.Name, hostile.Key), (job.StatusKind, job.Table, job.KeyColumn));
        AssertHolds(db, hostile, keys, expected, "v2");
        AssertHolds(db, decoy, keys, decoyExpected, "v1");
        AssertHolds(db, plainDecoy, keys, plainExpected, "v1");
        Assert.Contains(db.TableNames(), n => n.EndsWith(".x", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(65, false)]
    [InlineData(64, true)]
    public void A_name_longer_than_MySQL_keeps_is_refused_with_IdentifierInvalid_before_anything_is_written(int length, bool accepted)
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        var name = new string('t', length);
        if (accepted)
        {
            var table = new TestTable(null, name, "id", "secret");
            db.CreateTable(table);
            Seed(db, table, keys, 5, _ => "v1");
            Assert.Equal(JobStatus.Finished, db.Engine(keys.Ring).Run(Options(table), new RecordingObserver(), CancellationToken.None).StatusKind);
            return;
        }
        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = name, Column = "secret" }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("IdentifierInvalid", e.ErrorId);
        Assert.Contains("64", e.Message);
        Assert.Empty(db.TableNames());
        var emoji = Assert.Throws<SecretsPSException>(() => db.Dialect.Quote("key🔑"));
        Assert.Equal("IdentifierInvalid", emoji.ErrorId);
    }

    [Fact]
    public void Two_runs_claiming_the_same_target_at_once_start_one_job_and_the_lock_is_released_by_a_killed_client()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 200, _ => "v1");
        db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 1 }, new RecordingObserver(), CancellationToken.None);
        // A client that dies holding the claim's lock: its session ends, the server rolls back, and the lock is gone.
        var holder = new MySqlConnection(new MySqlConnectionStringBuilder(db.ConnectionString) { Pooling = false }.ConnectionString);
        holder.Open();
        var holding = holder.BeginTransaction();
        db.Dialect.CreateJobTables(new TableName(null, JobStore.DefaultTable), new TableName(null, "reencrypt_job_errors")).ToList();
        new MySqlDialect().LockTarget(holder, holding, "secrets.secret");
        KillSession(db, holder.ServerThread);

        var results = Enumerable.Range(0, 2).AsParallel().WithDegreeOfParallelism(2).Select(_ =>
        {
            try { return (Job: db.Engine(keys.Ring).Run(Options(Standard) with { Resume = true }, new RecordingObserver(), CancellationToken.None), Error: (string?)null); }
            catch (SecretsPSException e) { return (Job: (ReencryptJob?)null, Error: (string?)e.ErrorId); }
        }).ToList();

        Output.WriteLine(string.Join("; ", results.Select(r => r.Job is null ? r.Error : $"{r.Job.Id} {r.Job.Status}")));
        Assert.Single(db.Jobs());
        Assert.Contains(results, r => r.Job?.StatusKind == JobStatus.Finished);
        Assert.All(results, r => Assert.True(r.Job is not null || r.Error == "JobAlreadyRunning", r.Error));
        Assert.Equal(200L, db.Count("SELECT COUNT(*) FROM secrets WHERE secret LIKE 'v2:%'"));
    }

    [Fact]
    public void A_database_error_that_quotes_the_value_reaches_neither_the_exception_nor_the_job_row()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard, columnType: "varchar(500)");
        Seed(db, Standard, keys, 20, _ => "v1");
        // A trigger that fails with both values in its message, as an application's validation trigger might.
        db.Execute("CREATE TRIGGER refuse BEFORE UPDATE ON secrets FOR EACH ROW BEGIN DECLARE m VARCHAR(1000) DEFAULT CONCAT('refused ', OLD.secret, ' -> ', NEW.secret); " +
                   "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = m; END");
        var stored = db.Read(Standard).Values.OfType<string>().ToList();

        var error = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None));

        Output.WriteLine($"{error.ErrorId}: {error.Message}");
        Assert.Equal("DatabaseError", error.ErrorId);
        Assert.Contains("SQLSTATE 45000", error.Message);
        var job = db.Jobs().Single();
        Assert.Equal(JobStatus.Failed, job.StatusKind);
        foreach (var value in stored)
        {
            Assert.DoesNotContain(value[3..20], error.Message);
            Assert.DoesNotContain(value[3..20], job.Message ?? "");
        }
        Assert.DoesNotContain("refused", error.Message);
        Assert.Equal(stored, db.Read(Standard).Values.OfType<string>().ToList());
    }

    [Fact]
    public void The_independent_reader_reads_the_MariaDB_table_itself_and_refuses_a_value_under_another_version()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard, columnType: "varchar(500)");
        var expected = Seed(db, Standard, keys, 12, i => i == 5 ? null : "v1");

        var all = IndependentReader.ReadAll(db, Standard, keys, "v1");
        var refused = IndependentReader.Run(db, Standard, keys, "v2");

        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), all);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("expected 'v2'", refused.Error);
    }

    [Fact]
    public void A_connection_that_fails_says_what_failed_a_wrong_password_an_unknown_database_and_nothing_listening()
    {
        Unavailable();
        using var db = NewMySql();
        var user = "pw_" + Guid.NewGuid().ToString("N")[..12];
        db.Execute($"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-password'");
        db.Execute($"GRANT SELECT ON \"{db.DatabaseName}\".* TO '{user}'@'%'");
        var dialect = db.Dialect;
        ConnectionFailureKind Kind(string connectionString, DatabaseSignIn signIn, string errorId)
        {
            var e = Assert.Throws<SecretsPSException>(() => DatabaseConnection.Open(dialect, connectionString, signIn, readOnly: false).Dispose());
            Assert.Equal(errorId, e.ErrorId);
            Assert.DoesNotContain("wrong-password", e.Message);
            return dialect.ClassifyConnectionFailure(e.InnerException!);
        }
        var noPool = new MySqlConnectionStringBuilder(db.As(user)) { Pooling = false, ConnectionTimeout = 5 };

        Assert.Equal(ConnectionFailureKind.Authentication, Kind(noPool.ConnectionString, new DatabaseSignIn(null, "wrong-password", null), "DatabaseAuthenticationFailed"));
        Assert.Equal(ConnectionFailureKind.DatabaseMissing,
            Kind(new MySqlConnectionStringBuilder(db.ConnectionString) { Database = "no_such_db", Pooling = false }.ConnectionString, DatabaseSignIn.None, "DatabaseNotFound"));
        var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        // MySqlConnector reports every way of not reaching the host as error 1042, with no socket error inside: refused,
        // unknown host and timeout look alike, so nothing more precise than Unreachable can be said.
        Assert.Equal(ConnectionFailureKind.Unreachable,
            Kind(new MySqlConnectionStringBuilder(db.ConnectionString) { Port = (uint)port, Pooling = false, ConnectionTimeout = 5 }.ConnectionString, DatabaseSignIn.None, "DatabaseUnavailable"));
        using var right = DatabaseConnection.Open(dialect, noPool.ConnectionString, new DatabaseSignIn(null, "right-password", null), readOnly: false);
        Assert.Equal(System.Data.ConnectionState.Open, right.State);
    }

    [Fact]
    public void A_pooled_session_kept_without_reset_after_a_read_only_use_still_writes_for_a_run()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewMySql();
        db.CreateTable(Standard, columnType: "varchar(500)");
        var expected = Seed(db, Standard, keys, 20, _ => "v1");
        // One pool for both uses, and sessions handed on as they were left (no COM_RESET_CONNECTION).
        var pooled = new MySqlConnectionStringBuilder(db.ConnectionString) { ConnectionReset = false, MaximumPoolSize = 1 }.ConnectionString;

        var preview = db.Engine(keys.Ring, pooled).Preview(Options(Standard), new RecordingObserver(), CancellationToken.None);
        var job = db.Engine(keys.Ring, pooled).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.Equal(20L, preview.WouldReencrypt);
        Assert.Equal((JobStatus.Finished, 20L), (job.StatusKind, job.Processed));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    private static void KillSession(MySqlTestDatabase db, int id)
    {
        using var connection = db.Open();
        TestDatabase.Execute(connection, null, $"KILL CONNECTION {id.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>KILL CONNECTION for every session in this database but the killer's own: the engine's, and any idle pooled one.</summary>
    private static int KillEngineSessions(MySqlTestDatabase db)
    {
        using var connection = new MySqlConnection(new MySqlConnectionStringBuilder(db.ConnectionString) { Pooling = false }.ConnectionString);
        connection.Open();
        var ids = new List<long>();
        using (var command = new MySqlCommand("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()", connection))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read()) ids.Add(Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture));
        }
        foreach (var id in ids)
        {
            using var kill = new MySqlCommand($"KILL CONNECTION {id.ToString(CultureInfo.InvariantCulture)}", connection);
            try { kill.ExecuteNonQuery(); }
            catch (MySqlException) { /* gone meanwhile */ }
        }
        return ids.Count;
    }
}
