using System.Globalization;
using System.Text;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The MySQL guarded batch update on the collection's MariaDB, both ways it is sent: the rows as one JSON_TABLE parameter
/// with the chunk's key range read back in the same round trip (MySQL 8.0.4+, MariaDB 10.6+), and as literals (older
/// servers). Whatever the values hold, a row is written only when it still holds, byte for byte, the value that was read,
/// and the rows reported written are exactly those that hold their new value afterwards.
/// </summary>
[Collection("mariadb")]
public sealed class MySqlGuardedUpdateOnMariaDbTests
{
    private readonly MariaDbServer _server;

    public MySqlGuardedUpdateOnMariaDbTests(MariaDbServer server) => _server = server;

    public static TheoryData<bool> BothWays => new() { false, true };

    private static readonly TestTable Table = new(null, "g", "id", "secret");

    /// <summary>Characters a value read from a column can hold that JSON or a literal must carry exactly.</summary>
    private static readonly string[] Pieces =
    [
        "\"", "\\", "'", "`", "\0", "\t", "\n", "\r", "\u001f", "\u007f", "é", "É", "e\u0301", "ß", "ẞ", "Ж", "密", "€", "😀", "𝄞",
        " ", "  ", "\u00a0", "\u2028", "}", "]", ",", ":", "\\u0041", "%", "_", "v1:", "Z0FBQUFB",
    ];

    private static string Generated(Random gen)
    {
        var text = new StringBuilder("v1:");
        for (int i = gen.Next(0, 12); i > 0; i--)
            text.Append(gen.Next(3) == 0 ? Pieces[gen.Next(Pieces.Length)] : ((char)gen.Next('0', 'z' + 1)).ToString());
        return text.ToString();
    }

    [Theory]
    [MemberData(nameof(BothWays))]
    public void Every_value_is_guarded_byte_for_byte_and_the_rows_written_are_exactly_those_that_still_held_it(bool literal)
    {
        _server.EnsureAvailable();
        using var db = new MySqlTestDatabase(_server);
        db.Execute("CREATE TABLE g (id bigint PRIMARY KEY, secret text CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci)");
        var gen = new Random(literal ? 20261205 : 20261206);
        var values = Enumerable.Range(1, 1203).Select(i => (Key: (object)(long)i, Value: (string?)Generated(gen))).ToList();
        db.Insert(Table, values);
        // Rows changed since they were "read": to a value the collation calls equal (case, accents, trailing space), or deleted.
        db.Execute("UPDATE g SET secret = UPPER(secret) WHERE id % 7 = 3 AND UPPER(secret) <> BINARY secret");
        db.Execute("UPDATE g SET secret = CONCAT(secret, ' ') WHERE id % 11 = 5");
        db.Execute("DELETE FROM g WHERE id % 13 = 6");
        var changed = new HashSet<long>();
        foreach (var (key, value) in values)
        {
            var now = (string?)db.Scalar("SELECT secret FROM g WHERE id = @p0", key);
            if (!string.Equals(now, value, StringComparison.Ordinal)) changed.Add((long)key);
        }
        Assert.NotEmpty(changed);

        var written = Update(db, literal, values.Select(r => new RowUpdate(r.Key.ToString()!, r.Value!, "v2:" + r.Key)).ToList());

        var expected = values.Select(r => (long)r.Key).Where(k => !changed.Contains(k)).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(expected, written.Cast<string>().Order(StringComparer.Ordinal).OrderBy(k => long.Parse(k, CultureInfo.InvariantCulture)).ToList());
        Assert.Equal(expected.Count, db.Count("SELECT COUNT(*) FROM g WHERE secret LIKE 'v2:%'"));
        foreach (var key in changed.Where(k => k % 13 != 6))
            Assert.NotEqual("v2:" + key, (string?)db.Scalar("SELECT secret FROM g WHERE id = @p0", key));
    }

    [Theory]
    [MemberData(nameof(BothWays))]
    public void A_trigger_that_keeps_the_old_value_is_seen_by_the_read_back_not_by_the_matched_count(bool literal)
    {
        _server.EnsureAvailable();
        using var db = new MySqlTestDatabase(_server);
        db.Execute("CREATE TABLE g (id varchar(40) PRIMARY KEY, secret varchar(200))");
        db.Execute("CREATE TRIGGER keep_some BEFORE UPDATE ON g FOR EACH ROW BEGIN IF NEW.id LIKE '%3' THEN SET NEW.secret = OLD.secret; END IF; END");
        // Text keys whose order under the collation is not their byte order ('a…' and 'B…' interleave).
        var values = Enumerable.Range(1, 1100).Select(i => (Key: (object)((i % 2 == 0 ? "k" : "K") + i.ToString("D5", CultureInfo.InvariantCulture)), Value: (string?)$"v1:{i}")).ToList();
        db.Insert(Table, values);
        var inKeyOrder = values.OrderBy(r => ((string)r.Key).ToUpperInvariant(), StringComparer.Ordinal).ToList();

        var written = Update(db, literal, inKeyOrder.Select(r => new RowUpdate(r.Key, r.Value!, "v2:" + r.Key)).ToList());

        var expected = inKeyOrder.Select(r => (string)r.Key).Where(k => !k.EndsWith('3')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, written.Cast<string>().Order(StringComparer.Ordinal).ToList());
        Assert.Equal(expected.Count, db.Count("SELECT COUNT(*) FROM g WHERE secret LIKE 'v2:%'"));
    }

    [Fact]
    public void The_JSON_rows_are_read_once_and_each_looks_up_its_row_by_key_even_when_the_table_is_large_and_the_chunk_small()
    {
        _server.EnsureAvailable();
        using var db = new MySqlTestDatabase(_server);
        db.Execute("CREATE TABLE g (id bigint PRIMARY KEY, secret varchar(200))");
        db.Insert(Table, Enumerable.Range(1, 10000).Select(i => ((object)(long)i, (string?)$"v1:{i}")));
        db.Execute("ANALYZE TABLE g");
        var dialect = new MySqlDialect();
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: false);
        var target = ColumnTarget.Resolve(dialect, connection, "g", "secret", null);
        var rows = Enumerable.Range(1, 10).Select(i => new RowUpdate(i.ToString(CultureInfo.InvariantCulture), $"v1:{i}", $"v2:{i}")).ToList();
        var chunk = MySqlJsonRows.Write(dialect, rows, 0, rows.Count).ToArray();

        foreach (var statement in new[] { dialect.JsonUpdateStatement(target, "PRIMARY"), dialect.JsonWrittenStatement(target, "PRIMARY") })
        {
            Assert.Equal([("v", "ALL"), ("target", "eq_ref")], Plan(connection, statement, chunk));
        }
    }

    [Fact]
    public void The_JSON_update_names_the_index_that_starts_with_the_key_so_no_statistics_can_turn_it_into_a_scan_per_row()
    {
        _server.EnsureAvailable();
        using var db = new MySqlTestDatabase(_server);
        db.Execute("CREATE TABLE g (id bigint PRIMARY KEY, uk varchar(20) NOT NULL, plain_key int NOT NULL, secret varchar(200), UNIQUE KEY `uk idx` (uk))");
        db.Execute("INSERT INTO g VALUES (1, 'a', 1, 'v1:1'), (2, 'b', 2, 'v1:2')");
        var dialect = new MySqlDialect();
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: false);
        string? IndexOf(string? keyColumn) => MySqlDialect.LookUpKeyIndex(connection, null, ColumnTarget.Resolve(dialect, connection, "g", "secret", keyColumn));
        Assert.Equal("PRIMARY", IndexOf(null));
        Assert.Equal("uk idx", IndexOf("uk"));
        Assert.Null(IndexOf("plain_key")); // no index starts with it: nothing to name

        var target = ColumnTarget.Resolve(dialect, connection, "g", "secret", "uk");
        var rows = new List<RowUpdate> { new("a", "v1:1", "v2:1"), new("b", "v1:2", "v2:2") };
        var chunk = MySqlJsonRows.Write(dialect, rows, 0, rows.Count).ToArray();
        foreach (var statement in new[] { dialect.JsonUpdateStatement(target, "uk idx"), dialect.JsonWrittenStatement(target, "uk idx") })
        {
            Assert.Contains("FORCE INDEX (`uk idx`)", statement);
            Assert.Equal([("v", "ALL"), ("target", "eq_ref")], Plan(connection, statement, chunk));
        }
        using var transaction = dialect.BeginWrite(connection);
        Assert.Equal(2, dialect.UpdateGuarded(connection, transaction, target, rows).Count);
        transaction.Commit();
        Assert.Equal(2, db.Count("SELECT COUNT(*) FROM g WHERE secret LIKE 'v2:%'"));
    }

    private static IReadOnlyCollection<object> Update(MySqlTestDatabase db, bool literal, List<RowUpdate> rows)
    {
        var dialect = new MySqlDialect { LiteralRowsOnly = literal };
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: false);
        Assert.True(MySqlDialect.ReadsJsonRows(connection.ServerVersion), $"MariaDB {connection.ServerVersion} has JSON_TABLE");
        var target = ColumnTarget.Resolve(dialect, connection, "g", "secret", null);
        using var transaction = dialect.BeginWrite(connection);
        var written = dialect.UpdateGuarded(connection, transaction, target, rows);
        transaction.Commit();
        return written;
    }

    /// <summary>The statement's plan as EXPLAIN gives it: each table, and how it is read (ALL: a scan; eq_ref: one row by a unique key).</summary>
    private static List<(string Table, string Access)> Plan(System.Data.Common.DbConnection connection, string statement, object rows)
    {
        using var explain = connection.CreateCommand();
        explain.CommandText = "EXPLAIN " + statement;
        SqlDialect.AddParameter(explain, "@rows", rows);
        var plan = new List<(string Table, string Access)>();
        using var reader = explain.ExecuteReader();
        while (reader.Read()) plan.Add((reader.GetString(reader.GetOrdinal("table")), reader.GetString(reader.GetOrdinal("type"))));
        return plan;
    }
}
