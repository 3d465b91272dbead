using System.Diagnostics;
using System.Text;
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
public sealed class MariaDbServer : IDisposable
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(200);

    private readonly object _gate = new();
    private DirectoryInfo? _folder;
    private bool _running;
    private bool _disposed;

    public MariaDbServer()
    {
        var (code, _, why) = RunScript(["bin"], mayFail: true);
        if (code != 0)
        {
            Reason = why.Trim();
            return;
        }
        Version = RunScript(["version"]).Output.Trim();
        try
        {
            _folder = Directory.CreateTempSubdirectory("secretsps-mariadb-");
            RunScript(["create", _folder.FullName]);
            // Commits are written to the OS at once but flushed about once a second: the tests' many small
            // transactions do not wait for the disk (the benchmark keeps the defaults).
            StartOn("auto");
        }
        catch
        {
            Dispose();
            throw;
        }
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        Available = true;
    }

    /// <summary>False only when the machine has no MariaDB server; <see cref="Reason"/> says how to install it.</summary>
    public bool Available { get; }

    public string? Reason { get; }

    /// <summary>The server's version, such as 10.11.6.</summary>
    public string? Version { get; }

    public int Port { get; private set; }

    /// <summary>The folder of the data directory, socket, pid file and error log.</summary>
    public string Folder => _folder?.FullName ?? throw new InvalidOperationException(Reason);

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
        lock (_gate)
        {
            MySqlConnection.ClearAllPools();
            if (_running)
            {
                RunScript(["stop", _folder!.FullName, kill ? "kill" : "fast"]);
                _running = false;
            }
        }
    }

    /// <summary>Starts the server again on the same port and data directory (no-op while it runs).</summary>
    public void Start()
    {
        EnsureAvailable();
        lock (_gate)
        {
            if (!_running) StartOn(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            MySqlConnection.ClearAllPools();
            if (_folder is null) return;
            try { RunScript(["stop", _folder.FullName]); }
            catch (Exception) { /* best effort: the folder is removed below all the same */ }
            _running = false;
            try { _folder.Delete(recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    /// <summary>Fails the calling test with the reason (how to install mariadb-server) when there is no server.</summary>
    public void EnsureAvailable()
    {
        if (!Available && !_disposed) throw new InvalidOperationException($"MariaDB is not available: {Reason}");
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    private void StartOn(string port)
    {
        Port = int.Parse(RunScript(["start", _folder!.FullName, port, "--innodb-flush-log-at-trx-commit=2"]).Output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        _running = true;
    }

    private static (int Code, string Output, string Error) RunScript(IReadOnlyList<string> arguments, bool mayFail = false)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add(Path.Combine(RepoPaths.RepoRoot, "tests", "servers", "mariadb.sh"));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        var commandLine = "mariadb.sh " + string.Join(' ', arguments);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start: {commandLine}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(ScriptTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"Timed out after {ScriptTimeout.TotalSeconds} s: {commandLine}");
        }
        var stdout = output.GetAwaiter().GetResult();
        var stderr = error.GetAwaiter().GetResult();
        if (process.ExitCode != 0 && !mayFail) throw new InvalidOperationException($"Exit code {process.ExitCode}: {commandLine}\n{stderr}{stdout}");
        return (process.ExitCode, stdout, stderr);
    }
}

/// <summary>Tests that need MariaDB join this collection: one server for them all, and they run one at a time.</summary>
[CollectionDefinition("mariadb")]
public sealed class MariaDbCollection : ICollectionFixture<MariaDbServer>
{
}
