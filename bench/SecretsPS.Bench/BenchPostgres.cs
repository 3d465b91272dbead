using Npgsql;
using SecretsPS.Core.Tests;

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
    private readonly ServerScript _script = new("postgres.sh", TimeSpan.FromSeconds(200));
    private bool _running;

    public BenchPostgres()
    {
        Bin = _script.Output("bin");
        _folder = Directory.CreateTempSubdirectory("secretsps-bench-pg-");
        try
        {
            _script.Run(["create", _folder.FullName]);
            Port = int.Parse(_script.Output("start", _folder.FullName, "auto"), System.Globalization.CultureInfo.InvariantCulture);
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
                _script.TryStop(_folder);
                _running = false;
            }
            ServerScript.RemoveFolder(_folder);
        }
    }
}
