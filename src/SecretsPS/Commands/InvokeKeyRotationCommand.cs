using System.Management.Automation;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Commands;

/// <summary>
/// flask secrets rotate: a new key version, active at once or (-Inactive) for decryption only, so that it can
/// reach every application instance before Set-ActiveEncryptionKey promotes it.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "KeyRotation", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(KeyVersionInfo), typeof(string))]
public sealed class InvokeKeyRotationCommand : KeyFileCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? NewVersion { get; set; }

    [Parameter]
    [ValidateRange(KeyVersion.MinKeyBytes, 1024)]
    public int KeyBytes { get; set; } = KeyVersion.DefaultKeyBytes;

    [Parameter]
    [ValidateRange(KeyVersion.MinSaltBytes, 1024)]
    public int SaltBytes { get; set; } = KeyVersion.DefaultSaltBytes;

    [Parameter]
    [ArgumentCompleter(typeof(KdfCompleter))]
    public string? Kdf { get; set; }

    /// <summary>Add the version for decryption only; promote it later with Set-ActiveEncryptionKey.</summary>
    [Parameter]
    public SwitchParameter Inactive { get; set; }

    /// <summary>Write nothing: emit the new version's variable lines, for a secret store.</summary>
    [Parameter]
    public SwitchParameter NoPersist { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>The key files this command has rotated: a pipeline of a file's versions (Get-EncryptionKey | …) rotates it once.</summary>
    private readonly HashSet<string> _rotated = new(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    protected override void Process()
    {
        var path = ResolveKeyFile(mustExist: true);
        if (!_rotated.Add(System.IO.Path.GetFullPath(path)))
        {
            Verbose(Core.Localized.Format(CommandMessages.AlreadyRotatedInPipeline, path));
            return;
        }
        ParseKdfArgument(Kdf);
        // Everything the rotation checks is checked before -WhatIf answers or a confirmation is asked.
        var name = KeyFileOperations.CheckRotatable(path, NewVersion);
        var action = NoPersist
            ? Core.Localized.Format(CommandMessages.RotateNoPersistAction, name)
            : Inactive ? Core.Localized.Format(CommandMessages.RotateInactiveAction, name) : Core.Localized.Format(CommandMessages.RotateAction, name);
        if (!ShouldChange(path, action, Force)) return;

        var result = KeyFileOperations.Rotate(path, new RotationOptions
        {
            // Without -NewVersion the name is chosen under the file's lock: another process may rotate meanwhile.
            NewVersion = NewVersion,
            KeyBytes = KeyBytes,
            SaltBytes = SaltBytes,
            Kdf = Kdf,
            Activate = !Inactive,
            Persist = !NoPersist,
        });
        name = result.Version.Version;
        if (NoPersist)
        {
            Verbose(Core.Localized.Format(CommandMessages.GeneratedNotPersisted, name));
            foreach (var line in result.SettingLines) WriteObject(line);
            return;
        }
        Verbose(Core.Localized.Format(CommandMessages.BackedUpKeyFile, result.BackupPath));
        Verbose(Inactive
            ? Core.Localized.Format(CommandMessages.AddedInactive, name, result.PreviousActive)
            : Core.Localized.Format(CommandMessages.NowActive, name, result.PreviousActive));
        Warning(Inactive
            ? Core.Localized.Format(CommandMessages.NextAfterInactiveRotation, name)
            : Core.Localized.Format(CommandMessages.NextAfterRotation, name));
        if (PassThru) WriteObject(result.Version);
    }
}
