using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

/// <summary>What a listing shows of a key version: everything but the key material.</summary>
public sealed record KeyVersionInfo(
    string Version,
    bool IsActive,
    DateTimeOffset? Created,
    string Kdf,
    int KeyLength,
    int SaltLength,
    KeySource Source,
    string SaltIntegrity,
    string Path)
{
    public static KeyVersionInfo From(KeyVersion version, bool isActive, string path) =>
        new(version.Name, isActive, version.Created, version.Kdf.Name, version.KeyLength, version.SaltLength, version.Source, "Passed", path);
}
