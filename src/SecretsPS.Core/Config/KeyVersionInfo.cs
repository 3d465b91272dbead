using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

/// <summary>
/// What a listing shows of a key version: everything but the key material. Its source is a name (File, Environment),
/// not an enum, so ConvertTo-Json writes the name.
/// </summary>
public sealed class KeyVersionInfo
{
    public KeyVersionInfo(string version, bool isActive, DateTimeOffset? created, string kdf, int keyLength, int saltLength, KeySource source,
        string saltIntegrity, string path)
    {
        Version = version;
        IsActive = isActive;
        Created = UtcTime.From(created);
        Kdf = kdf;
        KeyLength = keyLength;
        SaltLength = saltLength;
        SourceKind = source;
        SaltIntegrity = saltIntegrity;
        Path = path;
    }

    public string Version { get; }
    public bool IsActive { get; }

    /// <summary>When the version was created, in UTC; null when the key file does not say.</summary>
    public DateTimeOffset? Created { get; }

    public string Kdf { get; }
    public int KeyLength { get; }
    public int SaltLength { get; }

    /// <summary>File or Environment: where the key came from.</summary>
    public string Source => SourceKind.ToString();

    internal KeySource SourceKind { get; }

    public string SaltIntegrity { get; }
    public string Path { get; }

    public static KeyVersionInfo From(KeyVersion version, bool isActive, string path) =>
        new(version.Name, isActive, version.Created, version.Kdf.Name, version.KeyLength, version.SaltLength, version.Source, "Passed", path);

    public override string ToString() => Version;
}
