using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>The cmdlets that work on a key file: -Path and -Environment, resolved as CMDLETS.md says.</summary>
public abstract class KeyFileCmdlet : SecretsCmdlet
{
    /// <summary>The key file. Default: $env:SECRETSPS_CONFIG, else ./.env.crypto, else ./instance/.env.crypto.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("FilePath", "EnvFile")]
    public string? Path { get; set; }

    /// <summary>Selects the per-environment file beside it, e.g. production → .env.crypto.production.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Environment { get; set; }

    protected string ResolveKeyFile(bool mustExist) =>
        KeyFileLocator.Resolve(
            Path is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path),
            Environment,
            CurrentFolder,
            System.Environment.GetEnvironmentVariable(KeyFileLocator.ConfigVariable),
            mustExist);
}
