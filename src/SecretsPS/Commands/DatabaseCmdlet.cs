using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Data;

namespace SecretsPS.Commands;

/// <summary>The cmdlets that work on a database: -Provider, -ConnectionString (or $env:SECRETSPS_CONNECTION_STRING), -Credential.</summary>
public abstract class DatabaseCmdlet : SecretsCmdlet
{
    public const string ConnectionVariable = "SECRETSPS_CONNECTION_STRING";

    /// <summary>
    /// Sqlite (the embedded default), PostgreSql, SqlServer or MySql (MySQL and MariaDB). Null or empty (a CSV's empty cell)
    /// when not given: the connection string decides. Read as a value, never through BoundParameters, which keeps a
    /// parameter bound by an earlier pipeline record whose property the next record lacks.
    /// </summary>
    [Parameter]
    [ValidateSet("Sqlite", "PostgreSql", "SqlServer", "MySql", IgnoreCase = true)]
    public string? Provider { get; set; }

    /// <summary>The database; for Sqlite a file path is enough. Default: $env:SECRETSPS_CONNECTION_STRING.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    /// <summary>User and password for the database, kept out of the connection string.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>
    /// A token to sign in with instead of a password (a managed identity's, from Get-AzAccessToken -AsSecureString): SQL
    /// Server takes it as SqlConnection.AccessToken; PostgreSQL and MySQL take it as the password, as Azure and AWS IAM sign-in expect.
    /// </summary>
    [Parameter]
    public System.Security.SecureString? AccessToken { get; set; }

    protected ISqlDialect Dialect => SqlDialect.For(ProviderOf(RawConnectionString()));

    /// <summary>
    /// -Provider when given (it always wins, also from $PSDefaultParameterValues or a pipeline record), else what the
    /// connection string says beyond doubt (<see cref="ProviderInference"/>: a path is SQLite, Host= is PostgreSQL;
    /// otherwise ProviderRequired).
    /// </summary>
    private DatabaseProvider ProviderOf(string? connectionString)
    {
        if (!string.IsNullOrEmpty(Provider)) return Enum.Parse<DatabaseProvider>(Provider, ignoreCase: true);
        if (string.IsNullOrWhiteSpace(connectionString)) return DatabaseProvider.Sqlite;
        var inferred = ProviderInference.Infer(connectionString);
        // A path is SQLite, the default since the first version: only another inference is worth a line, once per database
        // (records of a pipeline can each name another one).
        if (inferred != DatabaseProvider.Sqlite && _inferenceShownFor != connectionString)
        {
            _inferenceShownFor = connectionString;
            Verbose(Localized.Format(CommandMessages.ProviderInferred, inferred));
        }
        return inferred;
    }

    private string? _inferenceShownFor;

    private string? RawConnectionString()
    {
        var session = System.Environment.GetEnvironmentVariable(ConnectionVariable);
        if (ConnectionString is null) return session;
        // A piped job's connection string is $env:SECRETSPS_CONNECTION_STRING's without its secrets when the job was run
        // with it: it signs in as that does (password included), as it did before records could name their database.
        if (!string.IsNullOrWhiteSpace(session) && !CommandLineParameters.Contains(nameof(ConnectionString))
            && ConnectionString != session && ConnectionString == ConnectionStringWithoutSecrets.From(session))
            return session;
        return ConnectionString;
    }

    protected string ResolveConnectionString() => ResolveConnectionString(RawConnectionString());

    /// <summary>A connection string as this command would use it (a SQLite path made absolute), or ConnectionStringMissing.</summary>
    protected string ResolveConnectionString(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new SecretsPSException(ErrorIds.ConnectionStringMissing, ErrorKind.InvalidArgument,
                Localized.Format(CommandMessages.ConnectionStringMissing, ConnectionVariable));
        // A relative SQLite file means the PowerShell location, not the process's working folder. A bare path may also
        // name a PowerShell drive (TestDrive:\app.db, ~\app.db).
        if (ProviderOf(text) == DatabaseProvider.Sqlite)
            text = text.Contains('=')
                ? SqliteDialect.WithDataSourceUnder(text, SessionState.Path.CurrentFileSystemLocation.ProviderPath)
                : SessionState.Path.GetUnresolvedProviderPathFromPSPath(text);
        return text;
    }

    /// <summary>The credential and the token as the library takes them; the SecureStrings are read only here.</summary>
    protected DatabaseSignIn SignIn
    {
        get
        {
            var token = AccessToken is null ? null : new System.Net.NetworkCredential(string.Empty, AccessToken).Password;
            if (token is not null && Credential is not null && Credential.Password.Length > 0)
                throw new SecretsPSException(ErrorIds.CredentialNotSupported, ErrorKind.InvalidArgument,
                    CommandMessages.AccessTokenWithPassword);
            return new DatabaseSignIn(Credential?.UserName, Credential?.GetNetworkCredential().Password is { Length: > 0 } p ? p : null, token);
        }
    }

    /// <summary>
    /// The database a connection string names, as a message may show it: server and database (SQLite: the file), never a
    /// user or password; a connection string that names no provider beyond doubt shows without its secrets.
    /// </summary>
    protected string DescribeDatabase(string? connectionString)
    {
        try
        {
            var resolved = ResolveConnectionString(connectionString);
            return SqlDialect.For(ProviderOf(resolved)).Describe(resolved);
        }
        catch (SecretsPSException)
        {
            return string.IsNullOrWhiteSpace(connectionString) ? "" : ConnectionStringWithoutSecrets.From(connectionString);
        }
    }

    /// <summary>
    /// A pipeline record (seen through a hidden InputObject parameter: a compiled cmdlet has no other view of it) that
    /// names a database other than the typed -ConnectionString (or a provider other than the typed
    /// -Provider) ends the command: the operator meant one of the two, and working on the typed one would silently
    /// redirect the record's work. The same database written otherwise (a piped job's connection string has no password)
    /// is the same database.
    /// </summary>
    protected void RefuseRecordOfOtherDatabase(PSObject? record)
    {
        if (record is null) return;
        if (CommandLineParameters.Contains(nameof(ConnectionString)) && RecordText(record, nameof(ConnectionString)) is { } piped
            && DescribeDatabase(piped) != DescribeDatabase(ConnectionString))
            throw Conflict(nameof(ConnectionString), DescribeDatabase(piped), DescribeDatabase(ConnectionString));
        if (CommandLineParameters.Contains(nameof(Provider)) && RecordText(record, nameof(Provider)) is { } pipedProvider
            && !string.Equals(pipedProvider, Provider, StringComparison.OrdinalIgnoreCase))
            throw Conflict(nameof(Provider), pipedProvider, Provider!);
    }

    private static string? RecordText(PSObject record, string property) =>
        record.Properties[property]?.Value is { } value && value.ToString() is { Length: > 0 } text ? text : null;

    private static SecretsPSException Conflict(string parameter, string recordSays, string typed) =>
        new(ErrorIds.RecordDatabaseConflict, ErrorKind.InvalidArgument,
            Localized.Format(CommandMessages.RecordDatabaseConflict, recordSays, parameter, typed), target: recordSays);
}
