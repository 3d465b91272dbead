using System.Globalization;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// PostgreSQL's guarded batch update reports the rows it wrote from its count when every row sent was written, and reads
/// back the rows holding their new value when some were not: either way, exactly the rows that still held what was read.
/// </summary>
[Collection("postgres")]
public sealed class PostgreSqlGuardedUpdateTests
{
    private readonly PostgresServer _server;

    public PostgreSqlGuardedUpdateTests(PostgresServer server) => _server = server;

    private static readonly TestTable Table = new(null, "g", "id", "secret");

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(250)]
    public void The_rows_reported_written_are_exactly_those_that_still_held_the_value_read(int changedMeanwhile)
    {
        if (!_server.Available) throw new InvalidOperationException(_server.Reason);
        using var db = new PostgreSqlTestDatabase(_server);
        db.CreateTable(Table, "bigint PRIMARY KEY", "varchar(200)");
        var values = Enumerable.Range(1, 2000).Select(i => (Key: (object)(long)i, Value: (string?)$"v1:{i}é")).ToList();
        db.Insert(Table, values);
        var gen = new Random(changedMeanwhile);
        var changed = new HashSet<long>();
        while (changed.Count < changedMeanwhile) changed.Add(gen.Next(1, 2001));
        foreach (var key in changed)
        {
            // Changed to what a case-insensitive comparison would call equal, or deleted.
            if (key % 2 == 0) db.Execute("UPDATE g SET secret = upper(secret) WHERE id = @p0", key);
            else db.Execute("DELETE FROM g WHERE id = @p0", key);
        }
        var dialect = db.Dialect;
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: false);
        var target = ColumnTarget.Resolve(dialect, connection, "g", "secret", null);
        using var transaction = dialect.BeginWrite(connection);

        var written = dialect.UpdateGuarded(connection, transaction, target,
            values.Select(r => new RowUpdate(r.Key.ToString()!, r.Value!, "v2:" + r.Key)).ToList());
        transaction.Commit();

        var expected = values.Select(r => (long)r.Key).Where(k => !changed.Contains(k)).ToList();
        Assert.Equal(expected, written.Cast<string>().Select(k => long.Parse(k, CultureInfo.InvariantCulture)).Order().ToList());
        Assert.Equal(expected.Count, db.Count("SELECT COUNT(*) FROM g WHERE secret LIKE 'v2:%'"));
    }
}
