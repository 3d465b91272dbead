using System.Data;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// What the SQL Server guarded update takes as written, without a server: the batch is sent as recorded, and the
/// answer is made of the result sets a server with an audit trigger could return.
/// </summary>
public sealed class SqlServerGuardedUpdateTests
{
    private static readonly SqlServerDialect Dialect = new();

    private static readonly ColumnTarget Target = ColumnTarget.Declared(new TableName("dbo", "secrets"), "secret", "id",
        SqlServerDialect.Declare("bigint", null, 19, 0, null), SqlServerDialect.Declare("nvarchar", 200, null, null, null));

    private static DataTable Table(string column, params string[] values)
    {
        var table = new DataTable();
        table.Columns.Add(column, typeof(string));
        foreach (var v in values) table.Rows.Add(v);
        return table;
    }

    [Fact]
    public void The_written_keys_are_read_from_their_own_result_set_whatever_a_trigger_returns_before_or_after_them()
    {
        // A trigger that SELECTs (allowed unless 'disallow results from triggers' is set) answers before the keys.
        var audit = Table("audited", "99", "98");
        var written = Table("secretsps_written_key", "1", "3");
        var later = Table("audited", "97");
        using var connection = new RecordingConnection { Reader = _ => new DataTableReader([audit, written, later]) };
        using var transaction = connection.BeginTransaction();
        RowUpdate[] rows = [new("1", "v1:a", "v2:a"), new("2", "v1:b", "v2:b"), new("3", "v1:c", "v2:c")];

        var keys = Dialect.UpdateGuarded(connection, transaction, Target, rows);

        Assert.Equal(["1", "3"], keys.Cast<string>());
        Assert.Equal(Dialect.UpdateStatement(Target, 3), Assert.Single(connection.Sent));
    }

    [Fact]
    public void More_rows_than_one_statement_takes_are_sent_in_statements_of_600_and_every_written_key_is_counted()
    {
        int sent = 0;
        using var connection = new RecordingConnection
        {
            Reader = _ => { var first = sent * SqlServerDialect.RowsPerStatement; sent++; return new DataTableReader(Table("secretsps_written_key", Enumerable.Range(first, 2).Select(i => i.ToString()).ToArray())); },
        };
        using var transaction = connection.BeginTransaction();
        var rows = Enumerable.Range(0, 1300).Select(i => new RowUpdate(i.ToString(), "v1:x", "v2:x")).ToList();

        var keys = Dialect.UpdateGuarded(connection, transaction, Target, rows);

        Assert.Equal(3, connection.Sent.Count);
        Assert.Equal([Dialect.UpdateStatement(Target, 600), Dialect.UpdateStatement(Target, 600), Dialect.UpdateStatement(Target, 100)], connection.Sent);
        Assert.Equal(["0", "1", "600", "601", "1200", "1201"], keys.Cast<string>());
    }
}
