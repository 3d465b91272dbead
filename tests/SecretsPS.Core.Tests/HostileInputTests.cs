using System.Data.Common;
using System.Text;
using CsCheck;
using Microsoft.Data.Sqlite;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// One hostile naming of a target: the table, the encrypted column, the key column and the job table, each
/// carrying something that would change the statement if it were ever pasted into SQL unquoted. Next to it a decoy
/// table <c>x</c> (what the injections name) and, for look-alikes, the table the name imitates.
/// </summary>
public sealed record HostileCase(string Id, string Table, string Column, string Key, string JobTable, string? LookAlike = null)
{
    public override string ToString() => Id;
}

internal static class HostileNames
{
    public static readonly HostileCase[] Cases =
    [
        new("double-quote", "x\"; DROP TABLE x; --", "se\"cret\"; DELETE FROM x; --", "i\"d", "jobs\"; DROP TABLE x; --"),
        new("apostrophe", "x'; DROP TABLE x; --", "secret'; --", "id' OR '1'='1", "o'reilly_jobs"),
        new("semicolon", "x; DELETE FROM x", "s;ecret", "i;d", "jobs; DROP TABLE x"),
        new("line-comment", "x -- comment", "secret --", "id--", "jobs -- x"),
        new("block-comment", "x /* c */", "/* secret */", "*/id/*", "/*jobs*/"),
        new("bracket", "x]; DROP TABLE x; --", "se]cret", "[id]", "[jobs]]"),
        new("backslash", "x\\'; DROP TABLE x; --\\", "back\\slash\\", "id\\", "jobs\\"),
        new("cyrillic-look-alike", "d\u0430ta", "s\u0435cret", "\u0456d", "reencrypt_j\u043Ebs", LookAlike: "data"),
        new("full-width-look-alike", "\uFF58", "\uFF53\uFF45\uFF43\uFF52\uFF45\uFF54", "\uFF49\uFF44", "\uFF4A\uFF4F\uFF42\uFF53"),
        new("zero-width-look-alike", "x\u200B", "secret\u200D", "id\u200C", "reencrypt_jobs\u2060"),
        new("spaces", "x ", " secret", "i d", "my jobs"),
        new("dots", "x.y", "a.b", "k.k", "ops.jobs.v2"),
        new("quotes-around", "\"x\"", "\"secret\"", "\"id\"", "\"jobs\""),
        new("parameter-names", "@after", "@new", "@key", "@limit"),
        new("placeholders", "x$$; DROP TABLE x; $$", "$1", "?", "%s_jobs"),
        new("like-wildcards", "x%", "se_ret", "%", "_jobs_"),
        new("emoji-and-rtl", "x\U0001F511\u202Egnp", "s\u202Eecret", "\U0001F511", "jobs\u202E"),
    ];

    public static TheoryData<string> Ids
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var c in Cases) data.Add(c.Id);
            return data;
        }
    }

    public static HostileCase Get(string id) => Cases.Single(c => c.Id == id);

    /// <summary>A name as -Table / -JobTable takes it: quoted (the documented form) when it holds a quote or a dot.</summary>
    public static string Option(string name) => name.Contains('"') || name.Contains('.') ? "\"" + name.Replace("\"", "\"\"") + "\"" : name;

    /// <summary>The errors table JobStore derives from a job table name (FORMATS.md §5).</summary>
    public static string ErrorsTable(string jobs) => jobs.EndsWith("jobs", StringComparison.Ordinal) ? jobs[..^4] + "job_errors" : jobs + "_errors";

    /// <summary>The chunk table JobStore derives from a job table name, as the errors table (FORMATS.md §5).</summary>
    public static string ChunksTable(string jobs) => jobs.EndsWith("jobs", StringComparison.Ordinal) ? jobs[..^4] + "job_chunks" : jobs + "_chunks";
}

/// <summary>
/// Table, column, key-column and job-table names with quotes, semicolons, comment markers, brackets, backslashes,
/// Unicode look-alikes and spaces, on a real database: the engine, the status reader and the job store either work on
/// exactly the named objects (the decoy tables keep every byte) or refuse with IdentifierInvalid — never run the name as SQL.
/// </summary>
public abstract class HostileInputTests
{
    private protected static readonly TestTable Decoy = new(null, "x", "id", "secret");

    private readonly HostileKeys _keys;

    protected HostileInputTests(HostileKeys keys, ITestOutputHelper output)
    {
        _keys = keys;
        Output = output;
    }

    protected ITestOutputHelper Output { get; }

    /// <summary>One key file (v1, v2 active) for the class: the tests only read it.</summary>
    internal TestKeys Keys => _keys.Keys;

    internal abstract TestDatabase NewDatabase();

    protected abstract bool Unavailable();

    /// <summary>The names the database lists for tables of the test (PostgreSQL prefixes the schema; SQLite's own tables left out).</summary>
    internal static SortedSet<string> UserTables(TestDatabase db) =>
        new(db.TableNames().Where(n => !n.StartsWith("sqlite_", StringComparison.Ordinal))
            .Select(n => db.Provider == DatabaseProvider.PostgreSql && n.StartsWith("public.", StringComparison.Ordinal) ? n["public.".Length..] : n),
            StringComparer.Ordinal);

    internal static SortedDictionary<string, string?> SeedDecoy(TestDatabase db, TestTable table, TestKeys keys)
    {
        db.CreateTable(table);
        db.Insert(table, Enumerable.Range(1, 5).Select(i => ((object)(long)i, (string?)keys.Ring.Protect("decoy " + i, "v1"))));
        return db.Read(table);
    }

    [Theory]
    [MemberData(nameof(HostileNames.Ids), MemberType = typeof(HostileNames))]
    public void HostileInput_names_reach_nothing_before_the_table_exists_then_are_reencrypted_counted_and_recorded_as_names_and_the_decoys_are_untouched(string id)
    {
        if (Unavailable()) return;
        var c = HostileNames.Get(id);
        var keys = Keys;
        using var db = NewDatabase();
        var decoys = new List<TestTable> { Decoy };
        if (c.LookAlike is not null) decoys.Add(Decoy with { Name = c.LookAlike });
        var decoyRows = decoys.ToDictionary(d => d.Name, d => SeedDecoy(db, d, keys));

        // Before the hostile table exists, each name reaches nothing: only the decoys are there, which the names imitate or try to reach.
        var empty = UserTables(db);
        foreach (var (t, column, key) in new[] { (c.Table, "secret", (string?)null), ("x", c.Column, null), ("x", "secret", c.Key) })
        {
            var missing = new ReencryptionOptions { Table = HostileNames.Option(t), Column = column, KeyColumn = key, JobTable = HostileNames.Option(c.JobTable) };
            var e = Assert.ThrowsAny<SecretsPSException>(() => db.Engine(keys.Ring).Run(missing, new RecordingObserver(), CancellationToken.None));
            Assert.True(e.ErrorId is "TargetNotFound" or "IdentifierInvalid", $"{t}.{column} key {key}: {e.ErrorId} {e.Message}");
            if (key is not null) continue;
            using var connection = db.Open();
            var status = Assert.ThrowsAny<SecretsPSException>(() => ColumnStatusReader.Read(db.Dialect, connection, HostileNames.Option(t), column, keys.Ring));
            Assert.True(status.ErrorId is "TargetNotFound" or "IdentifierInvalid", $"status {t}.{column}: {status.ErrorId}");
        }
        Assert.Equal(empty, UserTables(db));
        foreach (var d in decoys) Assert.Equal(decoyRows[d.Name], db.Read(d));

        var table = new TestTable(null, c.Table, c.Key, c.Column);
        db.CreateTable(table);
        var expected = ReencryptionEngineTests.Seed(db, table, keys, 12, i => i % 5 == 0 ? null : "v1");
        db.Insert(table, [(100L, "not ciphertext; DROP TABLE x; --")]);
        var tablesBefore = UserTables(db);

        var options = new ReencryptionOptions
        {
            Table = HostileNames.Option(c.Table),
            Column = c.Column,
            KeyColumn = null, // found from the primary key: the catalogue lookups get the hostile name too
            JobTable = HostileNames.Option(c.JobTable),
            BatchSize = 4,
            CommitEvery = 4,
        };

        ReencryptJob job;
        try
        {
            var preview = db.Engine(keys.Ring).Preview(options, new RecordingObserver(), CancellationToken.None);
            Assert.Equal((c.Table, c.Column, c.Key, 10L, 1L), (preview.Table, preview.Column, preview.KeyColumn, preview.WouldReencrypt, preview.Errors));
            job = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);
        }
        catch (SecretsPSException e) when (e.ErrorId == "IdentifierInvalid")
        {
            // Refusing is allowed; then nothing at all may have changed.
            Output.WriteLine($"{id}: refused ({e.Message})");
            Assert.Equal(tablesBefore, UserTables(db));
            foreach (var d in decoys) Assert.Equal(decoyRows[d.Name], db.Read(d));
            return;
        }

        // The job: exactly this target, every value moved, the plaintext row reported (in the hostile errors table).
        Assert.Equal((JobStatus.Finished, 10L, 0L, 1L), (job.StatusKind, job.Processed, job.Skipped, job.Errors));
        Assert.Equal((c.Table, c.Column, c.Key), (job.Table, job.Column, job.KeyColumn));
        var rows = db.Read(table);
        foreach (var (key, plain) in expected)
        {
            if (plain is null) { Assert.Null(rows[key]); continue; }
            Assert.StartsWith("v2:", rows[key]);
            Assert.Equal(plain, keys.Ring.UnprotectToString(rows[key]));
        }
        Assert.Equal("not ciphertext; DROP TABLE x; --", rows["100"]);

        // The decoys keep every byte; the only new tables are the job tables, under exactly the names given.
        foreach (var d in decoys) Assert.Equal(decoyRows[d.Name], db.Read(d));
        var expectedTables = new SortedSet<string>(tablesBefore, StringComparer.Ordinal) { c.JobTable, HostileNames.ErrorsTable(c.JobTable), HostileNames.ChunksTable(c.JobTable) };
        Assert.Equal(expectedTables, UserTables(db));

        // The status reader counts the hostile column.
        using (var connection = db.Open())
        {
            var status = ColumnStatusReader.Read(db.Dialect, connection, HostileNames.Option(c.Table), c.Column, keys.Ring);
            Assert.Equal((c.Table, 13L, 2L, 1L, 10L), (status.Table, status.TotalRows, status.NullRows, status.NotCiphertext, status.AtActiveVersion));
        }

        // A second run with the key column named: everything already at v2.
        var again = db.Engine(keys.Ring).Run(options with { KeyColumn = c.Key }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Finished, 0L, 10L, 1L), (again.StatusKind, again.Processed, again.Skipped, again.Errors));

        // The job store under the hostile job table name: list, read, errors, delete.
        using (var connection = db.Open())
        {
            var store = new JobStore(db.Dialect, HostileNames.Option(c.JobTable));
            Assert.Equal((c.JobTable, HostileNames.ErrorsTable(c.JobTable)), (store.Jobs.Name, store.Errors.Name));
            Assert.True(store.TablesExist(connection));
            var listed = store.List(connection, null, null, c.Table, 10);
            Assert.Equal(new[] { again.Id, job.Id }, listed.Select(j => j.Id));
            Assert.Equal(job.Id, store.Get(connection, null, job.Id)!.Id);
            var errors = store.ErrorsOf(connection, job.Id);
            Assert.Equal("100", Assert.Single(errors).RowKey);
            Assert.Equal(1, store.Delete(connection, job.Id));
            Assert.Empty(store.ErrorsOf(connection, job.Id));
            Assert.Equal(new[] { again.Id }, store.List(connection, null, null, null, 10).Select(j => j.Id));
        }
        foreach (var d in decoys) Assert.Equal(decoyRows[d.Name], db.Read(d));
        Assert.Equal(expectedTables, UserTables(db));
    }

    /// <summary>
    /// JobStore derives the errors table (name + "_errors") and its index (errors name + "_job") from the job table name;
    /// each must be a valid identifier before anything is created, or the refusal leaves half-made job tables behind.
    /// </summary>
    [Theory]
    [InlineData(Identifier.MaxLength - 7)] // the errors table is exactly at the limit, its index name over it
    [InlineData(Identifier.MaxLength - 6)] // the errors table is over the limit: refused before anything runs
    public void HostileInput_a_job_table_name_near_the_length_limit_works_or_is_refused_before_any_table_is_created(int length)
    {
        if (Unavailable()) return;
        var keys = Keys;
        using var db = NewDatabase();
        var table = new TestTable(null, "secrets", "id", "secret");
        var expected = ReencryptionEngineTests.Seed(db, Create(db, table), keys, 6, _ => "v1");
        var jobTable = "j" + new string('q', length - 1);
        var before = UserTables(db);

        var options = new ReencryptionOptions { Table = "secrets", Column = "secret", JobTable = jobTable };
        try
        {
            var job = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);
            Assert.Equal(JobStatus.Finished, job.StatusKind);
            Assert.Equal(new SortedSet<string>(before, StringComparer.Ordinal) { jobTable, HostileNames.ErrorsTable(jobTable) }, UserTables(db));
        }
        catch (SecretsPSException e) when (e.ErrorId == "IdentifierInvalid")
        {
            Output.WriteLine($"refused: {e.Message}");
            var created = UserTables(db).Except(before).ToList();
            Assert.True(created.Count == 0,
                $"a job table name of {length} characters was refused with IdentifierInvalid only after creating {string.Join(", ", created.Select(n => $"'{n[..12]}…' ({n.Length} chars)"))}");
            Assert.All(db.Read(table).Values, v => Assert.StartsWith("v1:", v));
        }
        Assert.Equal(expected.Count, db.Read(table).Count);
    }

    private static TestTable Create(TestDatabase db, TestTable table)
    {
        db.CreateTable(table);
        return table;
    }
}

/// <summary>The key file shared by a class of hostile-input tests.</summary>
public sealed class HostileKeys : IDisposable
{
    internal TestKeys Keys { get; } = TestKeys.Create("v1", "v2");

    public void Dispose() => Keys.Dispose();
}

public sealed class HostileInputOnSqliteTests : HostileInputTests, IClassFixture<HostileKeys>
{
    public HostileInputOnSqliteTests(HostileKeys keys, ITestOutputHelper output) : base(keys, output) { }

    internal override TestDatabase NewDatabase() => new SqliteTestDatabase();

    protected override bool Unavailable() => false;

    /// <summary>
    /// Any name that passes Identifier: a table created under it with the dialect's quoting is that one table, and every
    /// statement the engine and the status reader build from it runs against it (never a syntax error, never the decoy).
    /// </summary>
    [Fact]
    public void Fuzz_HostileInput_any_accepted_name_quotes_to_exactly_that_table_and_every_statement_runs_on_it()
    {
        var dialect = new SqliteDialect();
        var keys = Keys;
        var ring = keys.Ring;
        var stored = ring.Protect("fuzz");
        // Control characters (refused by Identifier) come only from the rare "any UTF-16 unit", so most cases reach the database.
        var nameChars = Gen.Frequency(
            (6, Gen.Char["\"'`;-/*[]\\ .@$?%_:(),=#\u0430\u0435\uFF58\u200B\u202E\u00A0"]),
            (6, Gen.Char['a', 'z']),
            (1, Gen.Char));
        var name = Fuzz.Chars(nameChars, 1, 40);
        int ran = 0, refused = 0;
        Fuzz.Property(Output, "identifiers on SQLite", Gen.Select(name, name, name), input =>
        {
            var (tableText, column, key) = input;
            TableName table;
            try
            {
                table = Identifier.ParseTable(tableText);
                Identifier.Validate(column, "column");
                Identifier.Validate(key, "key column");
            }
            catch (SecretsPSException e)
            {
                Assert.Equal("IdentifierInvalid", e.ErrorId);
                Interlocked.Increment(ref refused);
                return;
            }
            // SQLite's own rules, not injection: its reserved prefix, attached schemas, case-insensitive equality of names.
            if (table.Schema is not null || table.Name.StartsWith("sqlite_", StringComparison.OrdinalIgnoreCase)
                || string.Equals(table.Name, "x", StringComparison.OrdinalIgnoreCase) || string.Equals(column, key, StringComparison.OrdinalIgnoreCase)) return;
            Interlocked.Increment(ref ran);

            using var connection = new SqliteConnection("Data Source=:memory:");
            connection.Open();
            Exec(connection, "CREATE TABLE x (id INTEGER PRIMARY KEY, secret TEXT); INSERT INTO x VALUES (1, 'decoy')");
            Exec(connection, $"CREATE TABLE {dialect.QuoteTable(table)} ({dialect.Quote(key)} INTEGER PRIMARY KEY, {dialect.Quote(column)} TEXT)");
            var names = Query(connection, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
            Assert.Equal(new[] { table.Name, "x" }.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
            Exec(connection, $"INSERT INTO {dialect.QuoteTable(table)} VALUES (1, @p0)", stored);

            var declared = ColumnTarget.Declared(table, column, key, new ColumnType("INTEGER", "integer"), new ColumnType("TEXT", "text"));
            var statements = new[]
            {
                dialect.SelectPage(declared, 10, fromStart: true),
                dialect.Probe(table, key, column),
                dialect.CountNonNull(table, column),
                dialect.KeyStatistics(table, key),
                dialect.CountByPrefix(table, column),
                dialect.SelectSample(table, column, 5),
                dialect.ProbeColumn(table, column),
            };
            foreach (var sql in statements) Query(connection, sql);
            Assert.Equal(new[] { stored }, Query(connection, dialect.SelectOne(declared), ("@key", 1L)));
            Assert.Equal(new[] { "1" }, Query(connection, dialect.SelectPage(declared, 10, fromStart: false), ("@after", 0L)).Take(1));
            var status = ColumnStatusReader.Read(dialect, connection, HostileNames.Option(table.Name), column, ring);
            Assert.Equal((1L, 1L), (status.TotalRows, status.AtActiveVersion));
            var target = ColumnTarget.Resolve(dialect, connection, HostileNames.Option(table.Name), column, null);
            Assert.Equal(key, target.KeyColumn);
            using (var transaction = connection.BeginTransaction())
            {
                var written = dialect.UpdateGuarded(connection, transaction, declared, [new RowUpdate(1L, stored, "v2:changed")]);
                Assert.Single(written);
                transaction.Commit();
            }
            Assert.Equal(new[] { "decoy" }, Query(connection, "SELECT secret FROM x"));
            Assert.Equal(new[] { "v2:changed" }, Query(connection, $"SELECT {dialect.Quote(column)} FROM {dialect.QuoteTable(table)}"));
        });
        Output.WriteLine($"ran {ran}, refused {refused}");
    }

    private static void Exec(DbConnection connection, string sql, params object[] args)
    {
        using var command = TestDatabase.Command(connection, null, sql, args);
        command.ExecuteNonQuery();
    }

    private static List<string> Query(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (n, v) in parameters) SqlDialect.AddParameter(command, n, v);
        using var reader = command.ExecuteReader();
        var list = new List<string>();
        while (reader.Read()) list.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture) ?? "");
        return list;
    }
}

[Collection("postgres")]
public sealed class HostileInputOnPostgreSqlTests : HostileInputTests, IClassFixture<HostileKeys>
{
    private readonly PostgresServer _server;

    public HostileInputOnPostgreSqlTests(PostgresServer server, HostileKeys keys, ITestOutputHelper output) : base(keys, output) => _server = server;

    internal override TestDatabase NewDatabase() => new PostgreSqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        if (_server.Available) return false;
        Output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    /// <summary>
    /// PostgreSQL cuts every identifier to 63 bytes (NAMEDATALEN - 1) with only a NOTICE, and Identifier allows 128
    /// characters: a longer name that does not exist must not silently become the table its first 63 bytes name.
    /// </summary>
    [Fact]
    public void HostileInput_a_table_name_longer_than_63_bytes_never_reaches_the_table_named_by_its_first_63_bytes()
    {
        if (Unavailable()) return;
        var keys = Keys;
        using var db = NewDatabase();
        var decoy = Decoy with { Name = "t" + new string('d', 62) };
        var decoyRows = SeedDecoy(db, decoy, keys);
        var asked = decoy.Name + "_other_table"; // 75 characters, no such table

        ReencryptJob? job = null;
        SecretsPSException? refused = null;
        try
        {
            job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = asked, Column = "secret" }, new RecordingObserver(), CancellationToken.None);
        }
        catch (SecretsPSException e)
        {
            refused = e;
        }

        var touched = db.Read(decoy).Where(r => !r.Value!.StartsWith("v1:", StringComparison.Ordinal)).Select(r => r.Key).ToList();
        Assert.True(touched.Count == 0,
            $"asked for table '{asked}' ({asked.Length} chars), the engine re-encrypted rows {string.Join(", ", touched)} of '{decoy.Name}' (63 chars); job {job?.Id} table_name '{job?.Table}'");
        Assert.NotNull(refused);
        Assert.True(refused!.ErrorId is "TargetNotFound" or "IdentifierInvalid", refused.ErrorId);
        Assert.Equal(decoyRows, db.Read(decoy));
    }

    /// <summary>
    /// The same limit on the job tables: a long job table name and its "_errors" and "_chunks" siblings must be three tables, or be refused
    /// with IdentifierInvalid; the run must not fail with a raw database exception.
    /// </summary>
    [Fact]
    public void HostileInput_a_job_table_name_longer_than_63_bytes_gives_two_distinct_job_tables_or_IdentifierInvalid()
    {
        if (Unavailable()) return;
        var keys = Keys;
        using var db = NewDatabase();
        var table = new TestTable(null, "secrets", "id", "secret");
        db.CreateTable(table);
        ReencryptionEngineTests.Seed(db, table, keys, 6, _ => "v1");
        var jobTable = "jobs_" + new string('j', 70);
        var before = UserTables(db);

        Exception? failure = null;
        ReencryptJob? job = null;
        try
        {
            job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", JobTable = jobTable }, new RecordingObserver(), CancellationToken.None);
        }
        catch (Exception e)
        {
            failure = e;
        }

        var created = UserTables(db).Except(before).ToList();
        Output.WriteLine($"created: {string.Join(", ", created)}; outcome: {(failure is null ? $"job {job!.Id} {job.Status}" : failure.GetType().Name + ": " + failure.Message)}");
        if (failure is null)
        {
            Assert.Equal(JobStatus.Finished, job!.StatusKind);
            Assert.Equal(3, created.Count); // the job, errors and chunk tables
            return;
        }
        Assert.True(failure is SecretsPSException { ErrorId: "IdentifierInvalid" },
            $"a job table name of {jobTable.Length} characters failed with {failure.GetType().FullName}: {failure.Message}");
        Assert.Empty(created);
    }
}

/// <summary>SQL Server (no server here): every statement built from the hostile names quotes them in brackets, ']' doubled.</summary>
public sealed class HostileInputSqlServerTests
{
    private static readonly SqlServerDialect Dialect = new();

    public static TheoryData<string> Ids => HostileNames.Ids;

    [Theory]
    [MemberData(nameof(Ids))]
    public void HostileInput_SqlServer_statements_bracket_quote_every_hostile_name_and_leave_nothing_of_it_outside(string id)
    {
        var c = HostileNames.Get(id);
        string Bracket(string n) => "[" + n.Replace("]", "]]") + "]";
        var table = Identifier.ParseTable(HostileNames.Option(c.Table));
        var store = new JobStore(Dialect, HostileNames.Option(c.JobTable));
        Assert.Equal((c.Table, c.JobTable, HostileNames.ErrorsTable(c.JobTable)), (table.Name, store.Jobs.Name, store.Errors.Name));

        foreach (var n in new[] { c.Table, c.Column, c.Key, c.JobTable }) Assert.Equal(Bracket(n), Dialect.Quote(n));

        var declared = ColumnTarget.Declared(table, c.Column, c.Key, new ColumnType("bigint", "bigint"), new ColumnType("nvarchar(200)", "nvarchar"));
        var statements = new List<string>
        {
            Dialect.SelectPage(declared, 10, fromStart: true),
            Dialect.SelectPage(declared, 10, fromStart: false),
            Dialect.Probe(table, c.Key, c.Column),
            Dialect.CountNonNull(table, c.Column),
            Dialect.KeyStatistics(table, c.Key),
            Dialect.CountByPrefix(table, c.Column),
            Dialect.SelectOne(declared),
            Dialect.SelectSample(table, c.Column, 5),
            Dialect.ProbeColumn(table, c.Column),
            Dialect.UpdateStatement(declared, 3),
            Dialect.InsertReturningId(store.Jobs, ["table_name", "status"]),
            Dialect.SelectTop(store.Jobs, "id", "id = @id", "id DESC"),
        };
        var ddl = Dialect.CreateJobTables(store.Jobs, store.Errors).ToList();
        statements.AddRange(ddl);

        // The OBJECT_ID literal is national (N'…': look-alike letters survive) with the apostrophes doubled.
        Assert.StartsWith($"IF OBJECT_ID(N'{Bracket(c.JobTable).Replace("'", "''")}', N'U') IS NULL CREATE TABLE {Bracket(c.JobTable)} (", ddl[0]);
        Assert.StartsWith($"IF OBJECT_ID(N'{Bracket(store.Errors.Name).Replace("'", "''")}', N'U') IS NULL BEGIN CREATE TABLE {Bracket(store.Errors.Name)} (", ddl[1]);

        var hostile = new[] { c.Table, c.Column, c.Key, c.JobTable, store.Errors.Name, store.Errors.Name + "_job" }.Select(Bracket).ToList();
        var quoted = hostile
            .Concat(["[id]", "[table_name]", "[status]"]) // the job table's own columns
            .SelectMany(q => new[] { q, q.Replace("'", "''") })
            .Distinct()
            .OrderByDescending(q => q.Length)
            .ToList();
        foreach (var sql in statements)
        {
            Assert.Contains(hostile, q => sql.Contains(q, StringComparison.Ordinal));
            var rest = sql;
            foreach (var q in quoted) rest = rest.Replace(q, "«name»");
            foreach (var fragment in new[] { "[", "]", "DROP", "DELETE", "--", "/*", "*/", ";", "\\", "$$", "\u0430", "\uFF58", "\u200B", "\u202E", "'1'" })
                Assert.False(rest.Contains(fragment, StringComparison.Ordinal), $"{id}: '{fragment}' outside a quoted name in: {sql}");
        }
    }
}
