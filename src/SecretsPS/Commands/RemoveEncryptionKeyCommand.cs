using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>flask secrets remove-versions: removes named versions from the key file (never the active one).</summary>
[Cmdlet(VerbsCommon.Remove, "EncryptionKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(string))]
public sealed class RemoveEncryptionKeyCommand : KeyFileCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(VersionCompleter))]
    public string[] Version { get; set; } = Array.Empty<string>();

    /// <summary>Write the names of the removed versions to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    private readonly List<string> _versions = new();

    // Versions piped from Get-EncryptionKey are collected and removed in one change (one backup, one write).
    protected override void Process() => _versions.AddRange(Version);

    protected override void End()
    {
        var path = ResolveKeyFile(mustExist: true);
        var names = _versions.Distinct(StringComparer.Ordinal).ToList();
        // Refused before the confirmation, for the same reasons the removal itself would refuse.
        KeyFileOperations.CheckRemovable(path, names);
        if (!ShouldChange(path, Core.Localized.Format(CommandMessages.RemoveVersionsAction, string.Join(", ", names)), Force)) return;
        var result = KeyFileOperations.RemoveVersions(path, names);
        Verbose(Core.Localized.Format(CommandMessages.RemovedVersions, result.BackupPath, string.Join(", ", result.Removed)));
        if (PassThru) WriteObject(result.Removed, enumerateCollection: true);
    }
}
