using CsCheck;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Discovery;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// EncryptedColumnFinder on real databases: every text column that holds stored values is found with its counts by version,
/// in a full count and in a sample; decoys (text with a colon, "v1:notatoken", JSON, numbers, a version nobody can prove,
/// the job tables, views) never are; hostile names come back as names -Table takes; a search bounded in time names what it
/// did not read; and, as a property over generated columns, a column is found iff it holds a real stored value.
/// </summary>
public abstract class EncryptedColumnFinderTests
{
    protected EncryptedColumnFinderTests(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    internal abstract TestDatabase NewDatabase();

    protected abstract bool Unavailable();

    /// <summary>A numeric column type and a JSON-ish type the dialect does not take as text.</summary>
    protected abstract string NumberType { get; }

    protected abstract int PropertyCases { get; }

    private static string Q(string identifier) => TestDatabase.Q(identifier);

    private static EncryptedColumnSearchResult Find(TestDatabase db, KeyRing ring, EncryptedColumnSearch? search = null, bool readOnly = true)
    {
        using var connection = DatabaseConnection.Open(db.Dialect, db.ConnectionString, DatabaseSignIn.None, readOnly);
        return EncryptedColumnFinder.Find(db.Dialect, connection, ring, search ?? new EncryptedColumnSearch());
    }

    protected static Dictionary<string, string> Summary(EncryptedColumnSearchResult result) =>
        result.Found.ToDictionary(f => f.Target, f => f.Versions);

    /// <summary>The issue's database: usuarios._otp_secret at v2 and the forgotten api_tokens.secret at v1, among decoys.</summary>
    private void CreateIssueDatabase(TestDatabase db, KeyRing ring)
    {
        db.Execute($"CREATE TABLE usuarios (id {NumberType} PRIMARY KEY, _otp_secret TEXT, email TEXT, note TEXT, meta TEXT, logins {NumberType})");
        var foreignToken = StoredValue.Parse(ring.Protect("x", "v1")).Token;
        for (int i = 1; i <= 5; i++)
            db.Execute("INSERT INTO usuarios VALUES (@p0, @p1, @p2, @p3, @p4, @p5)", (long)i, ring.Protect($"otp {i}", "v2"),
                i % 2 == 0 ? "a:b" : "user:secret@https://host", "v1:notatoken", $"{{\"token\": \"{ring.Protect("j", "v1")}\"}}", (long)i);
        db.Execute($"CREATE TABLE api_tokens (id {NumberType} PRIMARY KEY, secret TEXT)");
        for (int i = 1; i <= 3; i++) db.Execute("INSERT INTO api_tokens VALUES (@p0, @p1)", (long)i, ring.Protect($"token {i}", "v1"));
        db.Execute("INSERT INTO api_tokens VALUES (@p0, NULL)", 4L);
        // The job tables and a view over a found column hold (or show) values too, and are never searched.
        db.Execute("CREATE TABLE reencrypt_jobs (id INTEGER PRIMARY KEY, last_key TEXT, message TEXT)");
        db.Execute("INSERT INTO reencrypt_jobs VALUES (1, @p0, @p0)", ring.Protect("k", "v1"));
        db.Execute("CREATE TABLE reencrypt_job_errors (job_id INTEGER, row_key TEXT, reason TEXT)");
        db.Execute("INSERT INTO reencrypt_job_errors VALUES (1, @p0, @p0)", ring.Protect("k", "v1"));
        db.Execute("CREATE VIEW tokens_view AS SELECT id, secret FROM api_tokens");
        _ = foreignToken;
    }

    [Fact]
    public void The_issues_forgotten_column_is_found_beside_the_named_one_and_no_decoy_is()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        CreateIssueDatabase(db, keys.Ring);

        var full = Find(db, keys.Ring);
        var sampled = Find(db, keys.Ring, new EncryptedColumnSearch { SampleRows = 100 });

        var expected = new Dictionary<string, string> { ["api_tokens.secret"] = "v1=3", ["usuarios._otp_secret"] = "v2=5" };
        Assert.Equal(expected, Summary(full));
        Assert.Equal(expected, Summary(sampled));
        Assert.True(full.Complete && sampled.Complete);
        Assert.All(full.Found, f => Assert.False(f.Sampled));
        Assert.All(sampled.Found, f => Assert.True(f.Sampled));
        Assert.Equal(4, full.Found.Single(f => f.Column == "secret").RowsRead);   // every row, the NULL one too
        Assert.Equal(3, sampled.Found.Single(f => f.Column == "secret").RowsRead); // the non-NULL values read
    }

    [Fact]
    public void A_sample_reads_at_most_the_rows_asked_for_each_column()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var table = new TestTable(null, "big", "id", "secret");
        db.CreateTable(table);
        db.Insert(table, Enumerable.Range(1, 300).Select(i => ((object)(long)i, (string?)keys.Ring.Protect("p", "v2"))));

        var found = Assert.Single(Find(db, keys.Ring, new EncryptedColumnSearch { SampleRows = 25 }).Found);

        Assert.Equal(25, found.RowsRead);
        Assert.Equal(25, found.RowsUsing("v2"));
    }

    [Fact]
    public void A_version_the_key_file_lacks_is_found_only_when_a_value_under_it_parses_whole()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var other = TestKeys.Create("old7");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE t (id {NumberType} PRIMARY KEY, foreign_key TEXT, fake TEXT, damaged_known TEXT)");
        db.Execute("INSERT INTO t VALUES (@p0, @p1, @p2, @p3)", 1L, other.Ring.Protect("lost", "old7"), "v9:" + SqlDialect.StoredTokenStart + "!!not base64!!",
            "v1:" + SqlDialect.StoredTokenStart + "!!damaged");

        foreach (var search in new[] { new EncryptedColumnSearch(), new EncryptedColumnSearch { SampleRows = 10 } })
        {
            var result = Find(db, keys.Ring, search);
            var summary = Summary(result);
            Output.WriteLine(string.Join("; ", summary.Select(kv => kv.Key + " " + kv.Value)));
            // A real value under a version this key file does not have: someone's ciphertext, found and named as unknown.
            Assert.Equal("old7=1", summary["t.foreign_key"]);
            Assert.Equal(new[] { "old7" }, result.Found.Single(f => f.Column == "foreign_key").UnknownVersions);
            // A known version's prefix and a token's start count as Get-EncryptedColumnStatus counts them (the safe side).
            Assert.Equal("v1=1", summary["t.damaged_known"]);
            Assert.False(summary.ContainsKey("t.fake"));
        }
    }

    [Fact]
    public void Hostile_names_come_back_as_names_that_Table_and_Column_take_again()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        using var db = NewDatabase();
        var names = new[] { ("we.ird\"t", "c\"; DROP TABLE x;--"), ("\"quoted", "sp ace"), ("Ünï'cødé", "ção") };
        foreach (var (table, column) in names)
        {
            db.Execute($"CREATE TABLE {Q(table)} (id {NumberType} PRIMARY KEY, {Q(column)} TEXT)");
            db.Execute($"INSERT INTO {Q(table)} VALUES (1, @p0)", keys.Ring.Protect("x", "v1"));
        }

        var result = Find(db, keys.Ring);

        Assert.Equal(names.Length, result.Found.Count);
        using var connection = db.Open();
        foreach (var found in result.Found)
        {
            var parsed = Identifier.ParseTable(found.Table);
            Assert.Contains((parsed.Name, found.Column), names);
            // The names re-enter as -Table/-Column do: the status of the same column, counted again.
            var status = ColumnStatusReader.Read(db.Dialect, connection, found.Table, found.Column, keys.Ring);
            Assert.Equal(1, status.RowsUsing("v1"));
        }
    }

    [Fact]
    public void The_table_filter_searches_one_table_and_progress_reports_every_column()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        CreateIssueDatabase(db, keys.Ring);
        var progress = new List<EncryptedColumnSearchProgress>();

        var result = Find(db, keys.Ring, new EncryptedColumnSearch { Table = "usuarios", Progress = progress.Add });

        Assert.Equal(new[] { "usuarios._otp_secret" }, result.Found.Select(f => f.Target));
        Assert.Equal(4, result.ColumnsSearched); // _otp_secret, email, note, meta: never the number columns
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, progress.Select(p => p.Searched));
        Assert.All(progress, p => Assert.Equal(4, p.Total));
        Assert.All(progress.Take(4), p => Assert.StartsWith("usuarios.", p.Current));
    }

    [Fact]
    public void A_table_filter_naming_no_table_is_TargetNotFound_and_one_without_text_columns_finds_nothing()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE numbers (id {NumberType} PRIMARY KEY, n {NumberType})");

        var missing = Assert.Throws<SecretsPSException>(() => Find(db, keys.Ring, new EncryptedColumnSearch { Table = "usuarioss" }));
        Assert.Equal(ErrorIds.TargetNotFound, missing.ErrorId);
        Assert.Empty(Find(db, keys.Ring, new EncryptedColumnSearch { Table = "numbers" }).Found);
    }

    [Fact]
    public void A_search_out_of_time_names_every_column_it_did_not_read()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        CreateIssueDatabase(db, keys.Ring);

        var result = Find(db, keys.Ring, new EncryptedColumnSearch { TimeLimit = TimeSpan.Zero });

        Assert.False(result.Complete);
        Assert.Empty(result.Found);
        Assert.All(result.NotSearched, n => Assert.Equal(UnsearchedReason.TimeLimit, n.Reason));
        Assert.Contains("api_tokens.secret", result.NotSearched.Select(n => n.Target));
        Assert.Contains("usuarios._otp_secret", result.NotSearched.Select(n => n.Target));
    }

    public enum Content { RealKnown, RealForeign, WhitespaceKnown, PlainColon, NotAToken, Json, ForeignGarbage, BadVersionName, Empty, Null, Number }

    private static bool IsStoredValue(Content c) => c is Content.RealKnown or Content.RealForeign or Content.WhitespaceKnown;

    [Fact]
    public void Property_a_column_is_found_iff_it_holds_a_real_stored_value_with_the_right_counts()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var other = TestKeys.Create("z9");
        var ring = keys.Ring;
        using var db = NewDatabase();
        int n = 0;
        Gen.Enum<Content>().Array[0, 6].Array[1, 4].Sample(columns =>
        {
            var table = "p" + n++;
            db.Execute($"CREATE TABLE {Q(table)} (id {NumberType} PRIMARY KEY{string.Concat(columns.Select((_, i) => $", c{i} TEXT"))})");
            int rows = columns.Max(c => c.Length);
            for (int r = 0; r < rows; r++)
            {
                var values = columns.Select(c => r < c.Length ? Value(c[r], r, ring, other.Ring) : null).ToArray();
                db.Execute($"INSERT INTO {Q(table)} VALUES (@p0{string.Concat(values.Select((_, i) => $", @p{i + 1}"))})",
                    new object?[] { (long)r }.Concat(values).ToArray());
            }
            foreach (var search in new[] { new EncryptedColumnSearch { Table = table }, new EncryptedColumnSearch { Table = table, SampleRows = 10 } })
            {
                var found = Find(db, ring, search).Found.ToDictionary(f => f.Column);
                for (int i = 0; i < columns.Length; i++)
                {
                    var holds = columns[i].Any(IsStoredValue);
                    Assert.True(holds == found.ContainsKey($"c{i}"), $"c{i} [{string.Join(" ", columns[i])}] found {found.ContainsKey($"c{i}")}");
                    if (!holds) continue;
                    var expected = columns[i].Where(IsStoredValue).Select((c, _) => c == Content.RealForeign ? "z9" : null)
                        .Zip(columns[i].Select((c, r) => (c, r)).Where(x => IsStoredValue(x.c)), (v, x) => v ?? (x.r % 2 == 0 ? "v1" : "v2"))
                        .GroupBy(v => v).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}={g.Count()}");
                    Assert.Equal(string.Join(", ", expected), found[$"c{i}"].Versions);
                }
            }
        }, iter: PropertyCases, threads: 1, print: c => string.Join(" | ", c.Select(col => string.Join(" ", col))));
        Output.WriteLine($"{n} cases");
    }

    /// <summary>A value of the kind for row r (stored values under v1 on even rows, v2 on odd ones).</summary>
    private static string? Value(Content kind, int r, KeyRing ring, KeyRing other)
    {
        var version = r % 2 == 0 ? "v1" : "v2";
        return kind switch
        {
            Content.RealKnown => ring.Protect($"plain {r}", version),
            Content.RealForeign => other.Protect($"plain {r}", "z9"),
            Content.WhitespaceKnown => " \n" + ring.Protect($"plain {r}", version) + "\t",
            Content.PlainColon => r % 2 == 0 ? "a:b" : "https://user:pw@host/path",
            Content.NotAToken => "v1:notatoken",
            Content.Json => $"{{\"v\": \"{ring.Protect("j", version)}\"}}",
            Content.ForeignGarbage => "z8:" + SqlDialect.StoredTokenStart + "$$$",
            Content.BadVersionName => "bad version:" + StoredValue.Parse(ring.Protect("b", version)).ToString().Split(':')[1],
            Content.Empty => "",
            Content.Number => "12345",
            _ => null,
        };
    }
}

/// <summary>The statement that proves a version the key ring lacks, as each dialect spells it (no server needed).</summary>
public sealed class EncryptedColumnFinderSqlTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite, "LIMIT 20", "\"c\"\"; --\"")]
    [InlineData(DatabaseProvider.PostgreSql, "LIMIT 20", "\"c\"\"; --\"")]
    [InlineData(DatabaseProvider.SqlServer, "SELECT TOP (20)", "[c\"; --]")]
    public void SelectWithPrefix_quotes_the_names_bounds_the_rows_and_binds_the_prefix(DatabaseProvider provider, string bound, string quotedColumn)
    {
        var sql = SqlDialect.For(provider).SelectWithPrefix(new TableName("s]", "t\""), "c\"; --", EncryptedColumnFinder.UnknownVersionProof);

        Assert.Contains(bound, sql);
        Assert.Contains(quotedColumn, sql);
        Assert.Contains("= @prefix", sql);
        Assert.DoesNotContain("'c", sql);
    }

    [Theory]
    [InlineData("v1:" + SqlDialect.StoredTokenStart + "xyz", "v1")]
    [InlineData(" \n\u3000v2:" + SqlDialect.StoredTokenStart, "v2")]
    [InlineData("a:b", null)]
    [InlineData("v1:notatoken", null)]
    [InlineData(":" + SqlDialect.StoredTokenStart, null)]
    [InlineData("bad name:" + SqlDialect.StoredTokenStart, null)]
    [InlineData("{\"v\": \"v1:" + SqlDialect.StoredTokenStart + "\"}", null)]
    [InlineData("", null)]
    public void VersionOf_reads_a_value_as_CountByPrefix_groups_it(string value, string? version) =>
        Assert.Equal(version, EncryptedColumnFinder.VersionOf(value));
}

public sealed class EncryptedColumnFinderOnSqliteTests : EncryptedColumnFinderTests
{
    public EncryptedColumnFinderOnSqliteTests(ITestOutputHelper output) : base(output) { }

    internal override TestDatabase NewDatabase() => new SqliteTestDatabase();

    protected override bool Unavailable() => false;

    protected override string NumberType => "INTEGER";

    protected override int PropertyCases => 60;

    [Fact]
    public void A_column_without_a_declared_type_is_searched_and_a_numeric_one_is_not()
    {
        using var keys = TestKeys.Create("v1");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE t (id INTEGER PRIMARY KEY, untyped, amount NUMERIC, blob_col BLOB)");
        db.Execute("INSERT INTO t VALUES (1, @p0, @p0, @p0)", keys.Ring.Protect("x", "v1"));

        using var connection = db.Open();
        var result = EncryptedColumnFinder.Find(db.Dialect, connection, keys.Ring, new EncryptedColumnSearch());

        Assert.Equal(new[] { "t.untyped" }, result.Found.Select(f => f.Target));
    }
}

[Collection("postgres")]
public sealed class EncryptedColumnFinderOnPostgreSqlTests : EncryptedColumnFinderTests
{
    private readonly PostgresServer _server;

    public EncryptedColumnFinderOnPostgreSqlTests(PostgresServer server, ITestOutputHelper output) : base(output) => _server = server;

    internal override TestDatabase NewDatabase() => new PostgreSqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        if (_server.Available) return false;
        Output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    protected override string NumberType => "bigint";

    protected override int PropertyCases => 25;

    [Fact]
    public void Schemas_are_searched_and_a_table_outside_the_default_schema_comes_back_qualified()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE SCHEMA app");
        db.Execute("CREATE SCHEMA \"Odd.Schema\"");
        db.Execute("CREATE DOMAIN secret_text AS varchar(500)");
        db.Execute("CREATE TABLE public.t (id bigint PRIMARY KEY, s text)");
        db.Execute("CREATE TABLE app.t (id bigint PRIMARY KEY, s secret_text, c char(200), j jsonb, b bytea)");
        db.Execute("CREATE TABLE \"Odd.Schema\".\"T\" (id bigint PRIMARY KEY, s varchar)");
        db.Execute("INSERT INTO public.t VALUES (1, @p0)", keys.Ring.Protect("a", "v1"));
        db.Execute("INSERT INTO app.t VALUES (1, @p0, @p0, CAST(@p1 AS jsonb), NULL)", keys.Ring.Protect("b", "v2"), "\"" + keys.Ring.Protect("j", "v1") + "\"");
        db.Execute("INSERT INTO \"Odd.Schema\".\"T\" VALUES (1, @p0)", keys.Ring.Protect("c", "v2"));

        using var connection = db.Open();
        EncryptedColumnSearchResult Search(EncryptedColumnSearch s) => EncryptedColumnFinder.Find(db.Dialect, connection, keys.Ring, s);

        Assert.Equal(new Dictionary<string, string> { ["\"Odd.Schema\".T.s"] = "v2=1", ["app.t.c"] = "v2=1", ["app.t.s"] = "v2=1", ["t.s"] = "v1=1" },
            Summary(Search(new EncryptedColumnSearch())));
        Assert.Equal(new[] { "app.t.s", "app.t.c" }, Search(new EncryptedColumnSearch { Schema = "app" }).Found.Select(f => f.Target));
        Assert.Equal(new[] { "app.t.s", "app.t.c" }, Search(new EncryptedColumnSearch { Table = "app.t" }).Found.Select(f => f.Target));
        Assert.Equal(new[] { "\"Odd.Schema\".T.s" }, Search(new EncryptedColumnSearch { Table = "\"Odd.Schema\".T" }).Found.Select(f => f.Target));
        var conflict = Assert.Throws<SecretsPSException>(() => Search(new EncryptedColumnSearch { Schema = "public", Table = "app.t" }));
        Assert.Equal(ErrorIds.SearchFilterConflict, conflict.ErrorId);
    }

    [Fact]
    public void A_table_the_reader_may_not_read_is_named_and_the_others_are_still_searched()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE a_secret (id bigint PRIMARY KEY, s text)");
        db.Execute("CREATE TABLE b_open (id bigint PRIMARY KEY, s text)");
        db.Execute("INSERT INTO a_secret VALUES (1, @p0)", keys.Ring.Protect("a", "v1"));
        db.Execute("INSERT INTO b_open VALUES (1, @p0)", keys.Ring.Protect("b", "v1"));
        var role = "reader_" + Guid.NewGuid().ToString("N")[..10];
        db.Execute($"CREATE ROLE {role} LOGIN");
        db.Execute($"GRANT SELECT ON b_open TO {role}");
        var reader = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role }.ConnectionString;

        using var connection = DatabaseConnection.Open(db.Dialect, reader, DatabaseSignIn.None, readOnly: true);
        var result = EncryptedColumnFinder.Find(db.Dialect, connection, keys.Ring, new EncryptedColumnSearch());

        Assert.Equal(new[] { "b_open.s" }, result.Found.Select(f => f.Target));
        var missed = Assert.Single(result.NotSearched);
        Assert.Equal(("a_secret.s", UnsearchedReason.ReadFailed), (missed.Target, missed.Reason));
        Assert.Contains("42501", missed.Detail);
    }
}
