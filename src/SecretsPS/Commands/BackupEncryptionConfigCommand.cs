using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>flask secrets backup-config: a byte-for-byte copy beside the key file, optionally pruning old ones.</summary>
[Cmdlet(VerbsData.Backup, "EncryptionConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class BackupEncryptionConfigCommand : KeyFileCmdlet
{
    /// <summary>After the backup, keep only the newest N backups of this key file.</summary>
    [Parameter]
    [ValidateRange(1, 10000)]
    public int Keep { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: true);
        if (!ShouldChange(path, CommandMessages.BackupAction, force: false)) return;
        var backup = KeyFileStore.Backup(path);
        Verbose(Core.Localized.Format(CommandMessages.BackedUpTo, path, backup));
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Keep)))
        {
            var excess = KeyFileStore.ListBackups(path).Skip(Keep).ToList();
            if (excess.Count > 0 && ShouldChange(path, Core.Localized.Format(CommandMessages.PruneAction, excess.Count, Keep), force: false))
            {
                foreach (var removed in KeyFileStore.PruneBackups(path, Keep)) Verbose(Core.Localized.Format(CommandMessages.RemovedOldBackup, removed));
            }
        }
        WriteObject(new FileInfo(backup));
    }
}
