using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>flask secrets validate-config: $true/$false like Test-Path, or one object per check with -Detailed.</summary>
[Cmdlet(VerbsDiagnostic.Test, "EncryptionConfig")]
[OutputType(typeof(bool), typeof(ConfigCheck))]
public sealed class TestEncryptionConfigCommand : KeyFileCmdlet
{
    [Parameter]
    public SwitchParameter Detailed { get; set; }

    /// <summary>Warn when the active key is older than this many days.</summary>
    [Parameter]
    [ValidateRange(1, 36500)]
    public int MaxKeyAgeDays { get; set; } = 180;

    protected override void Process()
    {
        string path;
        try
        {
            path = ResolveKeyFile(mustExist: false);
        }
        catch (Core.SecretsPSException e)
        {
            Error(e, Path);
            if (!Detailed) WriteObject(false);
            return;
        }
        var checks = ConfigValidator.Check(path, null, MaxKeyAgeDays);
        foreach (var c in checks)
        {
            var text = $"{c.Check}{(c.Version is null ? "" : " [" + c.Version + "]")}: {c.Message}";
            switch (c.StatusKind)
            {
                case CheckStatus.Warning: Warning(text); break;
                case CheckStatus.Failed: Verbose("FAILED " + text); break;
                default: Verbose("OK " + text); break;
            }
        }
        bool ok = checks.All(c => c.StatusKind != CheckStatus.Failed);
        Log(Core.Audit.LogLevel.Info, $"Validation of '{path}': {(ok ? "passed" : "failed")} ({checks.Count(c => c.StatusKind == CheckStatus.Failed)} failed, {checks.Count(c => c.StatusKind == CheckStatus.Warning)} warning(s)).");
        if (Detailed) WriteObject(checks, enumerateCollection: true);
        else WriteObject(ok);
    }
}
