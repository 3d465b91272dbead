using SecretsPS.Core;
using System.Management.Automation;
using SecretsPS.Core.Backup;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>
/// flask secrets restore-config: reads the backup (decrypting an encrypted one in memory), validates it, refuses another
/// key file's backup, backs the current file up, then replaces it.
/// </summary>
[Cmdlet(VerbsData.Restore, "EncryptionConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = ByPathSet)]
[OutputType(typeof(KeyFileBackup))]
public sealed class RestoreEncryptionConfigCommand : KeyFileCmdlet
{
    private const string ByPathSet = "BackupPath";
    private const string LatestSet = "Latest";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = ByPathSet)]
    [ValidateNotNullOrEmpty]
    [Alias("FullName", "BackupFile")]
    [ArgumentCompleter(typeof(BackupPathCompleter))]
    public string BackupPath { get; set; } = "";

    /// <summary>Restore the newest backup beside the key file.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LatestSet)]
    public SwitchParameter Latest { get; set; }

    /// <summary>Opens an encrypted backup: certificate objects with their private key, or paths to a PEM (certificate and key) or .pfx file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[]? Certificate { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: false);
        var backup = Latest ? KeyFileBackups.Latest(path).FullName : SessionState.Path.GetUnresolvedProviderPathFromPSPath(BackupPath);
        if (!File.Exists(backup))
            throw new SecretsPSException(ErrorIds.BackupNotFound, ErrorKind.ObjectNotFound,
                Localized.Format(CommandMessages.BackupNotFound, backup, path), target: backup);
        // Every check first, so a bad backup is an error even under -WhatIf and no prompt is shown for it.
        if (!Force) KeyFileBackups.CheckBelongsTo(backup, path);
        var certificates = Certificate is null ? null : RecipientCertificates.ResolveForDecryption(CertificateArguments.Normalize(Certificate, SessionState));
        var content = KeyFileBackups.ReadForRestore(backup, certificates, out _);
        try
        {
            var kept = KeySettings.From(KeyFileStore.ParseBytes(content, backup), null).Versions.Select(v => v.Name).ToList();
            var lost = KeyFileBackups.VersionsLost(path, content);
            var action = Localized.Format(CommandMessages.RestoreActionVersions, backup, string.Join(", ", kept),
                lost.Count == 0 ? CommandMessages.NoVersionsLost : string.Join(", ", lost));
            if (!ShouldChange(path, action, Force)) return;
            var result = KeyFileBackups.Restore(backup, content, path);
            if (result.BackupOfReplaced is not null) Verbose(Localized.Format(CommandMessages.BackedUpReplacedKeyFile, result.BackupOfReplaced));
            Verbose(Localized.Format(CommandMessages.Restored, path, backup));
            if (PassThru) WriteObject(KeyFileBackups.Describe(backup, path, content));
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(content);
        }
    }
}
