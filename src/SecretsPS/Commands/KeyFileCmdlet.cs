using System.Management.Automation;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>The cmdlets that work on a key file: -Path and -Environment, resolved as KeyFileLocator says (and docs/cmdlets describe).</summary>
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
    [ArgumentCompleter(typeof(EnvironmentCompleter))]
    public string? Environment { get; set; }

    /// <summary>A -Kdf from the command line is a bad argument, not bad data in a file.</summary>
    protected static void ParseKdfArgument(string? kdf)
    {
        try
        {
            Core.Crypto.KeyDerivation.Parse(kdf);
        }
        catch (Core.SecretsPSException e)
        {
            throw new Core.SecretsPSException(e.ErrorId, Core.ErrorKind.InvalidArgument, e.Message, e);
        }
    }

    protected override bool ResolvesKeyFile => true;

    protected string ResolveKeyFile(bool mustExist)
    {
        string keyFile;
        try
        {
            keyFile = Resolve(this, Path, EnvironmentFor(Path), mustExist);
        }
        catch (Core.SecretsPSException)
        {
            // The file is missing: the log still must not take its name.
            string? wouldBe = null;
            try { wouldBe = Resolve(this, Path, EnvironmentFor(Path), mustExist: false); }
            catch (Core.SecretsPSException) { }
            if (wouldBe is not null) GuardLog(wouldBe);
            throw;
        }
        GuardLog(keyFile);
        return keyFile;
    }

    /// <summary>
    /// A Path bound from the pipeline that already ends with the environment's name (Get-EncryptionKey -Environment
    /// production | …) is that environment's file: -Environment production is not applied to it a second time.
    /// </summary>
    private string? EnvironmentFor(string? path) =>
        path is not null && Environment is not null && !CommandLineParameters.Contains(nameof(Path))
        && path.EndsWith("." + Environment, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal)
            ? null
            : Environment;

    /// <summary>For cmdlets that need a key file but derive from another base (Start-Reencryption).</summary>
    internal static string Resolve(PSCmdlet cmdlet, string? path, string? environment, bool mustExist) =>
        Resolve(cmdlet.SessionState.Path, path, environment, mustExist);

    /// <summary>
    /// -Path is a PowerShell path (~, TestDrive:) and relative to the session's file-system location, not the process's:
    /// for the cmdlets, and for argument completion, which has the session's paths but no cmdlet.
    /// </summary>
    internal static string Resolve(PathIntrinsics paths, string? path, string? environment, bool mustExist) =>
        KeyFileLocator.Resolve(
            path is null ? null : paths.GetUnresolvedProviderPathFromPSPath(path),
            environment,
            paths.CurrentFileSystemLocation.ProviderPath,
            System.Environment.GetEnvironmentVariable(KeyFileLocator.ConfigVariable),
            mustExist);
}
