using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>flask secrets list: one object per key version, never the key material.</summary>
[Cmdlet(VerbsCommon.Get, "EncryptionKey")]
[OutputType(typeof(KeyVersionInfo))]
public sealed class GetEncryptionKeyCommand : KeyFileCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VersionCompleter))]
    public string[]? Version { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: true);
        var versions = KeyVersionListing.Read(path, null, out var problems);
        foreach (var p in problems) Warning(Core.Localized.Format(CommandMessages.ProblemLine, p.ErrorId, p.Message));
        var patterns = Version?.Select(v => WildcardPattern.Get(v, WildcardOptions.IgnoreCase)).ToList();
        foreach (var v in versions)
        {
            if (patterns is null || patterns.Any(p => p.IsMatch(v.Version))) WriteObject(v);
        }
        if (patterns is not null)
        {
            foreach (var name in Version!.Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && versions.All(v => !string.Equals(v.Version, n, StringComparison.OrdinalIgnoreCase))))
                Error(new Core.KeyVersionNotFoundException(name, Core.Localized.Format(CommandMessages.KeyVersionNotInFile, name, path)), name);
        }
        Log(Core.Audit.LogLevel.Info, $"Listed {versions.Count} version(s) of '{path}'; active: {versions.FirstOrDefault(v => v.IsActive)?.Version ?? "(none)"}.");
    }
}
