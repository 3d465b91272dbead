using System.Collections.Frozen;
using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>
/// A connection string as an output object may carry it: every password and token removed, whatever the driver calls
/// them (Password, Pwd, Psw, Access Token…). A pipeline that needs them again takes -Credential or -AccessToken.
/// </summary>
public static class ConnectionStringWithoutSecrets
{
    // Every driver's spelling of a secret in a connection string (Npgsql, SqlClient, Sqlite, MySqlConnector), compared
    // with spaces and case ignored. Frozen: every runspace of the process reads it at once.
    private static readonly FrozenSet<string> SecretKeys = new[]
    {
        "password", "pwd", "psw", "accesstoken", "token", "sslpassword", "sslkeypassword", "certificatepassword",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public static string From(string connectionString)
    {
        // A bare SQLite path has no keys, and so no secret.
        if (!connectionString.Contains('=')) return connectionString;
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        foreach (var key in builder.Keys.Cast<string>().ToList())
        {
            if (SecretKeys.Contains(key.Replace(" ", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal)))
                builder.Remove(key);
        }
        return builder.ConnectionString;
    }
}
