using System.Management.Automation;
using SecretsPS.Core.Backup;

namespace SecretsPS.Commands;

/// <summary>The key file's backups, plain and encrypted, newest first: beside it, or in a -Destination folder.</summary>
[Cmdlet(VerbsCommon.Get, "EncryptionConfigBackup")]
[OutputType(typeof(KeyFileBackup))]
public sealed class GetEncryptionConfigBackupCommand : KeyFileCmdlet
{
    /// <summary>The folder the backups went to (Backup-EncryptionConfig -Destination); default: beside the key file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    protected override void Process()
    {
        // The key file need not exist: listing its backups is the first step of restoring a lost one.
        var path = ResolveKeyFile(mustExist: false);
        var folder = Destination is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination);
        foreach (var backup in KeyFileBackups.List(path, folder)) WriteObject(backup);
    }
}
