using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using Npgsql;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// FORMATS.md §4a, on real databases: a job says 'finished' only when the database, counted after the last page, holds no
/// value below the target; the cursor compares back exactly for every key type a dialect accepts (paused and resumed every
/// few rows, under a session time zone west of UTC); key and column types that cannot be handled exactly are refused before
/// anything is read or any job row written; a job's identity is fixed.
/// </summary>
public abstract class CompletenessTests
{
    protected CompletenessTests(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    internal abstract TestDatabase NewDatabase();

    protected abstract bool Unavailable();

    private static readonly TestTable Table = new(null, "secrets", "k", "secret");

    /// <summary>Runs with -MaxRows until the job ends, resuming each time (a runbook called over and over).</summary>
    internal static ReencryptJob RunInSlices(TestDatabase db, KeyRing ring, ReencryptionOptions options, string? connectionString = null, int maxRuns = 200)
    {
        ReencryptJob job = db.Engine(ring, connectionString).Run(options, new RecordingObserver(), CancellationToken.None);
        for (int i = 0; job.StatusKind == JobStatus.Paused && i < maxRuns; i++)
            job = db.Engine(ring, connectionString).Run(options with { Resume = true }, new RecordingObserver(), CancellationToken.None);
        return job;
    }

    /// <summary>Each key (as its SQL literal text) with a plaintext, inserted under v1; keys are cast in SQL, never by the client.</summary>
    internal static Dictionary<string, string> SeedLiterals(TestDatabase db, TestKeys keys, string keyType, IEnumerable<string> keyLiterals, string cast)
    {
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} ({TestDatabase.Q(Table.Key)} {keyType}, {TestDatabase.Q(Table.Column)} TEXT)");
        var plain = new Dictionary<string, string>(StringComparer.Ordinal);
        using var connection = db.Open();
        int n = 0;
        foreach (var literal in keyLiterals)
        {
            var text = "secret number " + n++;
            plain[literal] = text;
            TestDatabase.Execute(connection, null, $"INSERT INTO {TestDatabase.Q(Table)} VALUES ({string.Format(CultureInfo.InvariantCulture, cast, "@p0")}, @p1)",
                literal, keys.Ring.Protect(text, "v1"));
        }
        return plain;
    }

    /// <summary>Every value of the table is at <paramref name="version"/> and reads back its plaintext; the row count is unchanged.</summary>
    internal static void AssertAllAt(TestDatabase db, KeyRing ring, int rows, string version, ISet<string>? plaintexts = null)
    {
        using var connection = db.Open();
        using var command = TestDatabase.Command(connection, null, $"SELECT {TestDatabase.Q(Table.Column)} FROM {TestDatabase.Q(Table)}");
        using var reader = command.ExecuteReader();
        int seen = 0;
        while (reader.Read())
        {
            seen++;
            var value = reader.GetString(0);
            Assert.StartsWith(version + ":", value);
            var text = ring.UnprotectToString(value);
            if (plaintexts is not null) Assert.Contains(text, plaintexts);
        }
        Assert.Equal(rows, seen);
    }

    internal static void AssertNoJobTables(TestDatabase db) =>
        Assert.DoesNotContain(db.TableNames(), t => t.EndsWith("reencrypt_jobs", StringComparison.Ordinal) || t.EndsWith("reencrypt_job_errors", StringComparison.Ordinal));

    private static ReencryptionOptions Options(int batch = 3, int commit = 3, long? maxRows = 7) =>
        new() { Table = Table.Name, Column = Table.Column, BatchSize = batch, CommitEvery = commit, MaxRows = maxRows };

    /// <summary>The connection string the engine runs with.</summary>
    internal virtual string EngineConnection(TestDatabase db) => db.ConnectionString;

    internal void Key_type_pages_exactly(string keyType, string cast, string[] literals)
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var plain = SeedLiterals(db, keys, keyType, literals, cast);

        var job = RunInSlices(db, keys.Ring, Options(), EngineConnection(db));

        Assert.True(job.StatusKind == JobStatus.Finished, $"{keyType}: {job.StatusKind} {job.Message}");
        Assert.Equal((long)literals.Length, job.Processed);
        Assert.Equal(new Dictionary<string, long> { ["v2"] = literals.Length }, job.CountsAtFinish);
        AssertAllAt(db, keys.Ring, literals.Length, "v2", plain.Values.ToHashSet());
    }

    [Fact]
    public void A_key_column_that_is_the_encrypted_column_is_refused_before_anything_is_read()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} (id INTEGER PRIMARY KEY, secret TEXT)");
        db.Execute($"INSERT INTO {TestDatabase.Q(Table)} VALUES (1, @p0)", keys.Ring.Protect("x", "v1"));
        var before = db.Fingerprint(Table with { Key = "id" });

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(Options() with { KeyColumn = "secret" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("KeyColumnIsEncryptedColumn", e.ErrorId);
        Assert.Equal(before, db.Fingerprint(Table with { Key = "id" }));
        AssertNoJobTables(db);
        var preview = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Preview(Options() with { KeyColumn = "secret" }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("KeyColumnIsEncryptedColumn", preview.ErrorId);
    }

    [Fact]
    public void A_table_whose_primary_key_is_the_encrypted_column_is_refused()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} (secret {TextPrimaryKeyType})");
        db.Execute($"INSERT INTO {TestDatabase.Q(Table)} VALUES (@p0)", keys.Ring.Protect("x", "v1"));

        var e = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options(), new RecordingObserver(), CancellationToken.None));

        Assert.Equal("KeyColumnIsEncryptedColumn", e.ErrorId);
        AssertNoJobTables(db);
    }

    [Fact]
    public void Resume_with_another_key_column_is_refused_naming_both_and_the_jobs_own_key_column_finishes_it()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} (id INTEGER PRIMARY KEY, alt INTEGER NOT NULL UNIQUE, secret TEXT)");
        using (var connection = db.Open())
        {
            // alt runs the other way round: a cursor of one column is meaningless in the other's order.
            for (int i = 1; i <= 30; i++)
                TestDatabase.Execute(connection, null, $"INSERT INTO {TestDatabase.Q(Table)} VALUES (@p0, @p1, @p2)", (long)i, (long)(100 - i), keys.Ring.Protect("p" + i, "v1"));
        }
        var byAlt = Options() with { KeyColumn = "alt" };
        var paused = db.Engine(keys.Ring).Run(byAlt, new RecordingObserver(), CancellationToken.None);
        Assert.Equal(JobStatus.Paused, paused.StatusKind);

        var e = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options() with { Resume = true }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobOptionsMismatch", e.ErrorId);
        Assert.Contains("'alt'", e.Message);
        Assert.Contains("'id'", e.Message);
        var byId = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options() with { JobId = paused.Id }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobOptionsMismatch", byId.ErrorId);
        Assert.Equal(JobStatus.Paused, db.Job(paused.Id)!.StatusKind);

        var job = RunInSlices(db, keys.Ring, byAlt with { Resume = true });

        Assert.Equal((paused.Id, JobStatus.Finished), (job.Id, job.StatusKind));
        AssertAllAt(db, keys.Ring, 30, "v2");
    }

    [Fact]
    public void A_v1_value_written_behind_the_cursor_during_a_run_makes_the_job_incomplete_and_a_new_run_finishes()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} (k INTEGER PRIMARY KEY, secret TEXT)");
        using (var connection = db.Open())
        {
            for (int i = 10; i < 60; i++)
                TestDatabase.Execute(connection, null, $"INSERT INTO {TestDatabase.Q(Table)} VALUES (@p0, @p1)", (long)i, keys.Ring.Protect("p" + i, "v1"));
        }
        // An application instance that still has the old key file active inserts a row before the cursor mid-run.
        bool inserted = false;
        var observer = new RecordingObserver
        {
            OnProgress = (_, n) =>
            {
                if (n != 3 || inserted) return;
                inserted = true;
                using var app = db.OpenApplication(30);
                TestDatabase.Execute(app, null, $"INSERT INTO {TestDatabase.Q(Table)} VALUES (@p0, @p1)", 1L, keys.Ring.Protect("late", "v1"));
            },
        };

        var job = db.Engine(keys.Ring).Run(Options(batch: 5, commit: 5, maxRows: null), observer, CancellationToken.None);

        Assert.True(inserted);
        Assert.Equal(JobStatus.Incomplete, job.StatusKind);
        Assert.Equal(new Dictionary<string, long> { ["v1"] = 1, ["v2"] = 50 }, job.CountsAtFinish);
        Assert.Contains("1 value(s) below 'v2'", job.Message);
        Assert.NotNull(job.FinishedAt);
        Assert.Equal(JobStatus.Incomplete, db.Job(job.Id)!.StatusKind);
        var error = CompletionProof.IncompleteError(job, keys.Ring);
        Assert.Equal("ReencryptionIncomplete", error!.ErrorId);
        Assert.DoesNotContain("late", error.Message);

        // An incomplete job has ended: -Resume starts a new job, a new pass from the first row.
        var again = db.Engine(keys.Ring).Run(Options(maxRows: null) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.NotEqual(job.Id, again.Id);
        Assert.Equal(JobStatus.Finished, again.StatusKind);
        Assert.Equal((1L, 50L), (again.Processed, again.Skipped));
        AssertAllAt(db, keys.Ring, 51, "v2");
        Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(Options() with { JobId = job.Id }, new RecordingObserver(), CancellationToken.None));
    }

    [Fact]
    public void A_file_from_the_original_CLI_with_a_version_added_by_hand_moves_every_value_to_that_version()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        // v2 added by hand, as the original CLI writes versions: no ENCRYPTION_CREATED line; active v2.
        var key = RandomNumberGenerator.GetBytes(32);
        var salt = RandomNumberGenerator.GetBytes(16);
        var text = File.ReadAllText(keys.Path).Replace("ACTIVE_ENCRYPTION_VERSION=\"v1\"", "ACTIVE_ENCRYPTION_VERSION=\"v2\"");
        text += $"ENCRYPTION_KEYS__v2=\"{Convert.ToBase64String(key)}\"\nENCRYPTION_SALT__v2=\"{Convert.ToBase64String(salt)}\"\n" +
                $"ENCRYPTION_SALT_HASH__v2=\"{Convert.ToHexString(SHA256.HashData(salt)).ToLowerInvariant()}\"\n";
        File.WriteAllText(keys.Path, text);
        Assert.Contains("ENCRYPTION_CREATED__v1", text);
        using var mixed = KeyConfiguration.Load(keys.Path, KeyFileFixture.NoEnvironment);
        Assert.Equal("v2", mixed.Ring.Active.Name);
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} (k INTEGER PRIMARY KEY, secret TEXT)");
        using (var connection = db.Open())
        {
            for (int i = 1; i <= 20; i++)
                TestDatabase.Execute(connection, null, $"INSERT INTO {TestDatabase.Q(Table)} VALUES (@p0, @p1)", (long)i, mixed.Ring.Protect("p" + i, "v1"));
        }

        var job = db.Engine(mixed.Ring).Run(Options(maxRows: null), new RecordingObserver(), CancellationToken.None);

        Assert.Equal((JobStatus.Finished, 20L, 0L), (job.StatusKind, job.Processed, job.Skipped));
        AssertAllAt(db, mixed.Ring, 20, "v2");
    }

    /// <summary>A text column declared as the primary key (MySQL indexes TEXT only with a prefix length: there, VARCHAR).</summary>
    internal virtual string TextPrimaryKeyType => "TEXT PRIMARY KEY";
}

public sealed class CompletenessOnSqliteTests : CompletenessTests
{
    public CompletenessOnSqliteTests(ITestOutputHelper output) : base(output) { }

    internal override TestDatabase NewDatabase() => new SqliteTestDatabase();

    protected override bool Unavailable() => false;

    private static string[] Range(int n, Func<int, string> f) => Enumerable.Range(0, n).Select(f).ToArray();

    [Theory]
    [InlineData("INTEGER PRIMARY KEY", "CAST({0} AS INTEGER)")]
    [InlineData("REAL PRIMARY KEY", "CAST({0} AS REAL)")]
    [InlineData("TEXT PRIMARY KEY", "{0}")]
    [InlineData("TEXT COLLATE NOCASE PRIMARY KEY", "{0}")]
    [InlineData("DATETIME PRIMARY KEY", "{0}")]
    [InlineData("NUMERIC(10,2) PRIMARY KEY", "{0}")]
    public void Every_SQLite_key_type_pages_exactly_through_pauses(string keyType, string cast)
    {
        var literals = keyType switch
        {
            _ when keyType.StartsWith("INTEGER", StringComparison.Ordinal) => Range(40, i => ((i - 20) * 1_000_000_007L).ToString(CultureInfo.InvariantCulture)),
            _ when keyType.StartsWith("REAL", StringComparison.Ordinal) => Range(40, i => (0.1 * i + 1e-9 * i).ToString("R", CultureInfo.InvariantCulture)),
            _ when keyType.Contains("NOCASE", StringComparison.Ordinal) => Range(40, i => (i % 2 == 0 ? "Key" : "kEY") + i.ToString("00", CultureInfo.InvariantCulture)),
            _ when keyType.StartsWith("DATETIME", StringComparison.Ordinal) => Range(40, i => new DateTime(2024, 3, 10, 2, 30, 0).AddTicks(i * 1234567L).ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture)),
            _ when keyType.StartsWith("NUMERIC", StringComparison.Ordinal) => Range(40, i => (i * 1.25m).ToString(CultureInfo.InvariantCulture)),
            _ => Range(40, i => "key 'quoted' " + i.ToString("00", CultureInfo.InvariantCulture) + " ✓"),
        };
        Key_type_pages_exactly(keyType, cast, literals);
    }

    /// <summary>A column without a declared type may hold integers, reals, texts and blobs side by side: 1 and '1' are two keys.</summary>
    [Fact]
    public void An_untyped_SQLite_key_with_integers_reals_texts_and_blobs_pages_exactly_through_pauses()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE \"secrets\" (\"k\" NOT NULL UNIQUE, \"secret\" TEXT)");
        object[] values = [1L, "1", 2.5, "2.5", -1e10, "a", "A", "b'c", new byte[] { 0, 255 }, new byte[] { 1 }, 3L, 0.1 + 0.2, "", 9_007_199_254_740_993L];
        using (var connection = db.Open())
        {
            foreach (var (v, i) in values.Select((v, i) => (v, i)))
                TestDatabase.Execute(connection, null, "INSERT INTO \"secrets\" VALUES (@p0, @p1)", v, keys.Ring.Protect("p" + i, "v1"));
        }

        var job = RunInSlices(db, keys.Ring, new ReencryptionOptions { Table = "secrets", Column = "secret", KeyColumn = "k", BatchSize = 2, CommitEvery = 2, MaxRows = 3 });

        Assert.Equal((JobStatus.Finished, (long)values.Length), (job.StatusKind, job.Processed));
        AssertAllAt(db, keys.Ring, values.Length, "v2");
    }

    [Theory]
    [InlineData("BLOB")]
    [InlineData("INTEGER")]
    [InlineData("REAL")]
    [InlineData("NUMERIC")]
    public void A_SQLite_column_that_does_not_hold_text_is_refused_before_any_job_row(string columnType)
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE \"secrets\" (\"k\" INTEGER PRIMARY KEY, \"secret\" {columnType})");
        db.Execute("INSERT INTO \"secrets\" VALUES (1, @p0)", keys.Ring.Protect("x", "v1"));

        var e = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("ColumnTypeUnsupported", e.ErrorId);
        Assert.Contains(columnType, e.Message);
        AssertNoJobTables(db);
    }

    [Fact]
    public void A_key_column_named_like_the_encrypted_column_in_another_case_is_the_same_column_in_SQLite()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE \"secrets\" (\"k\" INTEGER PRIMARY KEY, \"secret\" TEXT UNIQUE)");

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", KeyColumn = "SECRET" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("KeyColumnIsEncryptedColumn", e.ErrorId);
    }

    [Fact]
    public void A_non_text_value_in_an_untyped_SQLite_column_is_a_row_error_and_the_rest_finishes()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE \"secrets\" (\"k\" INTEGER PRIMARY KEY, \"secret\")");
        db.Execute("INSERT INTO \"secrets\" VALUES (1, @p0), (2, 42), (3, X'0102'), (4, @p1)", keys.Ring.Protect("a", "v1"), keys.Ring.Protect("b", "v1"));

        var observer = new RecordingObserver();
        var job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret" }, observer, CancellationToken.None);

        Assert.Equal((JobStatus.Finished, 2L, 2L), (job.StatusKind, job.Processed, job.Errors));
        Assert.All(observer.Failures, f => Assert.StartsWith("ValueNotText", f.Reason));
    }
}

[Collection("postgres")]
public sealed class CompletenessOnPostgreSqlTests : CompletenessTests
{
    private readonly PostgresServer _server;

    public CompletenessOnPostgreSqlTests(PostgresServer server, ITestOutputHelper output) : base(output) => _server = server;

    internal override TestDatabase NewDatabase() => new PostgreSqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        if (_server.Available) return false;
        Output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    private static string[] Range(int n, Func<int, string> f) => Enumerable.Range(0, n).Select(f).ToArray();

    /// <summary>The engine's connection: a session zone west of UTC (the issue's example), and no pool left behind.</summary>
    internal override string EngineConnection(TestDatabase db) => SaoPaulo(db);

    private static string SaoPaulo(TestDatabase db) =>
        new NpgsqlConnectionStringBuilder(db.ConnectionString) { Timezone = "America/Sao_Paulo", Pooling = false }.ConnectionString;

    public static TheoryData<string> PostgreSqlKeyTypes => new()
    {
        "smallint", "integer", "bigint", "numeric(38,12)", "real", "double precision", "text", "varchar(40)", "char(12)",
        "uuid", "date", "timestamp(6)", "timestamptz", "time(6)", "text collate \"C\"",
    };

    [Theory]
    [MemberData(nameof(PostgreSqlKeyTypes))]
    public void Every_PostgreSQL_key_type_pages_exactly_through_pauses_under_a_zone_west_of_UTC(string keyType)
    {
        if (Unavailable()) return;
        var start = new DateTime(2024, 11, 3, 1, 30, 0); // near a DST change in the Americas
        var (declared, literals) = keyType switch
        {
            "smallint" => (keyType, Range(40, i => (i * 37 - 700).ToString(CultureInfo.InvariantCulture))),
            "integer" or "bigint" => (keyType, Range(40, i => ((i - 20) * 100_000_007L).ToString(CultureInfo.InvariantCulture))),
            "numeric(38,12)" => (keyType, Range(40, i => "12345678901234567890123." + (i * 7919).ToString("000000000000", CultureInfo.InvariantCulture))),
            "real" => (keyType, Range(40, i => (0.1f * i + 1e-7f).ToString("R", CultureInfo.InvariantCulture))),
            "double precision" => (keyType, Range(40, i => (0.1 * i + 1e-15 * i).ToString("R", CultureInfo.InvariantCulture))),
            "uuid" => (keyType, Range(40, i => new Guid(i * 7919, (short)i, (short)-i, [1, 2, 3, 4, 5, 6, 7, (byte)i]).ToString())),
            "date" => (keyType, Range(40, i => new DateTime(2024, 1, 1).AddDays(i * 3).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))),
            "timestamp(6)" => (keyType, Range(40, i => start.AddTicks(i * 12_345_670L).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture))),
            "timestamptz" => (keyType, Range(40, i => start.AddTicks(i * 3_600_000_0010L).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00")),
            "time(6)" => (keyType, Range(40, i => TimeSpan.FromTicks(i * 12_345_670L).ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture))),
            "char(12)" => (keyType, Range(40, i => "k" + i.ToString(CultureInfo.InvariantCulture))),
            "text collate \"C\"" => (keyType, Range(40, i => (i % 2 == 0 ? "Key " : "kEY ") + i.ToString("00", CultureInfo.InvariantCulture))),
            _ => (keyType, Range(40, i => "key 'quoted' " + i.ToString("00", CultureInfo.InvariantCulture) + " ✓")),
        };
        Key_type_pages_exactly(declared + " PRIMARY KEY", $"CAST({{0}} AS {declared.Replace(" collate \"C\"", "")})", literals);
    }

    [Fact]
    public void A_timestamptz_key_paused_and_resumed_under_Sao_Paulo_time_finishes_with_every_row_at_the_target()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var start = new DateTime(2024, 2, 17, 23, 0, 0); // the end of Brazilian summer time was near here in older years
        var literals = Range(60, i => start.AddTicks(i * 9_876_543L).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "-03");
        var plain = SeedLiterals(db, keys, "timestamptz PRIMARY KEY", literals, "CAST({0} AS timestamptz)");

        var job = RunInSlices(db, keys.Ring, new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 4, CommitEvery = 4, MaxRows = 9 }, SaoPaulo(db));

        Assert.Equal((JobStatus.Finished, 60L), (job.StatusKind, job.Processed));
        AssertAllAt(db, keys.Ring, 60, "v2", plain.Values.ToHashSet());
    }

    [Fact]
    public void An_encrypted_column_under_a_case_insensitive_collation_is_counted_by_its_exact_prefixes_and_finished_truthfully()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        try { db.Execute("CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"); }
        catch (PostgresException e)
        {
            Output.WriteLine("NOT RUN: no ICU collations on this server: " + e.MessageText);
            return;
        }
        db.Execute("CREATE TABLE secrets (id int PRIMARY KEY, secret text COLLATE ci)");
        // Six readable values at v1, and one whose prefix differs only in case: "V1" is no version of the key file, so the
        // application cannot read it. Grouped under the column's collation the two prefixes would be one count, under
        // whichever spelling the server picked: the readable v1 values could be counted as an unknown version.
        for (int i = 1; i <= 6; i++) db.Execute("INSERT INTO secrets VALUES (@p0, @p1)", i, keys.Ring.Protect("plain " + i, "v1"));
        db.Execute("INSERT INTO secrets VALUES (7, @p0)", "V1" + keys.Ring.Protect("odd", "v1")[2..]);

        using (var connection = db.Open())
        {
            var status = Data.ColumnStatusReader.Read(db.Dialect, connection, "secrets", "secret", keys.Ring);
            Assert.Equal(6, status.RowsByVersion.GetValueOrDefault("v1"));
            Assert.Equal(1, status.RowsByVersion.GetValueOrDefault("V1")); // a version the key file does not have
            Assert.Equal(0, status.NotCiphertext);
        }
        var job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 4, CommitEvery = 4 }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Finished, 6L, 1L), (job.StatusKind, job.Processed, job.Errors));
        Assert.Contains("v2=6", job.Message);
        Assert.Contains("V1=1", job.Message);
    }

    [Fact]
    public void A_case_insensitive_ICU_collation_on_a_text_key_pages_exactly()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        try { db.Execute("CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"); }
        catch (PostgresException e)
        {
            Output.WriteLine("NOT RUN: no ICU collations on this server: " + e.MessageText);
            return;
        }
        var literals = Range(40, i => (i % 3 == 0 ? "Äbc" : i % 3 == 1 ? "abc" : "ABD") + i.ToString("00", CultureInfo.InvariantCulture));
        var plain = SeedLiterals(db, keys, "text COLLATE ci PRIMARY KEY", literals, "{0}");

        var job = RunInSlices(db, keys.Ring, new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 3, CommitEvery = 3, MaxRows = 7 }, SaoPaulo(db));

        Assert.Equal((JobStatus.Finished, 40L), (job.StatusKind, job.Processed));
        AssertAllAt(db, keys.Ring, 40, "v2", plain.Values.ToHashSet());
    }

    [Theory]
    [InlineData("interval")]
    [InlineData("money")]
    [InlineData("jsonb")]
    [InlineData("int[]")]
    public void A_key_type_that_cannot_be_paged_exactly_is_refused_before_any_job_row(string keyType)
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE secrets (k {keyType} NOT NULL UNIQUE, secret text)");

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", KeyColumn = "k" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("KeyColumnTypeUnsupported", e.ErrorId);
        Assert.Contains(keyType == "int[]" ? "integer[]" : keyType, e.Message);
        AssertNoJobTables(db);
    }

    [Theory]
    [InlineData("bytea")]
    [InlineData("integer")]
    [InlineData("jsonb")]
    [InlineData("text[]")]
    public void A_PostgreSQL_column_that_does_not_hold_text_is_refused_before_any_job_row(string columnType)
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE secrets (k bigint PRIMARY KEY, secret {columnType})");

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("ColumnTypeUnsupported", e.ErrorId);
        AssertNoJobTables(db);
    }

    [Fact]
    public void Text_like_columns_char_varchar_and_a_domain_over_text_are_reencrypted()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE DOMAIN secret_text AS varchar(300)");
        foreach (var type in new[] { "char(200)", "varchar(200)", "secret_text" })
        {
            db.Execute("DROP TABLE IF EXISTS secrets");
            db.Execute($"CREATE TABLE secrets (k bigint PRIMARY KEY, secret {type})");
            for (int i = 1; i <= 5; i++) db.Execute("INSERT INTO secrets VALUES (@p0, @p1)", (long)i, keys.Ring.Protect("p" + i, "v1"));

            var job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 2, CommitEvery = 2 }, new RecordingObserver(), CancellationToken.None);

            Assert.True((JobStatus.Finished, 5L, 0L) == (job.StatusKind, job.Processed, job.Errors), $"{type}: {job.StatusKind} {job.Message}");
            using var connection = db.Open();
            using var command = TestDatabase.Command(connection, null, "SELECT secret FROM secrets");
            using var reader = command.ExecuteReader();
            while (reader.Read()) Assert.StartsWith("p", keys.Ring.UnprotectToString(reader.GetString(0).Trim()));
        }
    }

    [Fact]
    public void The_count_skips_the_applications_whitespace_on_a_UTF8_database_and_still_runs_on_a_LATIN1_one()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE secrets (k bigint PRIMARY KEY, secret text)");
        db.Execute("INSERT INTO secrets VALUES (1, @p0), (2, @p1), (3, @p2), (4, 'plain')",
            "\u3000" + keys.Ring.Protect("a", "v1"), "\n\u00a0" + keys.Ring.Protect("b", "v1"), "\u2028" + keys.Ring.Protect("c", "v2") + "\n");
        using (var connection = db.Open())
        {
            var status = Data.ColumnStatusReader.Read(db.Dialect, connection, "secrets", "secret", keys.Ring);
            Assert.Equal(new Dictionary<string, long> { ["v1"] = 2, ["v2"] = 1 }, new Dictionary<string, long>(status.RowsByVersion));
            Assert.Equal(1, status.NotCiphertext);
        }

        // A database whose encoding cannot hold the other whitespace characters: the count runs, and trims the ASCII ones.
        var name = "latin1_" + Guid.NewGuid().ToString("N")[..12];
        db.Execute($"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
        var latin1 = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Database = name, Pooling = false }.ConnectionString;
        using (var connection = new NpgsqlConnection(latin1))
        {
            connection.Open();
            TestDatabase.Execute(connection, null, "CREATE TABLE secrets (k bigint PRIMARY KEY, secret text)");
            TestDatabase.Execute(connection, null, "INSERT INTO secrets VALUES (1, @p0), (2, @p1)", "\t" + keys.Ring.Protect("a", "v1"), keys.Ring.Protect("b", "v1") + " ");
            var status = Data.ColumnStatusReader.Read(db.Dialect, connection, "secrets", "secret", keys.Ring);
            Assert.Equal(2, status.RowsUsing("v1"));
        }
        var job = db.Engine(keys.Ring, latin1).Run(new ReencryptionOptions { Table = "secrets", Column = "secret" }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Finished, 2L), (job.StatusKind, job.Processed));
        Assert.Equal(new Dictionary<string, long> { ["v2"] = 2 }, job.CountsAtFinish);
    }

    [Fact]
    public void An_update_that_matches_nothing_while_the_row_still_holds_what_was_read_is_RowNotUpdated_and_the_job_incomplete()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE secrets (k bigint PRIMARY KEY, secret text)");
        for (int i = 1; i <= 10; i++) db.Execute("INSERT INTO secrets VALUES (@p0, @p1)", (long)i, keys.Ring.Protect("p" + i, "v1"));
        // A trigger that silently drops updates of some rows: the database answers "0 rows" with no concurrent change.
        db.Execute("CREATE FUNCTION keep_odd() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF OLD.k % 2 = 1 THEN RETURN NULL; END IF; RETURN NEW; END $$");
        db.Execute("CREATE TRIGGER keep_odd BEFORE UPDATE ON secrets FOR EACH ROW EXECUTE FUNCTION keep_odd()");
        var observer = new RecordingObserver();

        var job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 4, CommitEvery = 4 }, observer, CancellationToken.None);

        Assert.Equal((JobStatus.Incomplete, 5L, 5L), (job.StatusKind, job.Processed, job.Errors));
        Assert.Equal(new Dictionary<string, long> { ["v1"] = 5, ["v2"] = 5 }, job.CountsAtFinish);
        Assert.All(observer.Failures, f => Assert.StartsWith("RowNotUpdated", f.Reason));
        Assert.Equal(new[] { "1", "3", "5", "7", "9" }, observer.Failures.Select(f => f.RowKey).Order());
    }
}

/// <summary>The proof as the job row keeps it: machine-read, bounded whatever the column holds.</summary>
public sealed class CompletionProofTests
{
    [Fact]
    public void The_proof_text_names_versions_oldest_first_and_reads_back()
    {
        using var keys = TestKeys.Create("v1", "v2", "v3");
        var proof = CompletionProof.From(new Dictionary<string, long> { ["v3"] = 5, ["v1"] = 2, ["zz9"] = 1 }, 4, keys.Ring, "v2");

        Assert.Equal("counted at finish: v1=2, v3=5, zz9=1, (not ciphertext)=4", proof.ToText());
        Assert.Equal(2, proof.BelowTarget);
        Assert.False(proof.Complete);
        Assert.Equal(new Dictionary<string, long> { ["v1"] = 2, ["v3"] = 5, ["zz9"] = 1, ["(not ciphertext)"] = 4 }, CompletionProof.Parse("incomplete: …; " + proof.ToText()));
        Assert.Null(CompletionProof.Parse("complete"));
        Assert.Null(CompletionProof.Parse(null));
    }

    [Fact]
    public void A_column_with_thousands_of_prefixes_gives_a_message_that_fits_SQL_Servers_job_table()
    {
        using var keys = TestKeys.Create("v1", "v2");
        var counts = Enumerable.Range(0, 5000).ToDictionary(i => "unknown-version-name-" + i.ToString("D8", CultureInfo.InvariantCulture), _ => 1_000_000_000L);
        counts["v1"] = 3;
        var proof = CompletionProof.From(counts, long.MaxValue / 2, keys.Ring, "v2");

        var message = $"incomplete with 99999999 row error(s): {proof.BelowTarget} value(s) below 'v2' remain ({proof.OlderVersionsText}); run again; {proof.ToText()}";

        Assert.True(message.Length < 2000, $"{message.Length} characters");
        Assert.StartsWith("counted at finish: v1=3, ", proof.ToText());
        Assert.Contains("(other versions)=", proof.ToText());
    }
}
