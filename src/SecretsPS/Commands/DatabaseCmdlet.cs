using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Data;

namespace SecretsPS.Commands;

/// <summary>The cmdlets that work on a database: -Provider, -ConnectionString (or $env:SECRETSPS_CONNECTION_STRING), -Credential.</summary>
public abstract class DatabaseCmdlet : SecretsCmdlet
{
    public const string ConnectionVariable = "SECRETSPS_CONNECTION_STRING";

    /// <summary>Sqlite (the embedded default), PostgreSql or SqlServer.</summary>
    [Parameter]
    [ValidateSet("Sqlite", "PostgreSql", "SqlServer", IgnoreCase = true)]
    public string Provider { get; set; } = "Sqlite";

    /// <summary>The database; for Sqlite a file path is enough. Default: $env:SECRETSPS_CONNECTION_STRING.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    /// <summary>User and password for the database, kept out of the connection string.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    protected ISqlDialect Dialect => SqlDialect.For(Enum.Parse<DatabaseProvider>(Provider, ignoreCase: true));

    protected string ResolveConnectionString()
    {
        var text = ConnectionString ?? System.Environment.GetEnvironmentVariable(ConnectionVariable);
        if (string.IsNullOrWhiteSpace(text))
            throw new SecretsPSException(ErrorIds.ConnectionStringMissing, ErrorKind.InvalidArgument,
                Localized.Format(CommandMessages.ConnectionStringMissing, ConnectionVariable));
        // A relative SQLite file means the PowerShell location, not the process's working folder. A bare path may also
        // name a PowerShell drive (TestDrive:\app.db, ~\app.db).
        if (Provider.Equals("Sqlite", StringComparison.OrdinalIgnoreCase))
            text = text.Contains('=')
                ? SqliteDialect.WithDataSourceUnder(text, SessionState.Path.CurrentFileSystemLocation.ProviderPath)
                : SessionState.Path.GetUnresolvedProviderPathFromPSPath(text);
        return text;
    }

    protected string? UserName => Credential?.UserName;

    protected string? Password => Credential?.GetNetworkCredential().Password;
}
