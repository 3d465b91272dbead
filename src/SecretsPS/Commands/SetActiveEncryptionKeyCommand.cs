using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>The second phase of a rotation (or its rollback): which version encrypts new data.</summary>
[Cmdlet(VerbsCommon.Set, "ActiveEncryptionKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(KeyVersionInfo))]
public sealed class SetActiveEncryptionKeyCommand : KeyFileCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(VersionCompleter))]
    public string Version { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: true);
        // Refused before the prompt: an unknown version, or one defined only by the environment (the library's own checks,
        // made again under the file's lock). The rest of the file may be what needs repairing (a missing or undefined active version).
        KeyFileOperations.CheckActivatable(path, Version);
        if (!ShouldChange(path, Core.Localized.Format(CommandMessages.ActivateAction, Version), Force)) return;
        var result = KeyFileOperations.SetActive(path, Version);
        if (result.BackupPath is null) Verbose(Core.Localized.Format(CommandMessages.AlreadyActive, Version, path));
        else
        {
            Verbose(Core.Localized.Format(CommandMessages.Activated, result.BackupPath, Version, result.PreviousActive));
            // The second phase of a rotation: what one-phase rotation says next, it says too (data still at older versions);
            // not while the environment keeps another version active, which re-encryption would move the data to.
            if (!result.ActiveOverriddenByEnvironment) Warning(Core.Localized.Format(CommandMessages.NextAfterRotation, Version));
        }
        if (result.ActiveOverriddenByEnvironment)
            Warning(CommandMessages.ActiveOverriddenByEnvironment);
        if (PassThru)
        {
            using var config = KeyConfiguration.Load(path);
            WriteObject(config.Describe().First(v => v.Version == Version));
        }
    }
}
