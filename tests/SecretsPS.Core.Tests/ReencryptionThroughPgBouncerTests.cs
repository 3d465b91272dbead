using System.Data.Common;
using Npgsql;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Every scenario of <see cref="ReencryptionEngineTests"/> with the engine connected through PgBouncer in transaction
/// pooling mode (Azure's built-in pooler, most self-hosted ones), while the tests' own setup and the independent reader
/// go straight to the PostgreSQL behind it. A pooler in that mode rejects startup options and hands each transaction to
/// any server connection, so these pass only if nothing the engine does relies on a session.
/// </summary>
[Collection("pgbouncer")]
public sealed class ReencryptionThroughPgBouncerTests : ReencryptionEngineTests
{
    private readonly PgBouncerServer _pooler;

    public ReencryptionThroughPgBouncerTests(PgBouncerServer pooler, ITestOutputHelper output)
        : base(output)
    {
        _pooler = pooler;
    }

    internal override TestDatabase NewDatabase() => new PooledTestDatabase(_pooler);

    internal override string TextKeyType => "text PRIMARY KEY";

    internal override string PlainIntegerType => "bigint";

    protected override bool Unavailable()
    {
        if (_pooler.Available) return false;
        Output.WriteLine($"NOT RUN: {_pooler.Reason}");
        return true;
    }

    [Fact]
    public void Preview_through_the_pooler_runs_in_a_transaction_the_server_keeps_read_only()
    {
        if (Unavailable()) return;
        using var db = NewDatabase();
        var dialect = new PostgreSqlDialect();
        using var connection = DatabaseConnection.Open(dialect, db.ConnectionString, DatabaseSignIn.None, readOnly: true);

        Assert.True(PostgreSqlDialect.IsInReadOnlyTransaction(connection));
        using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE written_by_a_reader (id int)";
        var refused = Assert.Throws<PostgresException>(() => command.ExecuteNonQuery());
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, refused.SqlState);
        connection.Dispose();
        Assert.DoesNotContain(db.TableNames(), t => t.EndsWith("written_by_a_reader", StringComparison.Ordinal));
    }

    [Fact]
    public void A_startup_option_the_pooler_rejects_is_DatabaseParameterRejected_naming_the_pooler_not_cannot_reach()
    {
        if (Unavailable()) return;
        using var db = NewDatabase();
        var withOptions = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Options = "-c statement_timeout=0" }.ConnectionString;

        var error = Assert.Throws<SecretsPSException>(() => DatabaseConnection.Open(new PostgreSqlDialect(), withOptions, DatabaseSignIn.None, readOnly: false));

        Output.WriteLine(error.Message);
        Assert.Equal(ErrorIds.DatabaseParameterRejected, error.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("PgBouncer", error.Message, StringComparison.Ordinal);
        Assert.Contains("Options=", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// A fresh database on the pooler's PostgreSQL whose <see cref="ConnectionString"/> (the one the engine gets) goes through
/// PgBouncer; every connection the test opens itself goes straight to the server.
/// </summary>
internal sealed class PooledTestDatabase : TestDatabase
{
    private readonly PostgreSqlTestDatabase _direct;

    public PooledTestDatabase(PgBouncerServer pooler)
    {
        _direct = new PostgreSqlTestDatabase(pooler.Postgres);
        ConnectionString = pooler.Through(_direct.ConnectionString);
    }

    public override DatabaseProvider Provider => DatabaseProvider.PostgreSql;
    public override string ConnectionString { get; }
    public override string IntegerKeyType => _direct.IntegerKeyType;
    public override DbConnection Open() => _direct.Open();
    public override DbConnection OpenApplication(int busyTimeoutSeconds) => _direct.OpenApplication(busyTimeoutSeconds);
    public override void Insert(TestTable table, IEnumerable<(object Key, string? Value)> rows) => _direct.Insert(table, rows);
    public override IReadOnlyList<string> TableNames() => _direct.TableNames();
    public override string Fingerprint(TestTable table) => _direct.Fingerprint(table);
    public override void Dispose() => _direct.Dispose();
}
