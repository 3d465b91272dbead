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
        if (!Force) KeyFileOperations.RefuseExisting(path);
        var action = exists ? Core.Localized.Format(CommandMessages.ReplaceKeyFileAction, Version) : Core.Localized.Format(CommandMessages.CreateKeyFileAction, Version);
        if (!ShouldChange(path, action, Force)) return;

        var result = KeyFileOperations.Create(path, Version, KeyBytes, SaltBytes, Kdf, overwrite: Force);
        if (result.BackupPath is not null) Verbose(Core.Localized.Format(CommandMessages.BackedUpPreviousKeyFile, result.BackupPath));
        Verbose(Core.Localized.Format(CommandMessages.CreatedKeyFile, path, Version));
        Warning(Core.Localized.Format(CommandMessages.NextAfterCreate, System.IO.Path.GetFileName(path)));
        WriteObject(result.Version);
    }
}
