using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Npgsql;

namespace SecretsPS.Bench;

/// <summary>
/// The benchmark's own throwaway PostgreSQL (RECIPES.md, "A throwaway PostgreSQL for tests"), with one
/// difference from the tests' PostgresServer: fsync stays ON (RECIPES: "fsync=off is for speed in the tests
/// only; the benchmark and crash tests keep fsync on"). Every other setting is the server's default.
/// initdb and pg_ctl run as the postgres user when we are root; the folder is removed on dispose.
/// </summary>
public sealed class BenchPostgres : IDisposable
{
    private const string Root = "/usr/lib/postgresql";
    private const string ServiceUser = "postgres";
    private readonly bool _asServiceUser;
    private readonly DirectoryInfo _folder;
    private bool _running;

    public BenchPostgres()
    {
        Bin = FindBin() ?? throw new InvalidOperationException($"No PostgreSQL binaries under {Root}/<version>/bin.");
        _asServiceUser = !OperatingSystem.IsWindows() && geteuid() == 0;
        _folder = Directory.CreateTempSubdirectory("secretsps-bench-pg-");
        try
        {
            if (_asServiceUser) Run("chown", [$"{ServiceUser}:", _folder.FullName], asServiceUser: false);
            // --no-sync only skips initdb's own flush of the new cluster; the server runs with fsync on.
            Run(Path.Combine(Bin, "initdb"), ["-D", DataFolder, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"], _asServiceUser);
            for (int attempt = 1; ; attempt++)
            {
                int port = FreePort();
                try
                {
                    Run(Path.Combine(Bin, "pg_ctl"),
                        ["-D", DataFolder, "-l", LogFile, "-w", "-t", "60", "-o", $"-c listen_addresses=127.0.0.1 -p {port} -k {_folder.FullName}", "start"],
                        _asServiceUser);
                    Port = port;
                    _running = true;
                    break;
                }
                catch (InvalidOperationException) when (attempt < 3) { }
            }
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
    private string LogFile => Path.Combine(_folder.FullName, "log");

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
                try { Run(Path.Combine(Bin, "pg_ctl"), ["-D", DataFolder, "-m", "fast", "-w", "-t", "60", "stop"], _asServiceUser); }
                catch (Exception)
                {
                    try { Run(Path.Combine(Bin, "pg_ctl"), ["-D", DataFolder, "-m", "immediate", "-w", "-t", "30", "stop"], _asServiceUser); }
                    catch (Exception) { }
                }
                _running = false;
            }
            try { if (_folder.Exists) _folder.Delete(recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindBin() =>
        !Directory.Exists(Root)
            ? null
            : Directory.EnumerateDirectories(Root)
                .Select(d => (Dir: d, V: decimal.TryParse(Path.GetFileName(d), System.Globalization.NumberStyles.Number,
                    System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : -1))
                .Where(x => x.V >= 0 && File.Exists(Path.Combine(x.Dir, "bin", "initdb")))
                .OrderByDescending(x => x.V)
                .Select(x => Path.Combine(x.Dir, "bin"))
                .FirstOrDefault();

    private static string Run(string tool, IReadOnlyList<string> arguments, bool asServiceUser)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            WorkingDirectory = "/",
            FileName = asServiceUser ? "runuser" : tool,
        };
        if (asServiceUser) foreach (var a in new[] { "-u", ServiceUser, "--", tool }) start.ArgumentList.Add(a);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        var line = string.Join(' ', start.ArgumentList.Prepend(start.FileName));
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start: {line}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"Timed out: {line}");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"Exit code {process.ExitCode}: {line}\n{error.Result}{output.Result}");
        return output.Result;
    }

    [DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();
}
