using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>Opens a connection through a dialect, turning every way of not reaching the server into one clear error.</summary>
public static class DatabaseConnection
{
    /// <summary>An open connection; DatabaseUnavailable (never the connection string, so never its password) otherwise.</summary>
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
            throw new SecretsPSException(ErrorIds.DatabaseUnavailable, ErrorKind.ResourceUnavailable,
                Localized.Format(Messages.DatabaseUnavailable, dialect.Describe(connectionString), e.GetType().Name),
                e);
        }
    }
}
