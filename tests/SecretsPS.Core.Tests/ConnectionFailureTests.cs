using System.Data.Common;
using Npgsql;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Each way a PostgreSQL connection fails is told apart, against a real server: nothing listening (DatabaseUnavailable,
/// "nothing answers"), no such database (DatabaseNotFound); the TLS and sign-in kinds are in <see cref="TlsAndTokenTests"/>,
/// the pooler's in <see cref="ReencryptionThroughPgBouncerTests"/>. A read-only connection is a READ ONLY transaction the
/// server enforces.
/// </summary>
[Collection("postgres")]
public sealed class ConnectionFailureTests(PostgresServer server, ITestOutputHelper output)
    : PostgresConnectionTests<PostgresServer>(server, output)
{

    [Fact]
    public void A_database_the_server_does_not_have_is_DatabaseNotFound_not_cannot_reach()
    {
        if (Unavailable()) return;
        var error = OpenFails(Server.ConnectionString("no_such_database_here"));

        Assert.Equal(ErrorIds.DatabaseNotFound, error.ErrorId);
        Assert.Equal(ErrorKind.ObjectNotFound, error.Kind);
        Assert.Contains("3D000", error.Message, StringComparison.Ordinal);
        Assert.Contains("Database=", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_port_where_nothing_listens_is_DatabaseUnavailable_saying_nothing_answers()
    {
        if (Unavailable()) return;
        var port = FreePort();
        var error = OpenFails($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Timeout=5");

        Assert.Equal(ErrorIds.DatabaseUnavailable, error.ErrorId);
        Assert.Equal(ErrorKind.ResourceUnavailable, error.Kind);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("the server is down, or Host or Port is wrong", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_engine_reports_a_server_that_is_down_as_refused_too()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        var engine = new ReencryptionEngine(new PostgreSqlDialect(), $"Host=127.0.0.1;Port={FreePort()};Username=postgres;Database=postgres;Timeout=5", DatabaseSignIn.None, keys.Ring);

        var error = Assert.Throws<SecretsPSException>(() =>
            engine.Preview(new ReencryptionOptions { Table = "t", Column = "c" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal(ErrorIds.DatabaseUnavailable, error.ErrorId);
        Assert.Contains("the server is down, or Host or Port is wrong", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CREATE TABLE t (id int)")]
    [InlineData("SET default_transaction_read_only = off; CREATE TABLE t (id int)")]
    [InlineData("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; CREATE TABLE t (id int)")]
    public void A_read_only_connection_is_one_READ_ONLY_transaction_in_which_the_server_refuses_every_write(string write)
    {
        if (Unavailable()) return;
        var cs = Server.CreateDatabase();
        var dialect = new PostgreSqlDialect();
        using (var connection = DatabaseConnection.Open(dialect, cs, DatabaseSignIn.None, readOnly: true))
        {
            Assert.True(PostgreSqlDialect.IsInReadOnlyTransaction(connection));
            // The preview's own transaction is that same one, with the key text settings on top.
            var transaction = dialect.BeginRead(connection);
            using var setting = connection.CreateCommand();
            setting.CommandText = "SELECT current_setting('transaction_read_only') || current_setting('DateStyle')";
            Assert.Equal("onISO, YMD", setting.ExecuteScalar());
            using var command = connection.CreateCommand();
            command.CommandText = write;
            var refused = Assert.Throws<PostgresException>(() => command.ExecuteNonQuery());
            Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, refused.SqlState);
        }
        using var direct = new NpgsqlConnection(cs);
        direct.Open();
        using var tables = new NpgsqlCommand("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", direct);
        Assert.Equal(0L, tables.ExecuteScalar());
    }

    [Fact]
    public void Every_connection_goes_without_startup_options_server_side_prepares_or_pool_resets_whatever_the_string_asks()
    {
        if (Unavailable()) return;
        var cs = new NpgsqlConnectionStringBuilder(Server.CreateDatabase()) { MaxAutoPrepare = 20 }.ConnectionString;
        using var connection = (NpgsqlConnection)new PostgreSqlDialect().CreateConnection(cs, DatabaseSignIn.None, readOnly: true);
        var settings = new NpgsqlConnectionStringBuilder(connection.ConnectionString);

        Assert.True(string.IsNullOrEmpty(settings.Options));
        Assert.Equal(0, settings.MaxAutoPrepare);
        Assert.True(settings.NoResetOnClose);
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>
/// The TLS-only PostgreSQL with a CA of the test's own and a role whose scram password is a 900-character access token:
/// re-encryption with the token and SSL Mode=VerifyFull; a wrong CA, no TLS, or a wrong token are each told apart, with
/// nothing written and the token in no message.
/// </summary>
[Collection("postgres-tls")]
public sealed class TlsAndTokenTests(TlsPostgresServer server, ITestOutputHelper output)
    : PostgresConnectionTests<TlsPostgresServer>(server, output)
{
    private static readonly TestTable Standard = new(null, "secrets", "id", "secret");

    /// <summary>A fresh database owned by a fresh role signed in with a fresh 900-character token; the secrets table seeded with v1 values.</summary>
    private (PostgreSqlTestDatabase Db, string Role, string Token, Dictionary<string, string?> Expected) Setup(TestKeys keys, int rows = 60)
    {
        var db = new PostgreSqlTestDatabase(Server);
        var role = "token_" + Guid.NewGuid().ToString("N")[..12];
        var token = NewToken();
        var database = new NpgsqlConnectionStringBuilder(db.ConnectionString).Database!;
        Server.CreateRole(role, token, database);
        db.CreateTable(Standard);
        var expected = ReencryptionEngineTests.Seed(db, Standard, keys, rows, i => i % 9 == 0 ? null : "v1");
        db.Execute($"ALTER TABLE secrets OWNER TO \"{role}\"");
        return (db, role, token, expected);
    }

    /// <summary>900 characters of the alphabet a JWT uses, as cloud IAM tokens are.</summary>
    internal static string NewToken()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        var bytes = System.Security.Cryptography.RandomNumberGenerator.GetBytes(900);
        return string.Concat(bytes.Select(b => alphabet[b % alphabet.Length]));
    }

    private static void AssertNoToken(Exception error, string token)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            Assert.DoesNotContain(token, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(token[..40], e.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Reencryption_signed_in_with_a_900_character_token_over_VerifyFull_moves_every_row_and_the_reader_agrees()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        var (db, role, token, expected) = Setup(keys);
        using var _ = db;
        var cs = Server.VerifyFullConnectionString(new NpgsqlConnectionStringBuilder(db.ConnectionString).Database!, role);
        var engine = new ReencryptionEngine(new PostgreSqlDialect(), cs, new DatabaseSignIn(null, null, token), keys.Ring);

        var preview = engine.Preview(ReencryptionEngineTests.Options(Standard), new RecordingObserver(), CancellationToken.None);
        var paused = engine.Run(ReencryptionEngineTests.Options(Standard) with { MaxRows = 20 }, new RecordingObserver(), CancellationToken.None);
        var job = engine.Run(ReencryptionEngineTests.Options(Standard) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(expected.Count(e => e.Value is not null), preview.WouldReencrypt);
        Assert.Equal(JobStatus.Paused, paused.StatusKind);
        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal(paused.Id, job.Id);
        IndependentReader.AssertTableHolds(db, Standard, keys, expected, "v2", Output);
        using var check = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cs) { Password = token }.ConnectionString);
        check.Open();
        using var ssl = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", check);
        Assert.Equal(true, ssl.ExecuteScalar());
    }

    [Fact]
    public void A_server_certificate_from_another_CA_is_DatabaseTlsFailed_and_nothing_is_written()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        var (db, role, token, _) = Setup(keys, rows: 10);
        using var _ = db;
        var before = db.Fingerprint(Standard);
        var cs = Server.VerifyFullConnectionString(new NpgsqlConnectionStringBuilder(db.ConnectionString).Database!, role, Server.OtherCaCertificate);
        var engine = new ReencryptionEngine(new PostgreSqlDialect(), cs, new DatabaseSignIn(null, null, token), keys.Ring);

        var error = Fails(() => engine.Run(ReencryptionEngineTests.Options(Standard), new RecordingObserver(), CancellationToken.None));

        Assert.Equal(ErrorIds.DatabaseTlsFailed, error.ErrorId);
        Assert.Equal(ErrorKind.SecurityError, error.Kind);
        Assert.Contains("TLS", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Cannot reach", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, db.Fingerprint(Standard));
        Assert.DoesNotContain(db.TableNames(), t => t.Contains("reencrypt", StringComparison.Ordinal));
        AssertNoToken(error, token);
    }

    [Fact]
    public void A_connection_without_TLS_to_a_hostssl_only_server_is_DatabaseTlsFailed()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        var (db, role, token, _) = Setup(keys, rows: 1);
        using var _ = db;
        var cs = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Username = role, SslMode = SslMode.Disable }.ConnectionString;

        var error = OpenFails(cs, new DatabaseSignIn(null, null, token), readOnly: true);

        Assert.Equal(ErrorIds.DatabaseTlsFailed, error.ErrorId);
        AssertNoToken(error, token);
    }

    [Fact]
    public void A_wrong_or_expired_token_is_DatabaseAuthenticationFailed_and_neither_token_appears_anywhere()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        var (db, role, token, _) = Setup(keys, rows: 1);
        using var _ = db;
        var wrong = NewToken();
        var cs = Server.VerifyFullConnectionString(new NpgsqlConnectionStringBuilder(db.ConnectionString).Database!, role);

        var error = OpenFails(cs, new DatabaseSignIn(null, null, wrong), readOnly: true);

        Assert.Equal(ErrorIds.DatabaseAuthenticationFailed, error.ErrorId);
        Assert.Equal(ErrorKind.SecurityError, error.Kind);
        Assert.Contains("28P01", error.Message, StringComparison.Ordinal);
        Assert.Contains("-AccessToken", error.Message, StringComparison.Ordinal);
        AssertNoToken(error, wrong);
        AssertNoToken(error, token);
    }

    [Fact]
    public void No_token_at_all_where_the_server_wants_one_is_DatabaseAuthenticationFailed()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1");
        var (db, role, _, _) = Setup(keys, rows: 1);
        using var _ = db;
        var cs = Server.VerifyFullConnectionString(new NpgsqlConnectionStringBuilder(db.ConnectionString).Database!, role);

        var error = OpenFails(cs, DatabaseSignIn.None, readOnly: true);

        Assert.Equal(ErrorIds.DatabaseAuthenticationFailed, error.ErrorId);
    }
}

/// <summary>
/// What the connection-failure tests on each PostgreSQL fixture share: a pass with a note when the machine has no
/// PostgreSQL, and the failure an action must end in, written to the test's output for whoever reads a red run.
/// </summary>
public abstract class PostgresConnectionTests<TServer>(TServer server, ITestOutputHelper output)
    where TServer : PostgresServer
{
    protected TServer Server { get; } = server;

    protected ITestOutputHelper Output { get; } = output;

    protected bool Unavailable()
    {
        if (Server.Available) return false;
        Output.WriteLine($"NOT RUN: {Server.Reason}");
        return true;
    }

    protected SecretsPSException Fails(Action action)
    {
        var error = Assert.Throws<SecretsPSException>(action);
        Output.WriteLine($"{error.ErrorId}: {error.Message}");
        return error;
    }

    protected SecretsPSException OpenFails(string connectionString, DatabaseSignIn? signIn = null, bool readOnly = false) =>
        Fails(() => DatabaseConnection.Open(new PostgreSqlDialect(), connectionString, signIn ?? DatabaseSignIn.None, readOnly));
}

/// <summary>
/// The kinds PostgreSQL and PgBouncer report at sign-in, as their errors read (SQLSTATE and text), each mapped to its
/// own ErrorId; no message ever quotes the server's text (it can hold the user name, a database name, parts of the string).
/// </summary>
public sealed class PostgreSqlFailureKindTests
{
    [Theory]
    [InlineData("28P01", "password authentication failed for user \"app\"", ConnectionFailureKind.Authentication, "DatabaseAuthenticationFailed")]
    [InlineData("28000", "role \"app\" does not exist", ConnectionFailureKind.Authentication, "DatabaseAuthenticationFailed")]
    [InlineData("28000", "no pg_hba.conf entry for host \"10.0.0.4\", user \"app\", database \"app\", no encryption", ConnectionFailureKind.Tls, "DatabaseTlsFailed")]
    [InlineData("3D000", "database \"app\" does not exist", ConnectionFailureKind.DatabaseMissing, "DatabaseNotFound")]
    [InlineData("08P01", "no such database: app", ConnectionFailureKind.DatabaseMissing, "DatabaseNotFound")]
    [InlineData("08P01", "unsupported startup parameter: options", ConnectionFailureKind.ParameterRejected, "DatabaseParameterRejected")]
    [InlineData("08P01", "unsupported startup parameter: search_path", ConnectionFailureKind.ParameterRejected, "DatabaseParameterRejected")]
    [InlineData("08P01", "password authentication failed", ConnectionFailureKind.Authentication, "DatabaseAuthenticationFailed")]
    [InlineData("08P01", "SSL required", ConnectionFailureKind.Tls, "DatabaseTlsFailed")]
    [InlineData("08P01", "no more connections allowed (max_client_conn)", ConnectionFailureKind.Unreachable, "DatabaseUnavailable")]
    [InlineData("08P01", "pgbouncer cannot connect to server", ConnectionFailureKind.Unreachable, "DatabaseUnavailable")]
    [InlineData("42704", "unrecognized configuration parameter \"no_such_setting\"", ConnectionFailureKind.ParameterRejected, "DatabaseParameterRejected")]
    [InlineData("57P03", "the database system is starting up", ConnectionFailureKind.Unreachable, "DatabaseUnavailable")]
    [InlineData("53300", "sorry, too many clients already", ConnectionFailureKind.Unreachable, "DatabaseUnavailable")]
    public void Each_sign_in_error_is_its_own_kind_and_ErrorId_and_the_message_never_quotes_the_servers_text(string sqlState, string text, ConnectionFailureKind kind, string errorId)
    {
        var dialect = new PostgreSqlDialect();
        var server = new Npgsql.PostgresException(text, "FATAL", "FATAL", sqlState);
        var wrapped = new Npgsql.NpgsqlException("Exception while connecting", server);

        Assert.Equal(kind, dialect.ClassifyConnectionFailure(server));
        Assert.Equal(kind, dialect.ClassifyConnectionFailure(wrapped));
        var error = DatabaseConnection.Failure(dialect, "Host=db.example.com;Port=5432;Database=app;Username=app;Password=pw-7781", wrapped);
        Assert.Equal(errorId, error.ErrorId);
        Assert.Contains(sqlState, error.Message, StringComparison.Ordinal);
        Assert.Contains("db.example.com:5432/app", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(text, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pw-7781", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_kind_has_its_own_message_and_only_an_unreachable_server_reads_cannot_reach()
    {
        var dialect = new PostgreSqlDialect();
        var messages = new Dictionary<ConnectionFailureKind, string>();
        foreach (var (state, text) in new[] { ("28P01", "x"), ("3D000", "x"), ("08P01", "unsupported startup parameter: options"), ("28000", "no encryption"), ("57P03", "x") })
        {
            var e = new Npgsql.PostgresException(text, "FATAL", "FATAL", state);
            messages[dialect.ClassifyConnectionFailure(e)] = DatabaseConnection.Failure(dialect, "Host=h;Database=d", e).Message;
        }
        messages[ConnectionFailureKind.Refused] = DatabaseConnection.Failure(dialect, "Host=h;Database=d",
            new Npgsql.NpgsqlException("x", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused))).Message;

        Assert.Equal(Enum.GetValues<ConnectionFailureKind>().Length, messages.Count);
        Assert.Equal(messages.Count, messages.Values.Distinct().Count());
        foreach (var (kind, message) in messages)
            Assert.Equal(kind == ConnectionFailureKind.Unreachable, message.StartsWith("Cannot reach", StringComparison.Ordinal));
    }
}
