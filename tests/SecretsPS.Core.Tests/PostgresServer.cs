using System.Diagnostics;
using Npgsql;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A throwaway PostgreSQL cluster for the test run, made, started and stopped by tests/servers/postgres.sh (the one
/// script the Pester suite and the benchmark use too): a fresh temporary folder, a free random port on 127.0.0.1, fsync
/// off, stopped (<c>pg_ctl -m fast</c>) and deleted on dispose, whether the tests passed or not.
/// </summary>
/// <remarks>
/// <para><see cref="Available"/> is false (with <see cref="Reason"/>) only when the machine has no PostgreSQL binaries; any
/// other failure (initdb, start) throws from the constructor, which fails every test in the collection with the log attached.</para>
/// <para>Connection strings: <c>Host=127.0.0.1;Port=&lt;port&gt;;Username=postgres;Database=&lt;db&gt;</c>, with
/// pooling left on (as the library's users would have it). The fixture's own admin connections use
/// <c>Pooling=false</c>, and <see cref="Stop"/> and <see cref="Dispose"/> clear all Npgsql pools, so no idle
/// connection outlives the server it pointed at.</para>
/// </remarks>
public class PostgresServer : ScriptedServer
{
    private readonly string? _bin;

    public PostgresServer()
        : this(tlsOnly: false)
    {
    }

    /// <summary>With <paramref name="tlsOnly"/>, the cluster takes TCP connections over TLS only (postgres.sh tls): see <see cref="TlsPostgresServer"/>.</summary>
    protected PostgresServer(bool tlsOnly)
        : base("postgres.sh", TimeSpan.FromSeconds(200))
    {
        var (code, bin, why) = Script.Run(["bin"], mayFail: true);
        if (code == 3)
        {
            Reason = why.Trim();
            return;
        }
        _bin = bin.Trim();
        MajorVersion = int.Parse(Script.Output("version"), System.Globalization.CultureInfo.InvariantCulture);

        try
        {
            ServerFolder = Directory.CreateTempSubdirectory("secretsps-pg-");
            var clock = Stopwatch.StartNew();
            Script.Run(["create", ServerFolder.FullName]);
            if (tlsOnly) Script.Run(["tls", ServerFolder.FullName]);
            InitDbDuration = clock.Elapsed;

            clock.Restart();
            StartOn("auto");
            StartDuration = clock.Elapsed;
        }
        catch
        {
            Dispose();
            throw;
        }

        StopAtProcessExit();
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

    /// <summary>How long the first start took (including any retry on a port taken meanwhile).</summary>
    public TimeSpan StartDuration { get; }

    /// <summary>The folder holding the cluster (data/, log, and tls/ for a TLS-only one).</summary>
    public string? Folder => ServerFolder?.FullName;

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
        lock (Gate)
        {
            NpgsqlConnection.ClearAllPools();
            if (Running)
            {
                Script.Run(["stop", ServerFolder!.FullName]);
                Running = false;
            }
        }
    }

    /// <summary>Starts the server again on the same port and data folder (no-op while it runs).</summary>
    public void Start()
    {
        EnsureAvailable();
        lock (Gate)
        {
            if (!Running)
            {
                StartOn(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }

    protected override void ClearPools() => NpgsqlConnection.ClearAllPools();

    /// <summary>Runs SQL as the cluster's superuser (no pooling): roles, grants, settings a test needs.</summary>
    public void ExecuteAsAdmin(string sql)
    {
        using var connection = new NpgsqlConnection(AdminConnectionString());
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

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

        ObjectDisposedException.ThrowIf(IsDisposed, this);
    }

    /// <summary>Starts the cluster on a port, or on a free one ("auto"; the script retries if another process takes it first).</summary>
    private void StartOn(string port)
    {
        Port = int.Parse(Script.Output("start", ServerFolder!.FullName, port, "-c", "fsync=off"), System.Globalization.CultureInfo.InvariantCulture);
        Running = true;
    }
}

/// <summary>Tests that need PostgreSQL join this collection: one server for them all, and they run one at a time.</summary>
[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
}

/// <summary>
/// A second throwaway PostgreSQL that takes TCP connections over TLS only (tests/servers/postgres.sh tls): a CA the
/// script made (<see cref="CaCertificate"/>) signed the server's certificate for localhost; <see cref="OtherCaCertificate"/>
/// signed nothing; 'postgres' is trusted over TLS, every other role signs in with scram-sha-256.
/// </summary>
public sealed class TlsPostgresServer : PostgresServer
{
    public TlsPostgresServer()
        : base(tlsOnly: true)
    {
    }

    public string CaCertificate => Path.Combine(Folder!, "tls", "ca.crt");

    public string OtherCaCertificate => Path.Combine(Folder!, "tls", "other-ca.crt");

    /// <summary><c>Host=localhost;…;SSL Mode=VerifyFull;Root Certificate=&lt;ca&gt;</c>, signing in as <paramref name="user"/> (no password in it).</summary>
    public string VerifyFullConnectionString(string database, string user, string? rootCertificate = null) =>
        new NpgsqlConnectionStringBuilder(ConnectionString(database))
        {
            Host = "localhost",
            Username = user,
            SslMode = SslMode.VerifyFull,
            RootCertificate = rootCertificate ?? CaCertificate,
        }.ConnectionString;

    /// <summary>A login role whose scram password is <paramref name="password"/> (an access token, for the tests), owning <paramref name="database"/> (so it may create the job tables there).</summary>
    public void CreateRole(string role, string password, string database)
    {
        ExecuteAsAdmin($"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password.Replace("'", "''")}'");
        ExecuteAsAdmin($"ALTER DATABASE \"{database}\" OWNER TO \"{role}\"");
    }
}

/// <summary>Tests that need the TLS-only PostgreSQL join this collection: one server for them all.</summary>
[CollectionDefinition("postgres-tls")]
public sealed class TlsPostgresCollection : ICollectionFixture<TlsPostgresServer>
{
}
