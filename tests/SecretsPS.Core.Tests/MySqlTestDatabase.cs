using System.Data.Common;
using System.Text;
using MySqlConnector;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A fresh database on the collection's MariaDB (utf8mb4 with the case- and accent-insensitive utf8mb4_general_ci, as
/// applications create them). The test's own connections run with ANSI_QUOTES and PIPES_AS_CONCAT, so the shared tests'
/// double-quoted names and || mean what they mean elsewhere; the engine's connections never do (its dialect quotes with backticks).
/// </summary>
internal sealed class MySqlTestDatabase : TestDatabase
{
    public MySqlTestDatabase(MariaDbServer server)
    {
        Server = server;
        ConnectionString = server.CreateDatabase();
        DatabaseName = new MySqlConnectionStringBuilder(ConnectionString).Database;
    }

    public MariaDbServer Server { get; }
    public string DatabaseName { get; }
    public override DatabaseProvider Provider => DatabaseProvider.MySql;
    public override string ConnectionString { get; }
    public override string IntegerKeyType => "bigint PRIMARY KEY";

    public override DbConnection Open() => OpenAs(ConnectionString);

    public override DbConnection OpenApplication(int busyTimeoutSeconds) =>
        OpenAs(new MySqlConnectionStringBuilder(ConnectionString) { Pooling = false, ApplicationName = "the-application" }.ConnectionString);

    private static DbConnection OpenAs(string connectionString)
    {
        var connection = new MySqlConnection(connectionString);
        connection.Open();
        using var command = new MySqlCommand("SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'", connection);
        command.ExecuteNonQuery();
        return connection;
    }

    /// <summary>A connection string for another user of this database.</summary>
    public string As(string user) => Server.ConnectionString(DatabaseName, user);

    /// <summary>Multi-row INSERTs of 500 rows each.</summary>
    public override void Insert(TestTable table, IEnumerable<(object Key, string? Value)> rows)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        foreach (var chunk in rows.Chunk(500))
        {
            using var command = Command(connection, transaction, "");
            var values = new StringBuilder();
            for (int i = 0; i < chunk.Length; i++)
            {
                values.Append(i == 0 ? "" : ", ").Append($"(@k{i}, @v{i})");
                SqlDialect.AddParameter(command, "@k" + i, chunk[i].Key);
                SqlDialect.AddParameter(command, "@v" + i, chunk[i].Value);
            }
            command.CommandText = $"INSERT INTO {Q(table)} ({Q(table.Key)}, {Q(table.Column)}) VALUES {values}";
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    public override IReadOnlyList<string> TableNames()
    {
        using var connection = Open();
        using var command = Command(connection, null,
            "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1");
        var list = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add(reader.GetString(0));
        return list;
    }

    /// <summary>The list of tables, CHECKSUM TABLE of every one of them, and the rows of the table.</summary>
    public override string Fingerprint(TestTable table)
    {
        var text = new StringBuilder();
        using var connection = Open();
        foreach (var name in TableNames())
        {
            using var checksum = Command(connection, null, $"CHECKSUM TABLE {string.Join(".", name.Split('.', 2).Select(Q))} EXTENDED");
            using var reader = checksum.ExecuteReader();
            while (reader.Read()) text.Append(reader.GetString(0)).Append(' ').Append(reader.IsDBNull(1) ? "NULL" : reader.GetValue(1).ToString()).Append('\n');
        }
        text.Append("--\n");
        foreach (var (key, value) in Read(table)) text.Append(key).Append('\t').Append(value ?? "\\N").Append('\n');
        return text.ToString();
    }

    public override void Dispose()
    {
        try { Server.Admin($"DROP DATABASE IF EXISTS `{DatabaseName}`"); }
        catch (MySqlException) { }
        catch (InvalidOperationException) { }
        MySqlConnection.ClearAllPools();
    }
}
