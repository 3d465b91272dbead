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
