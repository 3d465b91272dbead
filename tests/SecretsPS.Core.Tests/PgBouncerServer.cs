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
public sealed class PgBouncerServer : ScriptedServer
{
    public PgBouncerServer()
        : base("pgbouncer.sh", TimeSpan.FromSeconds(120))
    {
        Postgres = new PostgresServer();
        if (!Postgres.Available)
        {
            Reason = Postgres.Reason;
            return;
        }
        var (code, _, why) = Script.Run(["bin"], mayFail: true);
        if (code == 3)
        {
            Reason = why.Trim();
            return;
        }
        try
        {
            ServerFolder = Directory.CreateTempSubdirectory("secretsps-pgbouncer-");
            Port = int.Parse(Script.Output("start", ServerFolder.FullName, Postgres.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "auto"),
                System.Globalization.CultureInfo.InvariantCulture);
        }
        catch
        {
            Dispose();
            throw;
        }
        StopAtProcessExit();
        Available = true;
    }

    /// <summary>The PostgreSQL behind the pooler (direct connections: the tests' own setup and independent reads).</summary>
    public PostgresServer Postgres { get; }

    public bool Available { get; }

    public string? Reason { get; }

    /// <summary>PgBouncer's TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The log PgBouncer writes (what it rejected, and why).</summary>
    public string LogFile => Path.Combine(ServerFolder!.FullName, "pgbouncer.log");

    /// <summary>A connection string that reaches <paramref name="directConnectionString"/>'s database through the pooler.</summary>
    public string Through(string directConnectionString) =>
        new NpgsqlConnectionStringBuilder(directConnectionString) { Host = "127.0.0.1", Port = Port }.ConnectionString;

    protected override void ClearPools() => NpgsqlConnection.ClearAllPools();

    protected override void DisposeBackends() => Postgres.Dispose();
}

/// <summary>Tests that go through PgBouncer join this collection: one pooler (and its PostgreSQL) for them all.</summary>
[CollectionDefinition("pgbouncer")]
public sealed class PgBouncerCollection : ICollectionFixture<PgBouncerServer>
{
}
