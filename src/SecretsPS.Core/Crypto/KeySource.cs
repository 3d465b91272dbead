namespace SecretsPS.Core.Crypto;

/// <summary>Where a version's key came from: the key file, or an environment variable that overlays it.</summary>
public enum KeySource
{
    File,
    Environment,
}
