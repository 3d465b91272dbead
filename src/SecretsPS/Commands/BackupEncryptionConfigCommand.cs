using System.Management.Automation;
using SecretsPS.Core.Backup;

namespace SecretsPS.Commands;

/// <summary>
/// flask secrets backup-config: a copy of the key file beside it or in -Destination, encrypted to the -To certificates
/// when given (CMS, as Protect-CmsMessage writes it), optionally pruning old ones there.
/// </summary>
[Cmdlet(VerbsData.Backup, "EncryptionConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(KeyFileBackup))]
public sealed class BackupEncryptionConfigCommand : KeyFileCmdlet
{
    /// <summary>After the backup, keep only the newest N backups of this key file (where the backup went).</summary>
    [Parameter]
    [ValidateRange(1, 10000)]
    public int Keep { get; set; }

    /// <summary>An existing folder (a share, mounted storage), or a new file's path in one; default: beside the key file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Encrypt the backup to these certificates: objects, .cer/.pem paths, or store thumbprints or subjects.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[]? To { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: true);
        var destination = Destination is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination);
        // Every refusal (a certificate unfit, a destination missing) comes before the question and under -WhatIf too.
        var recipients = To is null ? Array.Empty<System.Security.Cryptography.X509Certificates.X509Certificate2>()
            : RecipientCertificates.Resolve(CertificateArguments.Normalize(To, SessionState));
        var (folder, _) = KeyFileBackups.Place(Core.Config.KeyFileStore.ResolveTarget(path), destination);
        if (!ShouldChange(path, CommandMessages.BackupAction, force: false)) return;
        var backup = KeyFileBackups.Create(path, destination, recipients);
        if (backup.Encrypted) Verbose(Core.Localized.Format(CommandMessages.EncryptedBackupWritten, path, backup.FullName, backup.Recipients));
        else Verbose(Core.Localized.Format(CommandMessages.BackedUpTo, path, backup.FullName));
        if (!backup.Encrypted && destination is not null)
            Warning(Core.Localized.Format(CommandMessages.PlainBackupElsewhere, backup.FullName));
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Keep)))
        {
            var pruneFolder = destination is null ? null : folder;
            var excess = KeyFileBackups.List(path, pruneFolder).Skip(Keep).ToList();
            if (excess.Count > 0 && ShouldChange(path, Core.Localized.Format(CommandMessages.PruneAction, excess.Count, Keep), force: false))
            {
                foreach (var removed in KeyFileBackups.Prune(path, pruneFolder, Keep)) Verbose(Core.Localized.Format(CommandMessages.RemovedOldBackup, removed));
            }
        }
        WriteObject(backup);
    }
}
