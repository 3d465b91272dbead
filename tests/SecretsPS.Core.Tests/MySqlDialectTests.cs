using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>The MySQL dialect's SQL without a server: quoting, names MySQL would refuse or cut, literals no value can leave, type judgments.</summary>
public sealed class MySqlDialectTests
{
    private static readonly MySqlDialect Dialect = new();

    [Theory]
    [InlineData("users", "`users`")]
    [InlineData("us`ers", "`us``ers`")]
    [InlineData("a\"b'; DROP TABLE x; --", "`a\"b'; DROP TABLE x; --`")]
    [InlineData("ünïcödé", "`ünïcödé`")]
    public void Names_are_quoted_with_backticks_and_an_embedded_backtick_is_doubled(string name, string quoted) =>
        Assert.Equal(quoted, Dialect.Quote(name));

    [Theory]
    [InlineData("a", true)]
    [InlineData("a ", false)]
    [InlineData("key🔑", false)]
    public void A_name_MySQL_would_refuse_is_IdentifierInvalid(string name, bool accepted)
    {
        if (accepted) { Assert.Equal("`a`", Dialect.Quote(name)); return; }
        Assert.Equal("IdentifierInvalid", Assert.Throws<SecretsPSException>(() => Dialect.Quote(name)).ErrorId);
    }

    [Fact]
    public void A_name_of_64_characters_is_quoted_and_one_of_65_is_refused_naming_the_limit()
    {
        Assert.Equal("`" + new string('é', 64) + "`", Dialect.Quote(new string('é', 64)));
        var e = Assert.Throws<SecretsPSException>(() => Dialect.QuoteTable(new TableName(null, new string('t', 65))));
        Assert.Equal("IdentifierInvalid", e.ErrorId);
        Assert.Contains("64", e.Message);
    }

    [Fact]
    public void Every_text_becomes_a_hexadecimal_literal_that_nothing_in_it_can_end()
    {
        var gen = new Random(20261205);
        for (int n = 0; n < 2000; n++)
        {
            var chars = Enumerable.Range(0, gen.Next(0, 40)).Select(_ => gen.Next(5) == 0 ? (char)gen.Next(0x80, 0xD7FF) : (char)gen.Next(0, 0x80)).ToArray();
            var text = new string(chars);
            var literal = MySqlDialect.Text(text);
            Assert.StartsWith("CONVERT(X'", literal);
            Assert.EndsWith("' USING utf8mb4)", literal);
            var hex = literal["CONVERT(X'".Length..^"' USING utf8mb4)".Length];
            Assert.Matches("^([0-9A-F]{2})*$", hex);
            Assert.Equal(text, System.Text.Encoding.UTF8.GetString(Convert.FromHexString(hex)));
        }
    }

    [Fact]
    public void Column_names_that_MySQL_takes_for_the_same_column_are_the_same_identifier()
    {
        Assert.True(Dialect.SameIdentifier("Secret", "secret"));
        Assert.True(Dialect.SameIdentifier("sécret", "SECRET"));
        Assert.False(Dialect.SameIdentifier("secret", "secrets"));
    }

    [Theory]
    [InlineData("varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "varchar", true)]
    [InlineData("text CHARACTER SET latin1 COLLATE latin1_swedish_ci", "text", true)]
    [InlineData("varbinary(100)", "varbinary", false)]
    [InlineData("blob", "blob", false)]
    [InlineData("json", "json", false)]
    [InlineData("int(11)", "int", false)]
    public void Only_text_in_a_character_set_holds_a_stored_value(string declared, string baseType, bool holds) =>
        Assert.Equal(holds, Dialect.HoldsText(new ColumnType(declared, baseType)));

    [Fact]
    public void The_update_guards_bytes_and_joins_on_the_key_in_its_own_type()
    {
        var target = ColumnTarget.Declared(new TableName("app", "t"), "c", "id", new ColumnType("bigint(20) unsigned", "bigint"),
            new ColumnType("varchar(500) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "varchar"));
        var sql = Dialect.UpdateStatement(target, [new RowUpdate("18446744073709551615", "v1:a'", "v2:b")], 0, 1);

        Assert.Equal("UPDATE `app`.`t` AS target INNER JOIN (SELECT CONVERT(X'3138343436373434303733373039353531363135' USING utf8mb4) AS k, X'76313A6127' AS o, " +
                     "CONVERT(X'76323A62' USING utf8mb4) AS n) AS v ON target.`id` = CAST(v.k AS UNSIGNED) SET target.`c` = v.n " +
                     "WHERE CAST(CONVERT(target.`c` USING utf8mb4) AS BINARY) = v.o", sql);
    }

    [Theory]
    [InlineData("8.0.36", true)]
    [InlineData("8.4.0-commercial", true)]
    [InlineData("8.0.0", false)]
    [InlineData("5.7.44-log", false)]
    [InlineData("10.11.19-MariaDB-0+deb12u1", true)]
    [InlineData("5.5.5-10.6.16-MariaDB", true)]
    [InlineData("10.5.23-MariaDB-log", false)]
    [InlineData("11.4.2-MariaDB", true)]
    [InlineData("", false)]
    [InlineData("not a version", false)]
    public void A_chunk_claim_skips_locked_rows_only_on_servers_that_can(string serverVersion, bool skips)
    {
        Assert.Equal(skips, MySqlDialect.SkipsLockedRows(serverVersion));
        var sql = new MySqlDialect().SelectForClaim(new TableName(null, "reencrypt_job_chunks"), "chunk", "job_id = @job", "chunk", skips);
        Assert.EndsWith(skips ? "FOR UPDATE SKIP LOCKED" : "ORDER BY chunk FOR UPDATE", sql);
    }

    [Theory]
    [InlineData("10.11.19-MariaDB", true)]
    [InlineData("10.6.0-MariaDB-1:10.6.0+maria~focal", true)]
    [InlineData("5.5.5-10.6.12-MariaDB", true)]
    [InlineData("10.5.22-MariaDB", false)]
    [InlineData("5.5.5-10.5.9-MariaDB-log", false)]
    [InlineData("8.0.4-rc-log", true)]
    [InlineData("8.0.36", true)]
    [InlineData("9.1.0", true)]
    [InlineData("8.0.3-rc", false)]
    [InlineData("5.7.44-log", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("not a version", false)]
    public void Rows_travel_as_JSON_only_to_servers_with_JSON_TABLE(string? serverVersion, bool json) =>
        Assert.Equal(json, MySqlDialect.ReadsJsonRows(serverVersion));

    [Fact]
    public void Every_text_becomes_a_JSON_string_that_reads_back_as_the_same_text()
    {
        var gen = new Random(20261205);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        for (int n = 0; n < 5000; n++)
        {
            var chars = new List<char>();
            for (int i = gen.Next(0, 30); i > 0; i--)
            {
                switch (gen.Next(6))
                {
                    case 0: chars.Add((char)gen.Next(0, 0x80)); break;
                    case 1: chars.Add("\"\\/\b\f\n\r\t\0\u007f"[gen.Next(10)]); break;
                    case 2: chars.Add((char)gen.Next(0x80, 0xD800)); break;
                    case 3: chars.Add((char)gen.Next(0xE000, 0x10000)); break;
                    case 4: var pair = char.ConvertFromUtf32(gen.Next(0x10000, 0x110000)); chars.Add(pair[0]); chars.Add(pair[1]); break;
                    default: chars.Add((char)gen.Next(0x20, 0x7F)); break;
                }
            }
            var text = new string(chars.ToArray());
            buffer.ResetWrittenCount();
            MySqlJsonRows.AppendString(buffer, text);
            var json = buffer.WrittenSpan;
            Assert.Equal(text, System.Text.Json.JsonSerializer.Deserialize<string>(json));
            // Nothing below U+0020 travels raw: a server's JSON reader may stop at it.
            Assert.DoesNotContain(json.ToArray(), b => b < 0x20);
        }
    }
}

