using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>
/// Which database a connection string given without -Provider is for, when the string says so beyond doubt: a file path
/// or SQLite's own keywords are SQLite (the embedded default), Host= is PostgreSQL (no other driver here calls the server
/// that), and Server= with Port=5432 is PostgreSQL's port. Anything else (Server= alone is also SQL Server's and
/// MySQL's) is refused with ProviderRequired, naming -Provider, rather than guessed.
/// </summary>
public static class ProviderInference
{
    /// <summary>Microsoft.Data.Sqlite's keywords (spaces removed, lower case). Frozen: shared by every runspace.</summary>
    private static readonly System.Collections.Frozen.FrozenSet<string> SqliteKeywords = System.Collections.Frozen.FrozenSet.ToFrozenSet(new[]
    {
        "datasource", "filename", "mode", "cache", "password", "foreignkeys", "recursivetriggers", "defaulttimeout", "pooling", "vfs",
    }, StringComparer.Ordinal);

    public const int PostgreSqlPort = 5432;

    public static DatabaseProvider Infer(string connectionString)
    {
        if (!connectionString.Contains('=')) return DatabaseProvider.Sqlite;
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
            foreach (string key in builder.Keys) keys[Normalize(key)] = Convert.ToString(builder[key], System.Globalization.CultureInfo.InvariantCulture) ?? "";
        }
        catch (ArgumentException)
        {
            // The parser's message can quote the string, password included: never pass it on.
            throw Required();
        }

        if (keys.Count > 0 && keys.Keys.All(SqliteKeywords.Contains) && (keys.ContainsKey("datasource") || keys.ContainsKey("filename")))
            return DatabaseProvider.Sqlite;
        if (keys.ContainsKey("host")) return DatabaseProvider.PostgreSql;
        if (keys.ContainsKey("server") && keys.TryGetValue("port", out var port) && port.Trim() == PostgreSqlPort.ToString(System.Globalization.CultureInfo.InvariantCulture))
            return DatabaseProvider.PostgreSql;
        throw Required();
    }

    private static string Normalize(string key) => key.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant();

    private static SecretsPSException Required() =>
        new(ErrorIds.ProviderRequired, ErrorKind.InvalidArgument,
            Localized.Format(Messages.ProviderRequired, string.Join(", ", Enum.GetNames<DatabaseProvider>())));
}
