using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Commands;

/// <summary>Completes -Version from the key file the command would use (names only; nothing is decrypted).</summary>
public sealed class VersionCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            var path = CompletionKeyFile.Resolve(fakeBoundParameters, mustExist: true);
            var settings = KeySettings.From(KeyFileStore.ReadDocument(path), KeySettings.ProcessEnvironment());
            var pattern = WildcardPattern.Get((wordToComplete ?? "").Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
            return settings.Versions
                .Where(v => pattern.IsMatch(v.Name))
                .Select(v => new CompletionResult(v.Name, v.Name, CompletionResultType.ParameterValue,
                    v.Name == settings.ActiveVersion ? Core.Localized.Format(CommandMessages.CompletionActiveVersion, v.Name) : v.Name))
                .ToList();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
    }
}

/// <summary>Completes -Kdf with the derivations FORMATS.md §2 defines.</summary>
public sealed class KdfCompleter : IArgumentCompleter
{
    private static readonly string[] Forms = { "hkdf-sha256", "pbkdf2-sha256:600000", "raw" };

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        // A word typed with its opening quote ('pb) still names the forms it starts, as -Version's completer allows.
        Forms.Where(f => f.StartsWith((wordToComplete ?? "").Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(f => new CompletionResult(f, f, CompletionResultType.ParameterValue, f));
}

/// <summary>Completes -OperationId from the audit journal of the key file the command would use.</summary>
public sealed class OperationIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            var path = CompletionKeyFile.Resolve(fakeBoundParameters, mustExist: false);
            var pattern = WildcardPattern.Get((wordToComplete ?? "").Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
            return Core.Audit.CleanupJournal.Read(path, out _)
                .Where(o => pattern.IsMatch(o.OperationId))
                .Reverse()
                .Select(o => new CompletionResult(o.OperationId, o.OperationId, CompletionResultType.ParameterValue, $"{o.OperationId} ({o.Outcome})"))
                .ToList();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
    }
}

/// <summary>The key file a command being completed would use, from its -Path/-Environment and the session's location.</summary>
internal static class CompletionKeyFile
{
    public static string Resolve(IDictionary fakeBoundParameters, bool mustExist)
    {
        // The session's paths, to resolve as the cmdlet will (KeyFileCmdlet.Resolve). Resolved here, not in the script, so
        // that an unknown drive is caught by the completer instead of landing in $Error.
        using var ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
        if (ps.AddScript("$ExecutionContext.SessionState.Path").Invoke().FirstOrDefault()?.BaseObject is not PathIntrinsics sessionPaths)
            throw new InvalidOperationException("The session's paths are not available.");
        var path = Text(fakeBoundParameters["Path"]);
        return KeyFileCmdlet.Resolve(sessionPaths, string.IsNullOrWhiteSpace(path) ? null : path, Text(fakeBoundParameters["Environment"]), mustExist);
    }

    // A value bound from a variable (-Path $key) may arrive wrapped in a PSObject, which "as string" would miss.
    private static string? Text(object? value) => (value is PSObject wrapped ? wrapped.BaseObject : value) as string;
}

/// <summary>
/// Completes -Table from the database the command names (-Provider, -ConnectionString or $env:SECRETSPS_CONNECTION_STRING,
/// -Credential or -AccessToken if already typed). Bounded in time; never asks for anything; nothing when it cannot connect.
/// </summary>
public sealed class TableCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionDatabase.Query(fakeBoundParameters, (dialect, connection) => Core.Data.CatalogNames.Tables(dialect, connection))
            .Where(CompletionDatabase.Matching(wordToComplete))
            .Select(t => new CompletionResult(CompletionDatabase.Quoted(t), t, CompletionResultType.ParameterValue, t))
            .ToList();
}

/// <summary>Completes -Column (and -KeyColumn) with the columns of the -Table already typed, from the database.</summary>
public sealed class ColumnCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        if (CompletionDatabase.Text(fakeBoundParameters["Table"]) is not { Length: > 0 } table) return Array.Empty<CompletionResult>();
        return CompletionDatabase.Query(fakeBoundParameters, (dialect, connection) =>
                Core.Data.CatalogNames.Columns(dialect, connection, Core.Data.Identifier.ParseTable(table)) ?? Array.Empty<string>())
            .Where(CompletionDatabase.Matching(wordToComplete))
            .Select(c => new CompletionResult(CompletionDatabase.Quoted(c), c, CompletionResultType.ParameterValue, c))
            .ToList();
    }
}

/// <summary>Completes -Id and -JobId with the jobs of the job table, newest first, their target and status as the tooltip.</summary>
public sealed class JobIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var jobTable = CompletionDatabase.Text(fakeBoundParameters["JobTable"]) is { Length: > 0 } t ? t : Core.Reencryption.JobStore.DefaultTable;
        return CompletionDatabase.Query(fakeBoundParameters, (dialect, connection) =>
            {
                var store = new Core.Reencryption.JobStore(dialect, jobTable);
                return store.TablesExist(connection) ? store.List(connection, null, null, null, 100) : Array.Empty<Core.Reencryption.ReencryptJob>();
            })
            .Select(j => (Job: j, Text: j.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Where(j => j.Text.StartsWith((wordToComplete ?? "").Trim('\'', '"'), StringComparison.Ordinal))
            .Select(j => new CompletionResult(j.Text, j.Text, CompletionResultType.ParameterValue,
                Core.Localized.Format(CommandMessages.CompletionJob, j.Text, j.Job.Target, j.Job.Status)))
            .ToList();
    }
}

/// <summary>
/// Completes -Environment with the environments that have a key file beside the one the command would use
/// (.env.crypto.production → production); never a backup, lock or journal.
/// </summary>
public sealed class EnvironmentCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            var withoutEnvironment = new Hashtable(StringComparer.OrdinalIgnoreCase) { ["Path"] = fakeBoundParameters["Path"] };
            var keyFile = CompletionKeyFile.Resolve(withoutEnvironment, mustExist: false);
            var folder = System.IO.Path.GetDirectoryName(keyFile)!;
            var prefix = System.IO.Path.GetFileName(keyFile) + ".";
            var pattern = WildcardPattern.Get((wordToComplete ?? "").Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
            return new DirectoryInfo(folder).EnumerateFiles(prefix + "*")
                // The file system's pattern also matches the key file itself (".env.crypto.*" finds ".env.crypto").
                .Where(f => f.Name.Length > prefix.Length && f.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(f => f.Name[prefix.Length..])
                // One name part, and not a file of the key file's own (lock, backups, journal): an environment's file only.
                .Where(e => e.Length > 0 && !e.Contains('.') && !e.StartsWith("backup_", StringComparison.Ordinal) && e != "lock")
                .Where(e => pattern.IsMatch(e))
                .OrderBy(e => e, StringComparer.Ordinal)
                .Select(e => new CompletionResult(e, e, CompletionResultType.ParameterValue, prefix + e))
                .ToList();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
    }
}

/// <summary>The database a command being completed names, queried within a time bound; nothing on any failure.</summary>
internal static class CompletionDatabase
{
    /// <summary>Tab must answer: a server that does not answer in this time gives no completions.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);

    public static IReadOnlyList<T> Query<T>(IDictionary fakeBoundParameters, Func<Core.Data.ISqlDialect, System.Data.Common.DbConnection, IReadOnlyList<T>> read)
    {
        try
        {
            var connectionString = Text(fakeBoundParameters["ConnectionString"]) is { Length: > 0 } c
                ? c
                : System.Environment.GetEnvironmentVariable(DatabaseCmdlet.ConnectionVariable);
            if (string.IsNullOrWhiteSpace(connectionString)) return Array.Empty<T>();
            // -Provider when typed, else what the connection string says beyond doubt, as the cmdlet decides.
            var dialect = Core.Data.SqlDialect.For(Text(fakeBoundParameters["Provider"]) is { Length: > 0 } p
                ? Enum.Parse<Core.Data.DatabaseProvider>(p, ignoreCase: true)
                : Core.Data.ProviderInference.Infer(connectionString));
            if (dialect.Provider == Core.Data.DatabaseProvider.Sqlite)
            {
                // A relative file is relative to the session's location, as the cmdlet resolves it.
                var folder = SessionPaths().CurrentFileSystemLocation.ProviderPath;
                connectionString = Core.Data.SqliteDialect.WithDataSourceUnder(connectionString, folder);
            }
            var credential = Unwrap(fakeBoundParameters["Credential"]) as PSCredential;
            var token = Unwrap(fakeBoundParameters["AccessToken"]) is System.Security.SecureString s
                ? new System.Net.NetworkCredential(string.Empty, s).Password
                : null;
            var signIn = new Core.Data.DatabaseSignIn(credential?.UserName,
                credential?.GetNetworkCredential().Password is { Length: > 0 } pw ? pw : null, token);
            var work = Task.Run(() =>
            {
                // Read-only: completion never creates a database file or a job table.
                using var connection = Core.Data.DatabaseConnection.Open(dialect, connectionString, signIn, readOnly: true);
                return read(dialect, connection);
            });
            return work.Wait(Bound) ? work.Result : Array.Empty<T>();
        }
        catch (Exception)
        {
            return Array.Empty<T>();
        }
    }

    public static Func<string, bool> Matching(string? wordToComplete)
    {
        var pattern = WildcardPattern.Get((wordToComplete ?? "").Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
        return pattern.IsMatch;
    }

    /// <summary>A name with characters PowerShell would split on is completed in single quotes.</summary>
    public static string Quoted(string name) =>
        name.All(ch => char.IsLetterOrDigit(ch) || ch is '_' or '.') ? name : "'" + name.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static object? Unwrap(object? value) => value is PSObject wrapped ? wrapped.BaseObject : value;

    public static string? Text(object? value) => Unwrap(value) as string;

    private static PathIntrinsics SessionPaths()
    {
        using var ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
        return ps.AddScript("$ExecutionContext.SessionState.Path").Invoke().FirstOrDefault()?.BaseObject as PathIntrinsics
            ?? throw new InvalidOperationException("The session's paths are not available.");
    }
}

/// <summary>Completes -Provider with the providers the library has.</summary>
public sealed class ProviderCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Enum.GetNames<Core.Data.DatabaseProvider>()
            .Where(n => n.StartsWith((wordToComplete ?? "").Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
}

/// <summary>Completes -BackupPath with the backups of the key file the command would use (plain and encrypted), newest first; no other file.</summary>
public sealed class BackupPathCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            var path = CompletionKeyFile.Resolve(fakeBoundParameters, mustExist: false);
            var typed = (wordToComplete ?? "").Trim('\'', '"');
            var pattern = WildcardPattern.Get("*" + Path.GetFileName(typed) + "*", WildcardOptions.IgnoreCase);
            return Core.Backup.KeyFileBackups.List(path)
                .Where(b => pattern.IsMatch(b.Name))
                .Select(b => new CompletionResult(Quote(b.FullName), b.Name, CompletionResultType.ParameterValue,
                    $"{b.Created:yyyy-MM-ddTHH:mm:ssZ} {(b.Encrypted ? "(encrypted)" : b.Versions)}"))
                .ToList();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
    }

    private static string Quote(string path) => "'" + path.Replace("'", "''", StringComparison.Ordinal) + "'";
}
