using System.Reflection;
using Microsoft.Data.SqlClient;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// How the SQL Server dialect opens connections, without a server: SqlClient's own retry logic with Azure SQL's
/// transient errors, bounded; sign-ins this SqlClient cannot make refused before any connection, naming -AccessToken;
/// SQL Server's errors sorted into the kinds that send the operator the right way.
/// </summary>
public sealed class SqlServerConnectionTests
{
    private static readonly SqlServerDialect Dialect = new();

    private const string Server = "Server=tcp:127.0.0.1,1;Database=payments;Connect Timeout=2";

    // ------------------------------------------------------------------ retry logic

    [Fact]
    public void Connections_open_with_SqlClients_exponential_retry_bounded_to_four_tries_within_twenty_seconds_a_wait()
    {
        var options = SqlServerDialect.ConnectionRetryOptions;
        Assert.Equal(4, options.NumberOfTries);
        Assert.Equal(TimeSpan.FromSeconds(2), options.DeltaTime);
        Assert.Equal(TimeSpan.FromSeconds(20), options.MaxTimeInterval);
        Assert.Equal(SqlServerDialect.TransientErrorNumbers, options.TransientErrors);

        using var connection = (SqlConnection)Dialect.CreateConnection(Server, DatabaseSignIn.None, readOnly: false);
        var retry = connection.RetryLogicProvider.RetryLogic;
        Assert.Equal(4, retry.NumberOfTries);
        // Every wait of the schedule stays within the cap (SqlClient adds jitter below it).
        var waits = retry.RetryIntervalEnumerator;
        for (int i = 0; i < 10 && waits.MoveNext(); i++) Assert.InRange(waits.Current, TimeSpan.Zero, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void Azure_SQLs_documented_transient_errors_are_retried_and_a_refused_sign_in_or_a_bad_statement_is_not()
    {
        // The numbers, and every number of SqlClient's own baseline list in the version served here.
        int[] azure = [40613, 40197, 40501, 49918, 49919, 49920, 4221, 4060, 10928, 10929, 40143, 40540, 1205];
        Assert.Empty(azure.Except(SqlServerDialect.TransientErrorNumbers));
        Assert.Empty(SqlConfigurableRetryFactory.BaselineTransientErrors.Except(SqlServerDialect.TransientErrorNumbers));

        using var connection = (SqlConnection)Dialect.CreateConnection(Server, DatabaseSignIn.None, readOnly: false);
        var transient = connection.RetryLogicProvider.RetryLogic.TransientPredicate;
        foreach (var n in azure) Assert.True(transient(SqlErrors.Exception(n)), $"error {n} is not retried");
        foreach (var n in new[] { 18456, 2627, 208, 102, 229 }) Assert.False(transient(SqlErrors.Exception(n)), $"error {n} is retried");
    }

    [Fact]
    public void A_run_retries_the_transient_errors_and_a_lost_connection_but_not_an_error_that_would_come_back()
    {
        foreach (var n in new[] { 40613, 40197, 40501, 49918, 1205, 1222, 10054 }) Assert.True(Dialect.IsTransient(SqlErrors.Exception(n)), n.ToString());
        foreach (var n in new[] { 18456, 2627, 547, 8152, 2628, 229, 208 }) Assert.False(Dialect.IsTransient(SqlErrors.Exception(n)), n.ToString());
        Assert.True(Dialect.IsTransient(new IOException("connection reset")));
        Assert.True(Dialect.IsTransient(new InvalidOperationException("wrapped", SqlErrors.Exception(40613))));
    }

    // ------------------------------------------------------------------ sign-in

    public static TheoryData<string> EntraMethods
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var m in Enum.GetNames<SqlAuthenticationMethod>().Where(n => n.StartsWith("ActiveDirectory", StringComparison.Ordinal))) data.Add(m);
            return data;
        }
    }

    /// <summary>
    /// Microsoft.Data.SqlClient 7 moved Entra ID sign-in to a separate package (Microsoft.Data.SqlClient.Extensions.Azure),
    /// which SecretsPS does not ship: no provider is registered for these methods, and SqlClient would only fail once it
    /// had reached the server. Refused before any connection, naming -AccessToken; the password is never in the message.
    /// </summary>
    [Theory]
    [MemberData(nameof(EntraMethods))]
    public void An_Entra_ID_Authentication_keyword_is_refused_before_connecting_with_an_error_naming_AccessToken(string method)
    {
        Assert.Null(SqlAuthenticationProvider.GetProvider(Enum.Parse<SqlAuthenticationMethod>(method)));
        var builder = new SqlConnectionStringBuilder(Server) { Authentication = Enum.Parse<SqlAuthenticationMethod>(method) };
        if (method is "ActiveDirectoryPassword" or "ActiveDirectoryServicePrincipal") { builder.UserID = "ops@contoso.example"; builder.Password = "Hunter2-never-shown"; }

        var e = Assert.Throws<SecretsPSException>(() => Dialect.CreateConnection(builder.ConnectionString, DatabaseSignIn.None, readOnly: false));

        Assert.Equal(ErrorIds.SqlServerAuthenticationUnsupported, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("-AccessToken", e.Message);
        Assert.Contains(method, e.Message);
        Assert.DoesNotContain("Hunter2", e.ToString());
    }

    [Fact]
    public void SQL_sign_in_and_a_token_alone_are_accepted_and_the_token_becomes_SqlConnection_AccessToken()
    {
        using (var c = Dialect.CreateConnection(Server + ";Authentication=SqlPassword", new DatabaseSignIn("ops", "pw", null), readOnly: false)) Assert.NotNull(c);
        using (var c = (SqlConnection)Dialect.CreateConnection(Server, new DatabaseSignIn(null, null, "eyJ0eXAi.token"), readOnly: true))
        {
            Assert.Equal("eyJ0eXAi.token", c.AccessToken);
            Assert.DoesNotContain("eyJ0eXAi", c.ConnectionString);
        }
    }

    [Fact]
    public void A_user_named_beside_a_token_is_not_passed_to_SqlClient_which_would_refuse_it()
    {
        // -Credential may name the user with -AccessToken (PostgreSQL needs one); the token names its own principal.
        using var c = (SqlConnection)Dialect.CreateConnection(Server, new DatabaseSignIn("ops@contoso.example", null, "eyJ0eXAi.token"), readOnly: false);
        Assert.Equal("eyJ0eXAi.token", c.AccessToken);
        Assert.Equal("", new SqlConnectionStringBuilder(c.ConnectionString).UserID);
    }

    [Theory]
    [InlineData(";User ID=ops;Password=Hunter2-never-shown", "User ID/Password")]
    [InlineData(";Authentication=Active Directory Default", "Authentication")]
    [InlineData(";Integrated Security=true", "Integrated Security")]
    public void A_token_with_another_sign_in_in_the_connection_string_is_refused_naming_the_keyword(string more, string named)
    {
        var e = Assert.Throws<SecretsPSException>(() => Dialect.CreateConnection(Server + more, new DatabaseSignIn(null, null, "token-value-never-shown"), readOnly: false));
        Assert.Equal(ErrorIds.AccessTokenConflict, e.ErrorId);
        Assert.Contains(named, e.Message);
        Assert.DoesNotContain("token-value", e.ToString());
        Assert.DoesNotContain("Hunter2", e.ToString());
    }

    // ------------------------------------------------------------------ failure kinds

    [Theory]
    [InlineData(18456, ConnectionFailureKind.Authentication)]
    [InlineData(18486, ConnectionFailureKind.Authentication)]
    [InlineData(18488, ConnectionFailureKind.Authentication)]
    [InlineData(4060, ConnectionFailureKind.DatabaseMissing)]
    [InlineData(911, ConnectionFailureKind.DatabaseMissing)]
    [InlineData(40613, ConnectionFailureKind.Unreachable)]
    public void SQL_Server_errors_are_classified_by_number(int number, ConnectionFailureKind kind)
    {
        Assert.Equal(kind, Dialect.ClassifyConnectionFailure(SqlErrors.Exception(number)));
        Assert.Equal(kind, Dialect.ClassifyConnectionFailure(new InvalidOperationException("wrapped", SqlErrors.Exception(number))));
    }

    [Fact]
    public void A_refused_certificate_is_classified_as_TLS()
    {
        var untrusted = SqlErrors.Exception(0, message:
            "A connection was successfully established with the server, but then an error occurred during the login process. " +
            "(provider: SSL Provider, error: 0 - The certificate chain was issued by an authority that is not trusted.)");
        Assert.Equal(ConnectionFailureKind.Tls, Dialect.ClassifyConnectionFailure(untrusted));
        Assert.Equal(ConnectionFailureKind.Tls, Dialect.ClassifyConnectionFailure(
            new InvalidOperationException("wrapped", new System.Security.Authentication.AuthenticationException("remote certificate is invalid"))));
    }

    [Fact]
    public void A_port_where_nothing_listens_is_a_network_failure_not_a_sign_in_or_database_one()
    {
        using var connection = Dialect.CreateConnection(Server, new DatabaseSignIn("ops", "pw", null), readOnly: false);
        var e = Assert.ThrowsAny<Exception>(() => connection.Open());
        Assert.True(Dialect.IsConnectionFailure(e), e.GetType().FullName);
        Assert.Contains(Dialect.ClassifyConnectionFailure(e), new[] { ConnectionFailureKind.Unreachable, ConnectionFailureKind.Refused });
    }
}

/// <summary>SqlException has no public constructor: these build one as SqlClient does, for tests of what is done with it.</summary>
internal static class SqlErrors
{
    public static SqlException Exception(int number, byte errorClass = 16, string message = "a SQL Server error")
    {
        const BindingFlags any = BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance;
        var ctor = typeof(SqlError).GetConstructors(any)
            .Where(c => c.GetParameters() is { Length: > 0 } p && p[0].ParameterType == typeof(int))
            .OrderBy(c => c.GetParameters().Length)
            .First();
        var args = ctor.GetParameters().Select((p, i) => i == 0 ? number
            : p.ParameterType == typeof(byte) ? (p.Name!.Contains("class", StringComparison.OrdinalIgnoreCase) ? errorClass : (object)(byte)1)
            : p.ParameterType == typeof(string) ? (p.Name!.Contains("message", StringComparison.OrdinalIgnoreCase) ? message : "test")
            : p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType)
            : null).ToArray();
        var error = (SqlError)ctor.Invoke(args);
        var errors = (SqlErrorCollection)Activator.CreateInstance(typeof(SqlErrorCollection), nonPublic: true)!;
        typeof(SqlErrorCollection).GetMethod("Add", any)!.Invoke(errors, [error]);
        var create = typeof(SqlException).GetMethods(BindingFlags.NonPublic | BindingFlags.Static)
            .Where(m => m.Name == "CreateException" && m.GetParameters() is { Length: 2 } p && p[0].ParameterType == typeof(SqlErrorCollection) && p[1].ParameterType == typeof(string))
            .First();
        return (SqlException)create.Invoke(null, [errors, "16.0.0"])!;
    }
}
