using System.Data;
using CsCheck;
using Microsoft.Data.SqlClient;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The type each SQL Server parameter is declared with, per column type (no server here: the parameters are read off
/// the commands the dialect builds). A varchar column under SQL_Latin1_General_CP1_CI_AS gets varchar parameters, so
/// the key seek stays a seek; the guard's old value stays Unicode, so the comparison stays exact.
/// </summary>
public sealed class SqlServerParameterTypeTests
{
    private static readonly SqlServerDialect Dialect = new();

    private static ColumnType Type(string name, int? length = null, int? precision = null, int? scale = null, int? datetimePrecision = null,
        string? collation = null, bool sharesDatabaseCodePage = true) =>
        SqlServerDialect.Declare(name, length, precision, scale, datetimePrecision, collation, sharesDatabaseCodePage);

    public static TheoryData<string, ColumnType, string> KeyColumns => new()
    {
        { "tinyint", Type("tinyint", precision: 3, scale: 0), "tinyint" },
        { "smallint", Type("smallint", precision: 5, scale: 0), "smallint" },
        { "int", Type("int", precision: 10, scale: 0), "int" },
        { "bigint", Type("bigint", precision: 19, scale: 0), "bigint" },
        { "bit", Type("bit"), "bit" },
        { "uniqueidentifier", Type("uniqueidentifier"), "uniqueidentifier" },
        { "varchar(50) SQL_Latin1_General_CP1_CI_AS", Type("varchar", 50, collation: "SQL_Latin1_General_CP1_CI_AS"), "varchar(50)" },
        { "char(10) SQL_Latin1_General_CP1_CI_AS", Type("char", 10, collation: "SQL_Latin1_General_CP1_CI_AS"), "char(10)" },
        { "nvarchar(100)", Type("nvarchar", 100, collation: "Latin1_General_100_CI_AS"), "nvarchar(100)" },
        { "nchar(12)", Type("nchar", 12, collation: "Latin1_General_100_CI_AS"), "nchar(12)" },
        // The column's code page is not the database's (which the client encodes 8-bit parameters in): Unicode, exact.
        { "varchar(50) Cyrillic_General_CI_AS in a Latin1 database", Type("varchar", 50, collation: "Cyrillic_General_CI_AS", sharesDatabaseCodePage: false), "nvarchar(50)" },
        // Decimals, floats, dates and times: the server's own text, converted back on the parameter's side.
        { "decimal(18, 4)", Type("decimal", precision: 18, scale: 4), "varchar(64)" },
        { "numeric(38, 10)", Type("numeric", precision: 38, scale: 10), "varchar(64)" },
        { "float", Type("float", precision: 53), "varchar(64)" },
        { "date", Type("date", datetimePrecision: 0), "varchar(64)" },
        { "datetime", Type("datetime", datetimePrecision: 3), "varchar(64)" },
        { "datetime2(3)", Type("datetime2", datetimePrecision: 3), "varchar(64)" },
        { "datetimeoffset(7)", Type("datetimeoffset", datetimePrecision: 7), "varchar(64)" },
        { "time(7)", Type("time", datetimePrecision: 7), "varchar(64)" },
    };

    [Theory]
    [MemberData(nameof(KeyColumns))]
    public void Key_parameters_follow_the_key_columns_declared_type(string _, ColumnType keyType, string declaration)
    {
        Assert.Equal(declaration, SqlServerParameterType.ForKey(keyType).Declaration);
    }

    public static TheoryData<ColumnType, string, string> EncryptedColumns => new()
    {
        { Type("varchar", 500, collation: "SQL_Latin1_General_CP1_CI_AS"), "nvarchar(500)", "varchar(500)" },
        { Type("nvarchar", 200, collation: "SQL_Latin1_General_CP1_CI_AS"), "nvarchar(200)", "nvarchar(200)" },
        { Type("char", 300, collation: "SQL_Latin1_General_CP1_CI_AS"), "nvarchar(300)", "char(300)" },
        { Type("nchar", 300, collation: "Latin1_General_100_CI_AS"), "nvarchar(300)", "nchar(300)" },
        { Type("nvarchar", -1, collation: "Latin1_General_100_CI_AS"), "nvarchar(max)", "nvarchar(max)" },
        { Type("varchar", -1, collation: "SQL_Latin1_General_CP1_CI_AS"), "nvarchar(max)", "varchar(max)" },
        { Type("varchar", 8000, collation: "SQL_Latin1_General_CP1_CI_AS"), "nvarchar(max)", "varchar(8000)" },
        { Type("varchar", 900, collation: "Greek_CI_AS", sharesDatabaseCodePage: false), "nvarchar(900)", "nvarchar(900)" },
        { Type("varchar", 6000, collation: "Greek_CI_AS", sharesDatabaseCodePage: false), "nvarchar(max)", "nvarchar(max)" },
    };

    [Theory]
    [MemberData(nameof(EncryptedColumns))]
    public void The_guard_reads_Unicode_of_the_columns_length_and_the_new_value_is_written_in_the_columns_own_type(ColumnType column, string old, string @new)
    {
        Assert.Equal(old, SqlServerParameterType.ForOldValue(column).Declaration);
        Assert.Equal(@new, SqlServerParameterType.ForNewValue(column).Declaration);
    }

    [Fact]
    public void A_varchar_key_and_column_under_SQL_Latin1_get_varchar_parameters_in_every_command_of_the_run()
    {
        var key = Type("varchar", 40, collation: "SQL_Latin1_General_CP1_CI_AS");
        var column = Type("varchar", 500, collation: "SQL_Latin1_General_CP1_CI_AS");
        var target = ColumnTarget.Declared(new TableName("dbo", "secrets"), "secret", "code", key, column);
        using var connection = new SqlConnection();

        // The batch's keys, old and new values.
        RowUpdate[] rows = [new("A-1", "v1:old", "v2:new"), new("B-22", "plain", "v2:" + new string('x', 200))];
        using var update = Dialect.UpdateCommand(connection, target, rows, 0, rows.Length);
        var p = update.Parameters.Cast<SqlParameter>().ToDictionary(x => x.ParameterName);
        foreach (var i in new[] { 0, 1 })
        {
            Assert.Equal((SqlDbType.VarChar, 40), (p["@k" + i].SqlDbType, p["@k" + i].Size));
            Assert.Equal((SqlDbType.NVarChar, 500), (p["@o" + i].SqlDbType, p["@o" + i].Size));
            Assert.Equal((SqlDbType.VarChar, 500), (p["@n" + i].SqlDbType, p["@n" + i].Size));
        }

        // The page's cursor and one row's key, as the engine binds them.
        foreach (var name in new[] { "@after", "@key" })
        {
            using var command = connection.CreateCommand();
            var bound = (SqlParameter)Dialect.AddKeyParameter(command, name, "A-1", target);
            Assert.Equal((name, SqlDbType.VarChar, 40, (object)"A-1"), (bound.ParameterName, bound.SqlDbType, bound.Size, bound.Value));
        }
    }

    [Fact]
    public void Integer_and_GUID_keys_travel_as_the_value_their_cursor_text_stands_for()
    {
        using var command = new SqlCommand();
        void Check(string type, string text, SqlDbType expected, object value)
        {
            var target = ColumnTarget.Declared(new TableName(null, "t"), "secret", "id", Type(type), Type("nvarchar", 100));
            var p = (SqlParameter)Dialect.AddKeyParameter(command, "@p" + command.Parameters.Count, text, target);
            Assert.Equal((expected, value), (p.SqlDbType, p.Value));
        }
        Check("int", "-2147483648", SqlDbType.Int, int.MinValue);
        Check("bigint", "9223372036854775807", SqlDbType.BigInt, long.MaxValue);
        Check("smallint", "-32768", SqlDbType.SmallInt, short.MinValue);
        Check("tinyint", "255", SqlDbType.TinyInt, (byte)255);
        Check("bit", "1", SqlDbType.Bit, true);
        Check("uniqueidentifier", "6F9619FF-8B86-D011-B42D-00C04FC964FF", SqlDbType.UniqueIdentifier, Guid.Parse("6F9619FF-8B86-D011-B42D-00C04FC964FF"));
        // A text that is not what the type's text looks like is not guessed at: it travels as text, and the CONVERT in
        // the statement (on the parameter's side) decides.
        Check("int", "12abc", SqlDbType.VarChar, "12abc");
        Check("datetime2", "2024-02-29T23:59:59.1234567", SqlDbType.VarChar, "2024-02-29T23:59:59.1234567");
    }

    /// <summary>
    /// The client never cuts a value to the parameter's size: whatever the column and the value's length, the declared
    /// size is at least the value's, or (max), so a value that does not fit is refused by the server, never written short.
    /// </summary>
    [Fact]
    public void No_text_parameter_is_ever_declared_shorter_than_its_value()
    {
        var columns = Gen.OneOf(
            Gen.Int[1, 8000].Select(n => Type("varchar", n, collation: "SQL_Latin1_General_CP1_CI_AS")),
            Gen.Int[1, 8000].Select(n => Type("char", n, collation: "SQL_Latin1_General_CP1_CI_AS")),
            Gen.Int[1, 4000].Select(n => Type("nvarchar", n)),
            Gen.Int[1, 4000].Select(n => Type("nchar", n)),
            Gen.Int[1, 8000].Select(n => Type("varchar", n, collation: "Greek_CI_AS", sharesDatabaseCodePage: false)),
            Gen.Const(Type("nvarchar", -1)));
        Gen.Select(columns, Gen.Int[0, 9000], Gen.Int[0, 2]).Sample((column, length, which) =>
        {
            var type = which switch
            {
                0 => SqlServerParameterType.ForKey(column),
                1 => SqlServerParameterType.ForOldValue(column),
                _ => SqlServerParameterType.ForNewValue(column),
            };
            var parameter = new SqlParameter();
            var value = new string('x', length);
            type.Apply(parameter, value);
            Assert.Equal(value, parameter.Value);
            Assert.True(parameter.Size == -1 || parameter.Size >= length, $"{column}: {parameter.SqlDbType}({parameter.Size}) for {length} characters");
        }, iter: 2000);
    }
}
