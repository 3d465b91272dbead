using SecretsPS.Core;
using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>flask secrets restore-config: validates the backup, backs the current file up, then replaces it.</summary>
[Cmdlet(VerbsData.Restore, "EncryptionConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(FileInfo))]
public sealed class RestoreEncryptionConfigCommand : KeyFileCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("FullName", "BackupFile")]
    public string BackupPath { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: false);
        var backup = SessionState.Path.GetUnresolvedProviderPathFromPSPath(BackupPath);
        if (!File.Exists(backup))
            throw new Core.SecretsPSException(ErrorIds.BackupNotFound, Core.ErrorKind.ObjectNotFound,
                Core.Localized.Format(CommandMessages.BackupNotFound, backup, path), target: backup);
        // Validate first, so a bad backup is an error even under -WhatIf and no prompt is shown for it.
        KeyFileOperations.ValidateBackup(backup, KeyFileStore.ReadBytes(backup));
        if (!ShouldChange(path, Core.Localized.Format(CommandMessages.RestoreAction, backup), Force)) return;
        var result = KeyFileOperations.Restore(backup, path);
        if (result.BackupOfReplaced is not null) Verbose(Core.Localized.Format(CommandMessages.BackedUpReplacedKeyFile, result.BackupOfReplaced));
        Verbose(Core.Localized.Format(CommandMessages.Restored, path, backup));
        if (PassThru) WriteObject(new FileInfo(path));
    }
}
