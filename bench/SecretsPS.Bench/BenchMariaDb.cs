using System.Diagnostics;
using System.Text;
using MySqlConnector;

namespace SecretsPS.Bench;

/// <summary>
/// The benchmark's own throwaway MariaDB, made, started and stopped by tests/servers/mariadb.sh (the one script the test
/// suites use too), with one difference from the tests' server: commits are flushed to disk (the server's default
/// innodb_flush_log_at_trx_commit=1; the tests use 2). The folder is removed on dispose.
/// </summary>
public sealed class BenchMariaDb : IDisposable
{
    private readonly DirectoryInfo _folder;
    private readonly string _script;
    private bool _running;

    public BenchMariaDb()
    {
        _script = FindScript();
        Version = Run("version").Trim();
        _folder = Directory.CreateTempSubdirectory("secretsps-bench-mariadb-");
        try
        {
            Run("create", _folder.FullName);
            Port = int.Parse(Run("start", _folder.FullName, "auto").Trim(), System.Globalization.CultureInfo.InvariantCulture);
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
                try { Run("stop", _folder.FullName); }
                catch (Exception) { }
                _running = false;
            }
            try { if (_folder.Exists) _folder.Delete(recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static string FindScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "tests", "servers", "mariadb.sh");
            if (File.Exists(script)) return script;
        }
        throw new InvalidOperationException($"No tests/servers/mariadb.sh above {AppContext.BaseDirectory}: run the benchmark from a build inside the repository.");
    }

    private string Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add(_script);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        var line = "mariadb.sh " + string.Join(' ', arguments);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start: {line}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(200)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"Timed out: {line}");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"Exit code {process.ExitCode}: {line}\n{error.Result}{output.Result}");
        return output.Result;
    }
}
