using System.Management.Automation;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Commands;

/// <summary>flask secrets generate: a new key file with one active version.</summary>
[Cmdlet(VerbsCommon.New, "EncryptionConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(KeyVersionInfo))]
public sealed class NewEncryptionConfigCommand : KeyFileCmdlet
{
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Version { get; set; } = "v1";

    [Parameter]
    [ValidateRange(KeyVersion.MinKeyBytes, 1024)]
    public int KeyBytes { get; set; } = KeyVersion.DefaultKeyBytes;

    [Parameter]
    [ValidateRange(KeyVersion.MinSaltBytes, 1024)]
    public int SaltBytes { get; set; } = KeyVersion.DefaultSaltBytes;

    [Parameter]
    [ArgumentCompleter(typeof(KdfCompleter))]
    public string? Kdf { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: false);
        VersionName.Validate(Version);
        ParseKdfArgument(Kdf);
        bool exists = File.Exists(path);
        if (exists && !Force)
        {
            // Refuse before asking anything: the answer would not change the outcome.
            KeyFileOperations.Create(path, Version, KeyBytes, SaltBytes, Kdf, overwrite: false);
        }
        var action = exists ? $"Replace the key file (a backup is made first) with a new one, active version '{Version}'" : $"Create a key file with active version '{Version}'";
        if (!ShouldChange(path, action, Force)) return;

        var result = KeyFileOperations.Create(path, Version, KeyBytes, SaltBytes, Kdf, overwrite: Force);
        if (result.BackupPath is not null) Verbose($"Backed up the previous key file to '{result.BackupPath}'.");
        Verbose($"Created '{path}' (mode 0600) with active version '{Version}'.");
        Warning($"Next steps: keep '{System.IO.Path.GetFileName(path)}' out of version control (add it to .gitignore); back it up (Backup-EncryptionConfig) somewhere safe; in production keep it in a secret store (Key Vault, Vault, Secrets Manager).");
        WriteObject(result.Version);
    }
}
