using MySqlConnector;
using SecretsPS.Core.Tests;

namespace SecretsPS.Bench;

/// <summary>
/// The benchmark's own throwaway MariaDB, made, started and stopped by tests/servers/mariadb.sh (the one script the test
/// suites use too), with one difference from the tests' server: commits are flushed to disk (the server's default
/// innodb_flush_log_at_trx_commit=1; the tests use 2). The folder is removed on dispose.
/// </summary>
public sealed class BenchMariaDb : IDisposable
{
    private readonly DirectoryInfo _folder;
    private readonly ServerScript _script = new("mariadb.sh", TimeSpan.FromSeconds(200));
    private bool _running;

    public BenchMariaDb()
    {
        Version = _script.Output("version");
        _folder = Directory.CreateTempSubdirectory("secretsps-bench-mariadb-");
        try
        {
            _script.Run(["create", _folder.FullName]);
            Port = int.Parse(_script.Output("start", _folder.FullName, "auto"), System.Globalization.CultureInfo.InvariantCulture);
            _running = true;
            ServerPid = int.Parse(File.ReadAllText(Path.Combine(_folder.FullName, "pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch
        {
            Dispose();
            throw;
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
        Console.CancelKeyPress += (_, _) => Dispose();
    }

    public string Version { get; }
    public int Port { get; }
    public int ServerPid { get; }

    public string ConnectionString(string database, bool pooling = true) => new MySqlConnectionStringBuilder
    {
        Server = "127.0.0.1",
        Port = (uint)Port,
        UserID = "test",
        Database = database,
        Pooling = pooling,
    }.ConnectionString;

    /// <summary>A utf8mb4 database with the usual case- and accent-insensitive collation, as applications make them.</summary>
    public string CreateDatabase(string name)
    {
        using var connection = new MySqlConnection(ConnectionString("", pooling: false));
        connection.Open();
        using var command = new MySqlCommand($"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", connection);
        command.ExecuteNonQuery();
        return ConnectionString(name);
    }

    public void Dispose()
    {
        lock (this)
        {
            MySqlConnection.ClearAllPools();
            if (_running)
            {
                _script.TryStop(_folder);
                _running = false;
            }
            ServerScript.RemoveFolder(_folder);
        }
    }
}
