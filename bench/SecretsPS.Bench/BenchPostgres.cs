using System.Diagnostics;
using System.Text;
using Npgsql;

namespace SecretsPS.Bench;

/// <summary>
/// The benchmark's own throwaway PostgreSQL, made, started and stopped by tests/servers/postgres.sh (the one script the
/// test suites use too), with one difference from the tests' server: fsync stays ON (fsync=off is for speed in the tests
/// only; the benchmark and crash tests keep fsync on). Every other setting is the server's default. The folder is
/// removed on dispose.
/// </summary>
public sealed class BenchPostgres : IDisposable
{
    private readonly DirectoryInfo _folder;
    private readonly string _script;
    private bool _running;

    public BenchPostgres()
    {
        _script = FindScript();
        Bin = Run("bin").Trim();
        _folder = Directory.CreateTempSubdirectory("secretsps-bench-pg-");
        try
        {
            Run("create", _folder.FullName);
            Port = int.Parse(Run("start", _folder.FullName, "auto").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            _running = true;
            PostmasterPid = int.Parse(File.ReadLines(Path.Combine(DataFolder, "postmaster.pid")).First().Trim());
        }
        catch
        {
            Dispose();
            throw;
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
        Console.CancelKeyPress += (_, _) => Dispose();
    }

    public string Bin { get; }
    public int Port { get; private set; }
    public int PostmasterPid { get; }
    private string DataFolder => Path.Combine(_folder.FullName, "data");

    public string ConnectionString(string database, bool pooling = true) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        Pooling = pooling,
    }.ConnectionString;

    public string CreateDatabase(string name)
    {
        using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
        connection.Open();
        using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        command.ExecuteNonQuery();
        return ConnectionString(name);
    }

    public void Dispose()
    {
        lock (this)
        {
            NpgsqlConnection.ClearAllPools();
            if (_running || File.Exists(Path.Combine(DataFolder, "postmaster.pid")))
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

    /// <summary>tests/servers/postgres.sh in the repository the benchmark was built in.</summary>
    private static string FindScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "tests", "servers", "postgres.sh");
            if (File.Exists(script)) return script;
        }
        throw new InvalidOperationException($"No tests/servers/postgres.sh above {AppContext.BaseDirectory}: run the benchmark from a build inside the repository.");
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
        var line = "postgres.sh " + string.Join(' ', arguments);
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
