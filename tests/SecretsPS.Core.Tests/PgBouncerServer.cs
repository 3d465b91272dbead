using System.Diagnostics;
using System.Text;
using Npgsql;

namespace SecretsPS.Core.Tests;

/// <summary>
/// PgBouncer in transaction pooling mode in front of a throwaway PostgreSQL of its own, both made, started and stopped by
/// tests/servers/pgbouncer.sh and postgres.sh (the scripts the Pester suite uses too): PgBouncer on a free port on
/// 127.0.0.1, every server connection signed in as 'postgres'. Stopped (and its folder removed) on dispose and at
/// process exit, whether the tests passed or not.
/// </summary>
/// <remarks>
/// <see cref="Available"/> is false (with <see cref="Reason"/>) only when the machine has no PostgreSQL or no pgbouncer;
/// any other failure throws from the constructor, with the log's tail.
/// </remarks>
public sealed class PgBouncerServer : IDisposable
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(120);

    private readonly object _gate = new();
    private DirectoryInfo? _folder;
    private bool _disposed;

    public PgBouncerServer()
    {
        Postgres = new PostgresServer();
        if (!Postgres.Available)
        {
            Reason = Postgres.Reason;
            return;
        }
        var (code, _, why) = RunScript(["bin"], mayFail: true);
        if (code == 3)
        {
            Reason = why.Trim();
            return;
        }
        try
        {
            _folder = Directory.CreateTempSubdirectory("secretsps-pgbouncer-");
            Port = int.Parse(RunScript(["start", _folder.FullName, Postgres.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "auto"]).Output.Trim(),
                System.Globalization.CultureInfo.InvariantCulture);
        }
        catch
        {
            Dispose();
            throw;
        }
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        Available = true;
    }

    /// <summary>The PostgreSQL behind the pooler (direct connections: the tests' own setup and independent reads).</summary>
    public PostgresServer Postgres { get; }

    public bool Available { get; }

    public string? Reason { get; }

    /// <summary>PgBouncer's TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The log PgBouncer writes (what it rejected, and why).</summary>
    public string LogFile => Path.Combine(_folder!.FullName, "pgbouncer.log");

    /// <summary>A connection string that reaches <paramref name="directConnectionString"/>'s database through the pooler.</summary>
    public string Through(string directConnectionString) =>
        new NpgsqlConnectionStringBuilder(directConnectionString) { Host = "127.0.0.1", Port = Port }.ConnectionString;

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            NpgsqlConnection.ClearAllPools();
            if (_folder is not null)
            {
                try { RunScript(["stop", _folder.FullName]); }
                catch (Exception) { /* best effort: the folder goes all the same */ }
                try { _folder.Delete(recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            Postgres.Dispose();
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

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
        start.ArgumentList.Add(Path.Combine(RepoPaths.RepoRoot, "tests", "servers", "pgbouncer.sh"));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        var commandLine = "pgbouncer.sh " + string.Join(' ', arguments);
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
        if (process.ExitCode != 0 && !mayFail)
            throw new InvalidOperationException($"Exit code {process.ExitCode}: {commandLine}\n{stderr}{stdout}");
        return (process.ExitCode, stdout, stderr);
    }
}

/// <summary>Tests that go through PgBouncer join this collection: one pooler (and its PostgreSQL) for them all.</summary>
[CollectionDefinition("pgbouncer")]
public sealed class PgBouncerCollection : ICollectionFixture<PgBouncerServer>
{
}
