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
    [ArgumentCompleter(typeof(EnvironmentCompleter))]
    public string? Environment { get; set; }

    protected override bool ResolvesKeyFile => true;

    protected string ResolveKeyFile()
    {
        string keyFile;
        try
        {
            keyFile = KeyFileCmdlet.Resolve(this, Path, Environment, mustExist: true);
        }
        catch (Core.SecretsPSException)
        {
            // The file is missing: the log still must not take its name.
            string? wouldBe = null;
            try { wouldBe = KeyFileCmdlet.Resolve(this, Path, Environment, mustExist: false); }
            catch (Core.SecretsPSException) { }
            if (wouldBe is not null) GuardLog(wouldBe);
            throw;
        }
        GuardLog(keyFile);
        return keyFile;
    }
}
