using System.Globalization;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// FORMATS.md §4a on MariaDB: every key type MySQL can page exactly (paused and resumed every few rows), text keys under
/// case- and accent-insensitive PAD SPACE collations, keys such a collation calls equal refused, types that cannot be
/// handled refused before anything is written, and the count by version that tells 'v1' from 'V1'.
/// </summary>
[Collection("mariadb")]
public sealed class CompletenessOnMariaDbTests : CompletenessTests
{
    private readonly MariaDbServer _server;

    public CompletenessOnMariaDbTests(MariaDbServer server, ITestOutputHelper output) : base(output) => _server = server;

    internal override TestDatabase NewDatabase() => new MySqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        _server.EnsureAvailable();
        return false;
    }

    internal override string TextPrimaryKeyType => "varchar(500) PRIMARY KEY";

    private static string[] Range(int n, Func<int, string> f) => Enumerable.Range(0, n).Select(f).ToArray();

    public static TheoryData<string> MySqlKeyTypes => new()
    {
        "tinyint", "smallint unsigned", "int", "bigint", "bigint unsigned", "decimal(38,12)", "varchar(60)", "char(12)",
        "varchar(60) CHARACTER SET latin1", "varchar(60) COLLATE utf8mb4_unicode_ci", "binary(16)", "varbinary(40)",
        "date", "datetime", "datetime(6)",
    };

    [Theory]
    [MemberData(nameof(MySqlKeyTypes))]
    public void Every_MySQL_key_type_pages_exactly_through_pauses(string keyType)
    {
        Unavailable();
        var start = new DateTime(2024, 11, 3, 1, 30, 0);
        var literals = keyType switch
        {
            "tinyint" => Range(40, i => (i * 6 - 120).ToString(CultureInfo.InvariantCulture)),
            "smallint unsigned" => Range(40, i => (i * 1637).ToString(CultureInfo.InvariantCulture)),
            "int" or "bigint" => Range(40, i => ((i - 20) * 50_000_017L).ToString(CultureInfo.InvariantCulture)),
            // Above 2^53 and 2^63: compared as doubles, neighbours would be equal; as signed, they would be negative.
            "bigint unsigned" => Range(40, i => (18_446_744_073_709_551_575UL + (ulong)i).ToString(CultureInfo.InvariantCulture)),
            "decimal(38,12)" => Range(40, i => "12345678901234567890123." + (i * 7919).ToString("000000000000", CultureInfo.InvariantCulture)),
            "binary(16)" or "varbinary(40)" => Range(40, i => Convert.ToHexString(new byte[] { 0, (byte)(i * 6), 0xFF, (byte)i, 0x20, 0 })),
            "date" => Range(40, i => new DateTime(2024, 1, 1).AddDays(i * 3).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            "datetime" => Range(40, i => start.AddSeconds(i * 61).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)),
            "datetime(6)" => Range(40, i => start.AddTicks(i * 12_345_670L).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)),
            "char(12)" => Range(40, i => "k" + i.ToString(CultureInfo.InvariantCulture)),
            "varchar(60) CHARACTER SET latin1" => Range(40, i => (i % 2 == 0 ? "Chávez " : "chavez-") + i.ToString("00", CultureInfo.InvariantCulture)),
            _ => Range(40, i => (i % 3 == 0 ? "Äbc" : i % 3 == 1 ? "abc" : "ABD") + " 'quoted' " + i.ToString("00", CultureInfo.InvariantCulture) + " ✓"),
        };
        var cast = keyType.Contains("binary", StringComparison.Ordinal) ? "UNHEX({0})" : "{0}";
        Key_type_pages_exactly(keyType + " PRIMARY KEY", cast, literals);
    }

    [Fact]
    public void A_TEXT_key_with_MariaDBs_hash_unique_index_pages_exactly_through_pauses()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE secrets (k text NOT NULL UNIQUE, secret text)");
        var plain = new HashSet<string>();
        foreach (var i in Enumerable.Range(0, 30))
        {
            var text = "p" + i;
            plain.Add(text);
            db.Execute("INSERT INTO secrets VALUES (@p0, @p1)", (i % 2 == 0 ? "Key " : "kéy-") + i.ToString("00", CultureInfo.InvariantCulture) + new string(' ', i % 3), keys.Ring.Protect(text, "v1"));
        }

        var job = RunInSlices(db, keys.Ring, new ReencryptionOptions { Table = "secrets", Column = "secret", KeyColumn = "k", BatchSize = 3, CommitEvery = 3, MaxRows = 7 });

        Assert.Equal((JobStatus.Finished, 30L), (job.StatusKind, job.Processed));
        AssertAllAt(db, keys.Ring, 30, "v2", plain);
    }

    [Fact]
    public void Keys_that_a_case_and_accent_insensitive_PAD_SPACE_collation_calls_equal_are_refused_before_anything_is_written()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        foreach (var (a, b) in new[] { ("abc", "ABC"), ("abc", "abc "), ("abc", "àbc") })
        {
            using var db = NewDatabase();
            db.Execute("CREATE TABLE secrets (id int PRIMARY KEY, code varchar(20) COLLATE utf8mb4_general_ci NOT NULL, secret text)");
            db.Execute("INSERT INTO secrets VALUES (1, @p0, @p2), (2, @p1, @p2)", a, b, keys.Ring.Protect("x", "v1"));

            var e = Assert.Throws<SecretsPSException>(() => db.Engine(keys.Ring).Run(
                new ReencryptionOptions { Table = "secrets", Column = "secret", KeyColumn = "code" }, new RecordingObserver(), CancellationToken.None));

            Assert.Equal("KeyColumnNotUnique", e.ErrorId);
            AssertNoJobTables(db);
        }
    }

    [Fact]
    public void A_text_key_under_a_case_insensitive_collation_with_trailing_spaces_and_accents_pages_every_row_exactly()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var literals = Range(45, i => (i % 5) switch
        {
            0 => "Key " + i.ToString("00", CultureInfo.InvariantCulture),
            1 => "kéy " + i.ToString("00", CultureInfo.InvariantCulture) + "  ",
            2 => "KEY_" + i.ToString("00", CultureInfo.InvariantCulture),
            3 => " key" + i.ToString("00", CultureInfo.InvariantCulture),
            _ => "key\t" + i.ToString("00", CultureInfo.InvariantCulture),
        });
        var plain = SeedLiterals(db, keys, "varchar(40) COLLATE utf8mb4_general_ci PRIMARY KEY", literals, "{0}");

        var job = RunInSlices(db, keys.Ring, new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 3, CommitEvery = 3, MaxRows = 7 });

        Assert.Equal((JobStatus.Finished, 45L), (job.StatusKind, job.Processed));
        AssertAllAt(db, keys.Ring, 45, "v2", plain.Values.ToHashSet());
    }

    [Theory]
    [InlineData("float")]
    [InlineData("double")]
    [InlineData("timestamp(6)")]
    [InlineData("time")]
    [InlineData("year")]
    [InlineData("enum('b','a')")]
    [InlineData("bit(8)")]
    public void A_key_type_that_cannot_be_paged_exactly_is_refused_before_any_job_row(string keyType)
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE secrets (k {keyType} NOT NULL UNIQUE, secret text)");

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret", KeyColumn = "k" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("KeyColumnTypeUnsupported", e.ErrorId);
        AssertNoJobTables(db);
    }

    [Theory]
    [InlineData("blob")]
    [InlineData("varbinary(200)")]
    [InlineData("int")]
    [InlineData("json")]
    [InlineData("enum('a','b')")]
    public void A_MySQL_column_that_does_not_hold_text_is_refused_before_any_job_row(string columnType)
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE secrets (k bigint PRIMARY KEY, secret {columnType})");

        var e = Assert.Throws<SecretsPSException>(() =>
            db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "secrets", Column = "secret" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("ColumnTypeUnsupported", e.ErrorId);
        AssertNoJobTables(db);
    }

    [Theory]
    [InlineData("varchar(300)")]
    [InlineData("varchar(300) CHARACTER SET latin1")]
    [InlineData("char(200)")]
    [InlineData("tinytext")]
    [InlineData("text")]
    [InlineData("mediumtext CHARACTER SET latin1 COLLATE latin1_general_cs")]
    [InlineData("longtext")]
    public void Every_MySQL_text_column_type_is_reencrypted_and_its_length_honoured(string columnType)
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE secrets (k bigint PRIMARY KEY, secret {columnType})");
        var plain = new HashSet<string>();
        for (int i = 1; i <= 20; i++)
        {
            var text = "p" + i;
            plain.Add(text);
            db.Execute("INSERT INTO secrets VALUES (@p0, @p1)", (long)i, keys.Ring.Protect(text, "v1"));
        }

        var job = RunInSlices(db, keys.Ring, new ReencryptionOptions { Table = "secrets", Column = "secret", BatchSize = 3, CommitEvery = 3, MaxRows = 7 });

        Assert.Equal((JobStatus.Finished, 20L), (job.StatusKind, job.Processed));
        AssertAllAt(db, keys.Ring, 20, "v2", plain);
        using var connection = db.Open();
        var max = db.Dialect.ColumnMaxLength(connection, new TableName(null, "secrets"), "secret");
        Output.WriteLine($"{columnType}: max length {max}");
        Assert.Equal(columnType switch { "varchar(300)" or "varchar(300) CHARACTER SET latin1" => 300, "char(200)" => 200, "tinytext" => 255, "text" => 65535, _ => (int?)null } ?? max, max);
    }

    [Fact]
    public void The_count_by_version_tells_v1_from_V1_skips_leading_whitespace_and_counts_a_latin1_column()
    {
        Unavailable();
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE secrets (k bigint PRIMARY KEY, secret varchar(300) COLLATE utf8mb4_general_ci, latin varchar(300) CHARACTER SET latin1)");
        var v1 = keys.Ring.Protect("a", "v1");
        var v2 = keys.Ring.Protect("b", "v2");
        var values = new[] { v1, "V1" + v1[2..], "\u3000 \t" + v2, "\u00a0" + v1, v2 + " ", "v1:z0fbqufb-not-a-token", "https://x", null };
        for (int i = 0; i < values.Length; i++)
            db.Execute("INSERT INTO secrets VALUES (@p0, @p1, @p2)", (long)i, values[i], values[i]?.Replace("\u3000", " "));

        using var connection = db.Open();
        foreach (var column in new[] { "secret", "latin" })
        {
            var status = ColumnStatusReader.Read(db.Dialect, connection, "secrets", column, keys.Ring);
            Output.WriteLine($"{column}: {string.Join(", ", status.RowsByVersion.Select(p => $"{p.Key}={p.Value}"))}; not ciphertext {status.NotCiphertext}");
            Assert.Equal(new Dictionary<string, long> { ["V1"] = 1, ["v1"] = 2, ["v2"] = 2 }, status.RowsByVersion);
            Assert.Equal((8L, 1L, 2L), (status.TotalRows, status.NullRows, status.NotCiphertext));
        }
    }
}
