using System.Text.RegularExpressions;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The SQL the dialects emit, as text. SQL Server is tested this way only (no server here): every statement
/// the engine and the job store send is asserted exactly, and no identifier from a parameter ever appears
/// unquoted. PostgreSQL and SQLite run for real in the Reencryption* tests; here, their quoting of hostile names.
/// </summary>
public sealed class SqlDialectTests
{
    private static readonly SqlServerDialect SqlServer = new();
    private static readonly TableName T = new(null, "secrets");
    private static readonly TableName Jobs = new(null, "reencrypt_jobs");
    private static readonly TableName Errors = new(null, "reencrypt_job_errors");

    /// <summary>A target as the engine gets it from ColumnTarget.Resolve: a bigint key and an nvarchar column.</summary>
    private static ColumnTarget Target(TableName table, string key = "id", string column = "secret", string keyType = "bigint") =>
        ColumnTarget.Declared(table, column, key, new ColumnType(keyType, keyType.Split('(')[0]), new ColumnType("nvarchar(200)", "nvarchar"));

    // Hostile names: each closes a quote, ends a statement, starts a comment, and is unique enough to find.
    private const string HostileSchema = "sch]ema\"; DROP SCHEMA s; --";
    private const string HostileTable = "ta]ble'; DROP TABLE t; --";
    private const string HostileKey = "ke]y\" OR 1=1 --";
    private const string HostileColumn = "co]l /* */ ; SELECT 1";

    // ------------------------------------------------------------------ SQL Server: exact text

    [Theory]
    [InlineData("secret", "[secret]")]
    [InlineData("a]b", "[a]]b]")]
    [InlineData("]]", "[]]]]]")]
    [InlineData("[x]", "[[x]]]")]
    [InlineData("name with spaces; --", "[name with spaces; --]")]
    [InlineData("quote\"and'apostrophe", "[quote\"and'apostrophe]")]
    public void SqlServer_quotes_identifiers_in_brackets_with_closing_brackets_doubled(string name, string quoted)
    {
        Assert.Equal(quoted, SqlServer.Quote(name));
    }

    [Fact]
    public void SqlServer_quotes_each_part_of_a_schema_qualified_table()
    {
        Assert.Equal("[dbo].[se]]crets]", SqlServer.QuoteTable(new TableName("dbo", "se]crets")));
        Assert.Equal("[secrets]", SqlServer.QuoteTable(T));
    }

    [Fact]
    public void SqlServer_SelectPage_uses_TOP_and_the_cursor_parameter_converted_back_to_the_key_type()
    {
        Assert.Equal("SELECT TOP (500) CONVERT(nvarchar(4000), [id]), [secret] FROM [secrets] WHERE [secret] IS NOT NULL ORDER BY [id]",
            SqlServer.SelectPage(Target(T), 500, fromStart: true));
        Assert.Equal("SELECT TOP (200) CONVERT(nvarchar(4000), [id]), [secret] FROM [dbo].[secrets] WHERE [secret] IS NOT NULL AND [id] > CONVERT(bigint, @after) ORDER BY [id]",
            SqlServer.SelectPage(Target(new TableName("dbo", "secrets")), 200, fromStart: false));
    }

    [Theory]
    [InlineData("datetime2(7)", "CONVERT(nvarchar(4000), [id], 126)", "CONVERT(datetime2(7), @after, 126)")]
    [InlineData("datetimeoffset(3)", "CONVERT(nvarchar(4000), [id], 126)", "CONVERT(datetimeoffset(3), @after, 126)")]
    [InlineData("float", "CONVERT(nvarchar(4000), [id], 3)", "CONVERT(float, @after, 3)")]
    [InlineData("decimal(38, 10)", "CONVERT(nvarchar(4000), [id])", "CONVERT(decimal(38, 10), @after)")]
    [InlineData("varchar(20)", "CONVERT(nvarchar(4000), [id])", "CONVERT(varchar(20), @after)")]
    public void SqlServer_cursor_texts_use_a_style_that_keeps_every_digit_and_the_offset(string keyType, string asText, string back)
    {
        var sql = SqlServer.SelectPage(Target(T, keyType: keyType), 10, fromStart: false);

        Assert.Contains(asText, sql);
        Assert.Contains(back, sql);
    }

    [Theory]
    [InlineData("money", false)]
    [InlineData("sql_variant", false)]
    [InlineData("varbinary(16)", false)]
    [InlineData("nvarchar(max)", false)]
    [InlineData("int", true)]
    [InlineData("uniqueidentifier", true)]
    [InlineData("datetime2(3)", true)]
    [InlineData("char(10)", true)]
    public void SqlServer_pages_only_key_types_whose_text_compares_back_exactly(string declared, bool pages)
    {
        Assert.Equal(pages, SqlServer.PagesExactly(new ColumnType(declared, declared.Split('(')[0])));
    }

    [Theory]
    [InlineData("nvarchar", true)]
    [InlineData("varchar", true)]
    [InlineData("char", true)]
    [InlineData("ntext", false)]
    [InlineData("varbinary", false)]
    [InlineData("int", false)]
    public void SqlServer_re_encrypts_only_text_columns(string type, bool holds)
    {
        Assert.Equal(holds, SqlServer.HoldsText(new ColumnType(type, type)));
    }

    [Fact]
    public void SqlServer_Declare_rebuilds_the_declared_type_from_INFORMATION_SCHEMA()
    {
        Assert.Equal("nvarchar(max)", SqlServerDialect.Declare("nvarchar", -1, null, null, null).Declared);
        Assert.Equal("varchar(50)", SqlServerDialect.Declare("varchar", 50, null, null, null).Declared);
        Assert.Equal("decimal(18, 4)", SqlServerDialect.Declare("decimal", null, 18, 4, null).Declared);
        Assert.Equal("datetime2(3)", SqlServerDialect.Declare("datetime2", null, null, null, 3).Declared);
        Assert.Equal("int", SqlServerDialect.Declare("INT", null, 10, 0, null).Declared);
    }

    [Fact]
    public void SqlServer_UpdateStatement_joins_a_VALUES_list_guards_on_the_old_value_and_counts_only_rows_that_now_hold_the_new_value()
    {
        // OUTPUT without INTO is refused on a table with an enabled trigger (error 334): the keys go into @written, then are selected.
        Assert.Equal(
            "DECLARE @written TABLE (k nvarchar(4000) NOT NULL, n nvarchar(max) NOT NULL) " +
            "UPDATE target SET target.[secret] = v.n OUTPUT CONVERT(nvarchar(4000), inserted.[id]), v.n INTO @written (k, n) FROM [secrets] AS target " +
            "INNER JOIN (VALUES (@k0, @o0, @n0), (@k1, @o1, @n1), (@k2, @o2, @n2)) AS v(k, o, n) " +
            "ON target.[id] = CONVERT(bigint, v.k) AND target.[secret] = v.o COLLATE Latin1_General_100_BIN2 " +
            // Written means the row now holds the new value: a trigger that undid or replaced the write is not counted.
            "SELECT w.k AS secretsps_written_key FROM @written AS w INNER JOIN [secrets] AS stored " +
            "ON stored.[id] = CONVERT(bigint, w.k) AND stored.[secret] = w.n COLLATE Latin1_General_100_BIN2",
            SqlServer.UpdateStatement(Target(T), 3));
    }

    [Fact]
    public void SqlServer_UpdateCommand_declares_the_same_column_types_whatever_the_values_lengths()
    {
        // Sized by each value, every batch would declare other parameter types: one compiled plan per batch on the server.
        using var connection = new Microsoft.Data.SqlClient.SqlConnection();
        RowUpdate[] rows = [new("1", "v1:short", "v2:x"), new("22", "v1:" + new string('y', 150), "v2:" + new string('z', 190)), new("7", "v1:q", "v2:r")];

        using var command = SqlServer.UpdateCommand(connection, Target(T), rows, 0, rows.Length);

        var p = command.Parameters.Cast<Microsoft.Data.SqlClient.SqlParameter>().ToDictionary(x => x.ParameterName);
        Assert.Equal(9, p.Count);
        long[] keys = [1, 22, 7];
        for (int i = 0; i < 3; i++)
        {
            // A bigint key travels as a bigint: its cursor text is parsed, never compared as text.
            Assert.Equal((System.Data.SqlDbType.BigInt, keys[i]), (p["@k" + i].SqlDbType, (long)p["@k" + i].Value));
            Assert.Equal((System.Data.SqlDbType.NVarChar, 200), (p["@o" + i].SqlDbType, p["@o" + i].Size));
            Assert.Equal((System.Data.SqlDbType.NVarChar, 200), (p["@n" + i].SqlDbType, p["@n" + i].Size));
        }
        Assert.Equal(SqlServer.UpdateStatement(Target(T), 3), command.CommandText);
    }

    [Fact]
    public void SqlServer_UpdateStatement_stays_under_the_2100_parameter_limit()
    {
        var sql = SqlServer.UpdateStatement(Target(T), SqlServerDialect.RowsPerStatement);
        Assert.Equal(3 * SqlServerDialect.RowsPerStatement, Regex.Matches(sql, @"@[kon]\d+").Count);
        Assert.True(3 * SqlServerDialect.RowsPerStatement < 2100);
        Assert.Contains($"@n{SqlServerDialect.RowsPerStatement - 1})", sql);
    }

    [Fact]
    public void SqlServer_CreateJobTables_creates_both_tables_only_when_missing_and_the_job_id_index_with_its_table()
    {
        var sql = SqlServer.CreateJobTables(Jobs, Errors).ToList();

        Assert.Equal(
        [
            "IF OBJECT_ID(N'[reencrypt_jobs]', N'U') IS NULL CREATE TABLE [reencrypt_jobs] (" +
            "id BIGINT IDENTITY(1,1) PRIMARY KEY, table_name NVARCHAR(400) NOT NULL, column_name NVARCHAR(200) NOT NULL, key_column NVARCHAR(200) NOT NULL, " +
            "target_version NVARCHAR(64) NOT NULL, status NVARCHAR(16) NOT NULL, total_rows BIGINT NOT NULL DEFAULT 0, processed BIGINT NOT NULL DEFAULT 0, " +
            "skipped BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0, last_key NVARCHAR(900) NULL, batch_size INT NOT NULL, " +
            "commit_every INT NOT NULL, created_at DATETIME2 NOT NULL, started_at DATETIME2 NULL, updated_at DATETIME2 NULL, finished_at DATETIME2 NULL, owner NVARCHAR(200) NULL, message NVARCHAR(2000) NULL)",
            "IF OBJECT_ID(N'[reencrypt_job_errors]', N'U') IS NULL BEGIN CREATE TABLE [reencrypt_job_errors] (job_id BIGINT NOT NULL, row_key NVARCHAR(900) NULL, reason NVARCHAR(2000) NOT NULL, created_at DATETIME2 NOT NULL) " +
            "CREATE INDEX [reencrypt_job_errors_job] ON [reencrypt_job_errors] (job_id) END",
        ], sql);
    }

    [Fact]
    public void SqlServer_CreateJobTables_escapes_an_apostrophe_in_the_OBJECT_ID_literal()
    {
        var sql = SqlServer.CreateJobTables(new TableName("ops", "o'jobs"), new TableName("ops", "o'job_errors")).ToList();

        Assert.StartsWith("IF OBJECT_ID(N'[ops].[o''jobs]', N'U') IS NULL CREATE TABLE [ops].[o'jobs] (", sql[0]);
        Assert.StartsWith("IF OBJECT_ID(N'[ops].[o''job_errors]', N'U') IS NULL BEGIN CREATE TABLE [ops].[o'job_errors] (", sql[1]);
        Assert.EndsWith(" CREATE INDEX [o'job_errors_job] ON [ops].[o'job_errors] (job_id) END", sql[1]);
    }

    [Fact]
    public void SqlServer_InsertReturningId_uses_OUTPUT_inserted_id()
    {
        Assert.Equal("INSERT INTO [reencrypt_jobs] ([table_name], [status]) OUTPUT inserted.[id] VALUES (@table_name, @status)",
            SqlServer.InsertReturningId(Jobs, ["table_name", "status"]));
    }

    [Fact]
    public void SqlServer_SelectTop_uses_TOP_with_the_limit_parameter()
    {
        Assert.Equal("SELECT TOP (@limit) id, status FROM [reencrypt_jobs] WHERE id = @id ORDER BY id DESC",
            SqlServer.SelectTop(Jobs, "id, status", "id = @id", "id DESC"));
        Assert.Equal("SELECT TOP (@limit) id FROM [reencrypt_jobs] ORDER BY id DESC", SqlServer.SelectTop(Jobs, "id", "", "id DESC"));
    }

    [Fact]
    public void SqlServer_CountByPrefix_groups_stored_values_by_the_text_before_the_first_colon()
    {
        // A prefix counts only when what follows the colon starts as a stored token does (base64url of "gAAAAA").
        // Leading whitespace is skipped first, as the application's own reading (Python's strip) skips it.
        const string spaces = "NCHAR(9) + NCHAR(10) + NCHAR(11) + NCHAR(12) + NCHAR(13) + NCHAR(28) + NCHAR(29) + NCHAR(30) + NCHAR(31) + NCHAR(32) + NCHAR(133) + NCHAR(160) + " +
                              "NCHAR(5760) + NCHAR(8192) + NCHAR(8193) + NCHAR(8194) + NCHAR(8195) + NCHAR(8196) + NCHAR(8197) + NCHAR(8198) + NCHAR(8199) + NCHAR(8200) + NCHAR(8201) + " +
                              "NCHAR(8202) + NCHAR(8232) + NCHAR(8233) + NCHAR(8239) + NCHAR(8287) + NCHAR(12288)";
        const string t = "SUBSTRING([secret], PATINDEX(N'%' + NCHAR(91) + N'^' + " + spaces + " + NCHAR(93) + N'%', [secret]), 2147483647)";
        static string Classify(string x) =>
            $"CASE WHEN CHARINDEX(':', {x}) > 1 AND SUBSTRING({x}, CHARINDEX(':', {x}) + 1, 8) COLLATE Latin1_General_100_BIN2 = 'Z0FBQUFB' " +
            $"THEN LEFT({x}, CHARINDEX(':', {x}) - 1) COLLATE Latin1_General_100_BIN2 ELSE '' END";
        const string codes = "9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288";
        var group = $"CASE WHEN [secret] IS NULL THEN NULL WHEN UNICODE([secret]) IN ({codes}) THEN {Classify(t)} ELSE {Classify("[secret]")} END";
        Assert.Equal($"SELECT grouped.prefix, COUNT(*) FROM (SELECT {group} AS prefix FROM [secrets]) AS grouped GROUP BY grouped.prefix",
            SqlServer.CountByPrefix(T, "secret"));
    }

    [Fact]
    public void SqlServer_the_other_statements_are_exact()
    {
        Assert.Equal("SELECT [id], [secret] FROM [secrets] WHERE 1 = 0", SqlServer.Probe(T, "id", "secret"));
        Assert.Equal("SELECT COUNT(*) FROM [secrets] WHERE [secret] IS NOT NULL", SqlServer.CountNonNull(T, "secret"));
        Assert.Equal("SELECT [secret] FROM [secrets] WHERE [id] = CONVERT(bigint, @key)", SqlServer.SelectOne(Target(T)));
        Assert.Equal("SELECT TOP (5) [secret] FROM [secrets] WHERE [secret] IS NOT NULL", SqlServer.SelectSample(T, "secret", 5));
        Assert.Equal("SELECT [secret] FROM [secrets] WHERE 1 = 0", SqlServer.ProbeColumn(T, "secret"));
        Assert.Equal("EXEC sp_getapplock @Resource = @target, @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 30000",
            SqlServerDialect.LockStatement);
        Assert.DoesNotContain("'", SqlServerDialect.PrimaryKeyQuery.Replace("'PRIMARY KEY'", ""));
        Assert.Contains("@t", SqlServerDialect.PrimaryKeyQuery);
        Assert.Contains("@s", SqlServerDialect.ColumnLengthQuery);
        Assert.Contains("@c", SqlServerDialect.ColumnLengthQuery);
    }

    // ------------------------------------------------------------------ no identifier unquoted, in any dialect

    [Fact]
    public void SQLite_job_tables_in_another_schema_get_their_index_in_that_schema()
    {
        var dialect = new SqliteDialect();
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:");
        connection.Open();

        foreach (var sql in dialect.CreateJobTables(new TableName("temp", "jobs"), new TableName("temp", "jobs_errors")))
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        using var check = connection.CreateCommand();
        check.CommandText = "SELECT count(*) FROM temp.sqlite_master WHERE type = 'index' AND name = 'jobs_errors_job'";
        Assert.Equal(1L, check.ExecuteScalar());
    }

    [Fact]
    public void A_SQLite_connection_string_that_does_not_parse_is_refused_without_quoting_it()
    {
        var e = Assert.Throws<SecretsPSException>(() => new SqliteDialect().CreateConnection("Data Source=a.db;Password Hint=hunter2", DatabaseSignIn.None, readOnly: false));

        Assert.Equal("ConnectionStringInvalid", e.ErrorId);
        Assert.DoesNotContain("hunter2", e.Message);
    }

    public static TheoryData<string> Dialects => new() { "SqlServer", "PostgreSql", "Sqlite" };

    private static SqlDialect Dialect(string name) => (SqlDialect)SqlDialect.For(Enum.Parse<DatabaseProvider>(name));

    /// <summary>
    /// Every statement built from hostile names, with every quoted occurrence of a name removed: what is left
    /// must contain no fragment of any name. A name that was concatenated unquoted would leave its text behind.
    /// </summary>
    [Theory]
    [MemberData(nameof(Dialects))]
    public void No_identifier_ever_appears_unquoted_in_any_emitted_statement(string provider)
    {
        var d = Dialect(provider);
        var table = new TableName(HostileSchema, HostileTable);
        var bare = new TableName(null, HostileTable);
        var jobs = new TableName(HostileSchema, HostileTable + "jobs");
        var errors = new TableName(HostileSchema, HostileTable + "job_errors");
        var statements = new List<string>
        {
            d.SelectPage(Target(table, HostileKey, HostileColumn), 10, fromStart: true),
            d.SelectPage(Target(bare, HostileKey, HostileColumn), 10, fromStart: false),
            d.Probe(table, HostileKey, HostileColumn),
            d.CountNonNull(table, HostileColumn),
            d.CountByPrefix(table, HostileColumn),
            d.SelectOne(Target(table, HostileKey, HostileColumn)),
            d.UpdateOneStatement(Target(table, HostileKey, HostileColumn)),
            d.SelectSample(table, HostileColumn, 5),
            d.ProbeColumn(table, HostileColumn),
            d.InsertReturningId(jobs, ["table_name", "status"]),
            d.SelectTop(jobs, "id", "id = @id", "id DESC"),
        };
        statements.AddRange(d.CreateJobTables(jobs, errors));
        if (d is SqlServerDialect s) statements.Add(s.UpdateStatement(Target(table, HostileKey, HostileColumn), 2));
        if (d is PostgreSqlDialect p) statements.Add(p.UpdateStatement(Target(table, HostileKey, HostileColumn)));

        var quotedForms = new[] { HostileSchema, HostileTable, HostileKey, HostileColumn, HostileTable + "jobs", HostileTable + "job_errors", HostileTable + "job_errors_job" }
            .Select(d.Quote)
            .SelectMany(q => new[] { q, q.Replace("'", "''") }) // SQL Server repeats the table inside an N'…' literal
            .OrderByDescending(q => q.Length)
            .ToList();
        foreach (var sql in statements)
        {
            var rest = sql;
            foreach (var q in quotedForms) rest = rest.Replace(q, "«name»");
            foreach (var fragment in new[] { "DROP", "OR 1=1", "/*", "--", ";", "SELECT 1", "sch]", "ta]ble", "ke]y", "co]l" })
                Assert.False(rest.Contains(fragment, StringComparison.Ordinal), $"{provider}: '{fragment}' outside a quoted name in: {sql}");
        }
    }

    // ------------------------------------------------------------------ PostgreSQL and SQLite quoting

    [Theory]
    [InlineData("PostgreSql")]
    [InlineData("Sqlite")]
    public void PostgreSql_and_Sqlite_quote_with_double_quotes_and_double_embedded_quotes(string provider)
    {
        var d = Dialect(provider);

        Assert.Equal("\"secret\"", d.Quote("secret"));
        Assert.Equal("\"weird \"\"table\"\"; DROP TABLE x; --\"", d.Quote("weird \"table\"; DROP TABLE x; --"));
        Assert.Equal("\"a]b\"", d.Quote("a]b"));
        Assert.Equal("\"it's\"", d.Quote("it's"));
        Assert.Equal("\"\"\"\"", d.Quote("\""));
        Assert.Equal("\"app\".\"us\"\"ers\"", d.QuoteTable(new TableName("app", "us\"ers")));
        Assert.Equal("\"my.table\"", d.QuoteTable(Identifier.ParseTable("\"my.table\"")));
    }

    [Fact]
    public void PostgreSql_pages_by_the_key_text_cast_back_to_the_key_type_and_SQLite_by_the_key_as_stored()
    {
        var pg = Dialect("PostgreSql");
        var ts = Target(T, keyType: "timestamp(3) with time zone");
        Assert.Equal("SELECT CAST(\"id\" AS text), CAST(\"secret\" AS text) FROM \"secrets\" WHERE \"secret\" IS NOT NULL ORDER BY \"secrets\".\"id\" LIMIT 500", pg.SelectPage(ts, 500, true));
        Assert.Equal("SELECT CAST(\"id\" AS text), CAST(\"secret\" AS text) FROM \"secrets\" WHERE \"secret\" IS NOT NULL AND \"id\" > CAST(@after AS timestamp(3) with time zone) ORDER BY \"secrets\".\"id\" LIMIT 5", pg.SelectPage(ts, 5, false));
        var sqlite = Dialect("Sqlite");
        Assert.Equal("SELECT \"id\", \"secret\" FROM \"secrets\" WHERE \"secret\" IS NOT NULL ORDER BY \"secrets\".\"id\" LIMIT 500", sqlite.SelectPage(Target(T, keyType: ""), 500, true));
        Assert.Equal("SELECT \"id\", \"secret\" FROM \"secrets\" WHERE \"secret\" IS NOT NULL AND \"id\" > @after ORDER BY \"secrets\".\"id\" LIMIT 5", sqlite.SelectPage(Target(T, keyType: ""), 5, false));
    }

    [Theory]
    [InlineData("SqlServer")]
    [InlineData("PostgreSql")]
    [InlineData("Sqlite")]
    public void Every_dialect_refuses_an_empty_name_or_one_with_a_control_character(string provider)
    {
        var d = Dialect(provider);
        foreach (var name in new[] { "", " ", "a\nb", "a\0b", "tab\there", "a\u0085b", "\u007f", "x\u200Fy\r" })
            Assert.Equal("IdentifierInvalid", Assert.Throws<SecretsPSException>(() => d.Quote(name)).ErrorId);
        // PostgreSQL keeps 63 bytes of a name and cuts the rest silently, so it refuses anything longer.
        int max = provider == "PostgreSql" ? PostgreSqlDialect.MaxIdentifierBytes : Identifier.MaxLength;
        Assert.Equal("IdentifierInvalid", Assert.Throws<SecretsPSException>(() => d.Quote(new string('a', max + 1))).ErrorId);
        Assert.Equal(max + 2, d.Quote(new string('a', max)).Length);
    }

    // ------------------------------------------------------------------ Identifier

    [Theory]
    [InlineData("users", null, "users")]
    [InlineData("app.users", "app", "users")]
    [InlineData("\"my.table\"", null, "my.table")]
    [InlineData("\"my.schema\".\"my.table\"", "my.schema", "my.table")]
    [InlineData("\"say \"\"hi\"\"\"", null, "say \"hi\"")]
    public void ParseTable_splits_on_the_first_dot_outside_double_quotes(string text, string? schema, string name)
    {
        Assert.Equal(new TableName(schema, name), Identifier.ParseTable(text));
    }

    [Theory]
    [InlineData("a.b.c")]
    [InlineData(".users")]
    [InlineData("app.")]
    [InlineData("\"unterminated")]
    [InlineData("")]
    [InlineData("app.\u0001users")]
    public void ParseTable_refuses_what_is_not_table_or_schema_dot_table(string text)
    {
        Assert.Equal("IdentifierInvalid", Assert.Throws<SecretsPSException>(() => Identifier.ParseTable(text)).ErrorId);
    }

    /// <summary>
    /// A name that holds quotes without being a quoted name (as a table can be called in PostgreSQL or SQLite)
    /// is either that name, or refused: Identifier.ParseTable must not turn it into a different, existing name.
    /// </summary>
    [Theory]
    [InlineData("weird \"table\"; DROP TABLE x; --")]
    [InlineData("ab\"cd\"")]
    [InlineData("a\"b.c\"d")]
    public void ParseTable_takes_a_name_with_inner_quotes_literally_or_refuses_it_never_changes_it(string text)
    {
        TableName? parsed = null;
        try { parsed = Identifier.ParseTable(text); }
        catch (SecretsPSException e) { Assert.Equal("IdentifierInvalid", e.ErrorId); }

        // An unquoted dot separates schema and table; the parts keep their quotes as plain characters.
        if (parsed is not null) Assert.Equal(text, parsed.ToString());
    }

    [Fact]
    public void An_identifier_with_an_unpaired_surrogate_is_refused_with_IdentifierInvalid()
    {
        // Identifier.Validate means to refuse these (its surrogate test), but the condition can never be true.
        foreach (var name in new[] { "a\uD800b", "\uDC00", "x\uD83D" })
            Assert.Equal("IdentifierInvalid", Assert.Throws<SecretsPSException>(() => Identifier.Validate(name, "column")).ErrorId);
        Assert.Equal("🔑", Identifier.Validate("🔑", "column")); // a pair is fine
    }
}
