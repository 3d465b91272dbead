using MySqlConnector;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A throwaway MariaDB for the test run, made, started and stopped by tests/servers/mariadb.sh (the one script the Pester
/// suite and the benchmark use too): a data directory in a fresh temporary folder, mariadbd on a free port on 127.0.0.1
/// with its own socket, stopped and deleted on dispose, whether the tests passed or not.
/// </summary>
/// <remarks>
/// Unlike PostgreSQL's, a missing MariaDB is not a reason to pass: <see cref="Reason"/> says to install mariadb-server
/// (.ci/run does), and every MariaDB test fails with it. Connections sign in over TCP as 'test' (every right, no password).
/// </remarks>
public sealed class MariaDbServer : ScriptedServer
{
    public MariaDbServer()
        : base("mariadb.sh", TimeSpan.FromSeconds(200))
    {
        var (code, _, why) = Script.Run(["bin"], mayFail: true);
        if (code != 0)
        {
            Reason = why.Trim();
            return;
        }
        Version = Script.Output("version");
        try
        {
            ServerFolder = Directory.CreateTempSubdirectory("secretsps-mariadb-");
            Script.Run(["create", ServerFolder.FullName]);
            // Commits are written to the OS at once but flushed about once a second: the tests' many small
            // transactions do not wait for the disk (the benchmark keeps the defaults).
            StartOn("auto");
        }
        catch
        {
            Dispose();
            throw;
        }
        StopAtProcessExit();
        Available = true;
    }

    /// <summary>False only when the machine has no MariaDB server; <see cref="Reason"/> says how to install it.</summary>
    public bool Available { get; }

    public string? Reason { get; }

    /// <summary>The server's version, such as 10.11.6.</summary>
    public string? Version { get; }

    public int Port { get; private set; }

    /// <summary>The folder of the data directory, socket, pid file and error log.</summary>
    public string Folder => ServerFolder?.FullName ?? throw new InvalidOperationException(Reason);

    /// <summary><c>Server=127.0.0.1;Port=&lt;port&gt;;User ID=test;Database=&lt;database&gt;</c> (pooling on).</summary>
    public string ConnectionString(string database, string user = "test") => new MySqlConnectionStringBuilder
    {
        Server = "127.0.0.1",
        Port = (uint)Port,
        UserID = user,
        Database = database,
    }.ConnectionString;

    /// <summary>A fresh, uniquely named database with the usual application defaults (utf8mb4, a case- and accent-insensitive collation).</summary>
    public string CreateDatabase()
    {
        EnsureAvailable();
        var name = "test_" + Guid.NewGuid().ToString("N");
        Admin($"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci");
        return ConnectionString(name);
    }

    /// <summary>Runs statements as 'test' over TCP, outside any database.</summary>
    public void Admin(string sql)
    {
        using var connection = new MySqlConnection(new MySqlConnectionStringBuilder(ConnectionString("")) { Pooling = false }.ConnectionString);
        connection.Open();
        using var command = new MySqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    /// <summary>Stops the server (SIGTERM, or SIGKILL with <paramref name="kill"/>: a crash) and clears MySqlConnector's pools. The data stays.</summary>
    public void Stop(bool kill = false)
    {
        EnsureAvailable();
        lock (Gate)
        {
            MySqlConnection.ClearAllPools();
            if (Running)
            {
                Script.Run(["stop", ServerFolder!.FullName, kill ? "kill" : "fast"]);
                Running = false;
            }
        }
    }

    /// <summary>Starts the server again on the same port and data directory (no-op while it runs).</summary>
    public void Start()
    {
        EnsureAvailable();
        lock (Gate)
        {
            if (!Running) StartOn(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    protected override void ClearPools() => MySqlConnection.ClearAllPools();

    /// <summary>Fails the calling test with the reason (how to install mariadb-server) when there is no server.</summary>
    public void EnsureAvailable()
    {
        if (!Available && !IsDisposed) throw new InvalidOperationException($"MariaDB is not available: {Reason}");
        ObjectDisposedException.ThrowIf(IsDisposed, this);
    }

    private void StartOn(string port)
    {
        Port = int.Parse(Script.Output("start", ServerFolder!.FullName, port, "--innodb-flush-log-at-trx-commit=2"), System.Globalization.CultureInfo.InvariantCulture);
        Running = true;
    }
}

/// <summary>Tests that need MariaDB join this collection: one server for them all, and they run one at a time.</summary>
[CollectionDefinition("mariadb")]
public sealed class MariaDbCollection : ICollectionFixture<MariaDbServer>
{
}
