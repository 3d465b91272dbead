using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A throwaway PostgreSQL cluster for the test run (RECIPES.md, "A throwaway PostgreSQL for tests"):
/// initdb into a fresh temporary folder, started on a free random port on 127.0.0.1 with fsync off,
/// stopped (<c>pg_ctl -m fast</c>) and deleted on dispose, whether the tests passed or not.
/// </summary>
/// <remarks>
/// <para>Binaries: the highest version folder under /usr/lib/postgresql that holds bin/initdb, else initdb on PATH.
/// <see cref="Available"/> is false (with <see cref="Reason"/>) only when there are none; any other failure
/// (initdb, start) throws from the constructor, which fails every test in the collection with the log attached.</para>
/// <para>initdb refuses to run as root, so as root initdb, pg_ctl run as the <c>postgres</c> user through
/// <c>runuser -u postgres --</c>, in a folder chowned to it; as any other user they run directly.</para>
/// <para>Connection strings: <c>Host=127.0.0.1;Port=&lt;port&gt;;Username=postgres;Database=&lt;db&gt;</c>, with
/// pooling left on (as the library's users would have it). The fixture's own admin connections use
/// <c>Pooling=false</c>, and <see cref="Stop"/> and <see cref="Dispose"/> clear all Npgsql pools, so no idle
/// connection outlives the server it pointed at.</para>
/// </remarks>
public sealed class PostgresServer : IDisposable
{
    private const string PostgresRoot = "/usr/lib/postgresql";
    private const string ServiceUser = "postgres";
    private const int StartAttempts = 3;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    private readonly string? _bin;
    private readonly bool _asServiceUser;
    private readonly object _gate = new();
    private DirectoryInfo? _folder;
    private bool _running;
    private bool _disposed;

    public PostgresServer()
    {
        _bin = FindBinFolder();
        if (_bin is null)
        {
            Reason = $"No PostgreSQL binaries: no {PostgresRoot}/<version>/bin/initdb and no initdb on PATH.";
            return;
        }

        _asServiceUser = IsRoot();
        MajorVersion = ReadMajorVersion(_bin);

        try
        {
            _folder = Directory.CreateTempSubdirectory("secretsps-pg-");
            if (_asServiceUser)
            {
                RunTool("chown", [$"{ServiceUser}:", _folder.FullName], asServiceUser: false);
            }

            var clock = Stopwatch.StartNew();
            RunTool(Path.Combine(_bin, "initdb"),
                ["-D", DataFolder, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
            InitDbDuration = clock.Elapsed;

            clock.Restart();
            StartOnFreePort();
            StartDuration = clock.Elapsed;
        }
        catch
        {
            Dispose();
            throw;
        }

        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        Available = true;
    }

    /// <summary>False only when no PostgreSQL binaries exist on the machine; see <see cref="Reason"/>.</summary>
    public bool Available { get; }

    public string? Reason { get; }

    /// <summary>The TCP port on 127.0.0.1; it stays the same across <see cref="Stop"/> and <see cref="Start"/>.</summary>
    public int Port { get; private set; }

    /// <summary>The major version of the binaries in use (15 for /usr/lib/postgresql/15/bin), 0 when unavailable.</summary>
    public int MajorVersion { get; }

    /// <summary>The bin folder in use, null when unavailable.</summary>
    public string? BinFolder => _bin;

    /// <summary>How long initdb took.</summary>
    public TimeSpan InitDbDuration { get; }

    /// <summary>How long the first <c>pg_ctl start</c> took (including any retry on a port taken meanwhile).</summary>
    public TimeSpan StartDuration { get; }

    private string DataFolder => Path.Combine(_folder!.FullName, "data");

    private string LogFile => Path.Combine(_folder!.FullName, "log");

    /// <summary><c>Host=127.0.0.1;Port=&lt;port&gt;;Username=postgres;Database=&lt;database&gt;</c> (pooling on).</summary>
    public string ConnectionString(string database)
    {
        EnsureAvailable();
        return new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = database,
        }.ConnectionString;
    }

    /// <summary>Creates a fresh, uniquely named, empty database and returns its connection string.</summary>
    public string CreateDatabase()
    {
        EnsureAvailable();
        string name = "test_" + Guid.NewGuid().ToString("N");
        using (var connection = new NpgsqlConnection(AdminConnectionString()))
        {
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            command.ExecuteNonQuery();
        }

        return ConnectionString(name);
    }

    /// <summary>Stops the server (<c>pg_ctl -m fast</c>: open sessions are cut) and clears Npgsql's pools. The data stays.</summary>
    public void Stop()
    {
        EnsureAvailable();
        lock (_gate)
        {
            NpgsqlConnection.ClearAllPools();
            if (_running)
            {
                RunTool(Path.Combine(_bin!, "pg_ctl"), ["-D", DataFolder, "-m", "fast", "-w", "-t", "30", "stop"]);
                _running = false;
            }
        }
    }

    /// <summary>Starts the server again on the same port and data folder (no-op while it runs).</summary>
    public void Start()
    {
        EnsureAvailable();
        lock (_gate)
        {
            if (!_running)
            {
                StartOn(Port);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            NpgsqlConnection.ClearAllPools();
            if (_folder is null)
            {
                return;
            }

            if (_running || File.Exists(Path.Combine(DataFolder, "postmaster.pid")))
            {
                string pgCtl = Path.Combine(_bin!, "pg_ctl");
                try
                {
                    RunTool(pgCtl, ["-D", DataFolder, "-m", "fast", "-w", "-t", "30", "stop"]);
                }
                catch (Exception)
                {
                    try
                    {
                        RunTool(pgCtl, ["-D", DataFolder, "-m", "immediate", "-w", "-t", "30", "stop"]);
                    }
                    catch (Exception)
                    {
                        // Best effort: the folder is removed below all the same.
                    }
                }

                _running = false;
            }

            try
            {
                _folder.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    private string AdminConnectionString() => new NpgsqlConnectionStringBuilder(ConnectionString("postgres"))
    {
        Pooling = false,
    }.ConnectionString;

    private void EnsureAvailable()
    {
        if (_bin is null)
        {
            throw new InvalidOperationException($"PostgreSQL is not available: {Reason}");
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    /// <summary>A random free port; another process may take it before postgres binds, hence the retries.</summary>
    private void StartOnFreePort()
    {
        for (int attempt = 1; ; attempt++)
        {
            int port = FreePort();
            try
            {
                StartOn(port);
                return;
            }
            catch (InvalidOperationException) when (attempt < StartAttempts)
            {
            }
        }
    }

    private void StartOn(int port)
    {
        string options = $"-c listen_addresses=127.0.0.1 -p {port} -k {_folder!.FullName} -c fsync=off";
        try
        {
            RunTool(Path.Combine(_bin!, "pg_ctl"), ["-D", DataFolder, "-l", LogFile, "-w", "-t", "30", "-o", options, "start"]);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"{ex.Message}\nServer log ({LogFile}):\n{LogTail()}", ex);
        }

        Port = port;
        _running = true;
    }

    private string LogTail()
    {
        try
        {
            string[] lines = File.ReadAllLines(LogFile);
            return string.Join('\n', lines.TakeLast(20));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private string RunTool(string tool, IReadOnlyList<string> arguments) => RunTool(tool, arguments, _asServiceUser);

    private static string RunTool(string tool, IReadOnlyList<string> arguments, bool asServiceUser)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            WorkingDirectory = "/",
        };
        if (asServiceUser)
        {
            start.FileName = "runuser";
            foreach (string argument in new[] { "-u", ServiceUser, "--", tool })
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            start.FileName = tool;
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        string commandLine = string.Join(' ', start.ArgumentList.Prepend(start.FileName));
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start: {commandLine}");
        // pg_ctl start hands the server's output to the -l log, so these pipes close when pg_ctl exits.
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(ToolTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"Timed out after {ToolTimeout.TotalSeconds} s: {commandLine}");
        }

        string stdout = output.GetAwaiter().GetResult();
        string stderr = error.GetAwaiter().GetResult();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"Exit code {process.ExitCode}: {commandLine}\n{stderr}{stdout}");
        }

        return stdout;
    }

    private static string? FindBinFolder()
    {
        if (Directory.Exists(PostgresRoot))
        {
            string? highest = Directory.EnumerateDirectories(PostgresRoot)
                .Select(dir => (Dir: dir, Version: decimal.TryParse(Path.GetFileName(dir), System.Globalization.NumberStyles.Number,
                    System.Globalization.CultureInfo.InvariantCulture, out decimal v) ? v : -1))
                .Where(x => x.Version >= 0 && File.Exists(Path.Combine(x.Dir, "bin", "initdb")))
                .OrderByDescending(x => x.Version)
                .Select(x => Path.Combine(x.Dir, "bin"))
                .FirstOrDefault();
            if (highest is not null)
            {
                return highest;
            }
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(dir => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")));
    }

    private static int ReadMajorVersion(string bin)
    {
        // "pg_ctl (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
        string text = RunTool(Path.Combine(bin, "pg_ctl"), ["--version"], asServiceUser: false);
        Match match = Regex.Match(text, @"\(PostgreSQL\)\s+(\d+)");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    private static bool IsRoot() => !OperatingSystem.IsWindows() && geteuid() == 0;

    [DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();
}

/// <summary>Tests that need PostgreSQL join this collection: one server for them all, and they run one at a time.</summary>
[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
}
