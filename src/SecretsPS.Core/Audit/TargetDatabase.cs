using SecretsPS.Core.Data;

namespace SecretsPS.Core.Audit;

/// <summary>
/// The database a cleanup target lives in, when the targets name several (a fleet CSV piped into
/// Remove-UnusedEncryptionKey): one key file serves them all, so a version is removed only if none of them uses it. It
/// prints as the dialect describes it (server and database), never as the connection string, which can hold a password.
/// </summary>
public sealed class TargetDatabase : IEquatable<TargetDatabase>
{
    public TargetDatabase(ISqlDialect dialect, string connectionString)
    {
        Dialect = dialect;
        ConnectionString = connectionString;
    }

    public ISqlDialect Dialect { get; }
    public string ConnectionString { get; }

    /// <summary>Server and database (SQLite: the file), without user or password.</summary>
    public string Description => Dialect.Describe(ConnectionString);

    public bool Equals(TargetDatabase? other) =>
        other is not null && Dialect.Provider == other.Dialect.Provider && string.Equals(ConnectionString, other.ConnectionString, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as TargetDatabase);

    public override int GetHashCode() => HashCode.Combine(Dialect.Provider, StringComparer.Ordinal.GetHashCode(ConnectionString));

    public override string ToString() => Description;
}
