using System.Management.Automation;

namespace SecretsPS.Commands;

/// <summary>The database cmdlets that also need the key file (re-encryption, column status, key cleanup).</summary>
public abstract class KeyedDatabaseCmdlet : DatabaseCmdlet
{
    /// <summary>The key file. Default: $env:SECRETSPS_CONFIG, else ./.env.crypto, else ./instance/.env.crypto.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [Alias("FilePath", "EnvFile")]
    public string? Path { get; set; }

    /// <summary>Selects the per-environment key file, e.g. production → .env.crypto.production.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Environment { get; set; }

    protected string ResolveKeyFile() => KeyFileCmdlet.Resolve(this, Path, Environment, mustExist: true);
}
