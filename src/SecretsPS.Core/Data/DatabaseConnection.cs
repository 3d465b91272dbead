using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>Opens a connection through a dialect, turning every way of not reaching the server into an error that says which way.</summary>
public static class DatabaseConnection
{
    /// <summary>
    /// An open connection; otherwise an error naming what failed (refused, TLS, sign-in, database missing, a parameter a
    /// pooler rejected), never the connection string, so never its password or token.
    /// </summary>
    public static DbConnection Open(ISqlDialect dialect, string connectionString, DatabaseSignIn signIn, bool readOnly)
    {
        var connection = dialect.CreateConnection(connectionString, signIn, readOnly);
        try
        {
            connection.Open();
            return connection;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            connection.Dispose();
            throw Failure(dialect, connectionString, e);
        }
    }

    /// <summary>
    /// The error for a connection that failed, by its kind; <paramref name="unreachableMessage"/> (a format of the
    /// target and the error's code) replaces the generic text for a server that refuses or cannot be reached, e.g. to mention -Resume mid-run.
    /// Only the error's type and code are quoted: a driver's text may hold the user name or parts of the string.
    /// </summary>
    public static SecretsPSException Failure(ISqlDialect dialect, string connectionString, Exception e, string? unreachableMessage = null)
    {
        var target = dialect.Describe(connectionString);
        var code = DatabaseErrorText.Describe(Innermost(e));
        return dialect.ClassifyConnectionFailure(e) switch
        {
            ConnectionFailureKind.Refused => new SecretsPSException(ErrorIds.DatabaseUnavailable, ErrorKind.ResourceUnavailable,
                Localized.Format(unreachableMessage ?? Messages.DatabaseRefused, target, code), e),
            ConnectionFailureKind.Tls => new SecretsPSException(ErrorIds.DatabaseTlsFailed, ErrorKind.SecurityError,
                Localized.Format(Messages.DatabaseTlsFailed, target, code), e),
            ConnectionFailureKind.Authentication => new SecretsPSException(ErrorIds.DatabaseAuthenticationFailed, ErrorKind.SecurityError,
                Localized.Format(Messages.DatabaseAuthenticationFailed, target, code), e),
            ConnectionFailureKind.DatabaseMissing => new SecretsPSException(ErrorIds.DatabaseNotFound, ErrorKind.ObjectNotFound,
                Localized.Format(Messages.DatabaseMissingOnServer, target, code), e),
            ConnectionFailureKind.ParameterRejected => new SecretsPSException(ErrorIds.DatabaseParameterRejected, ErrorKind.InvalidArgument,
                Localized.Format(Messages.DatabaseParameterRejected, target, code), e),
            _ => new SecretsPSException(ErrorIds.DatabaseUnavailable, ErrorKind.ResourceUnavailable,
                Localized.Format(unreachableMessage ?? Messages.DatabaseUnavailable, target, code), e),
        };
    }

    /// <summary>
    /// The error that says most: a server's SQLSTATE sits inside the driver's wrapper; without one, the deepest cause
    /// (SocketException, AuthenticationException, TimeoutException) names what happened on the way.
    /// </summary>
    private static Exception Innermost(Exception e)
    {
        var deepest = e;
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is DbException { SqlState: { Length: > 0 } }) return inner;
            deepest = inner;
        }
        return deepest;
    }
}
