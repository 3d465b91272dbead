namespace SecretsPS.Core.Crypto;

/// <summary>The variable names of FORMATS.md §1, in one place.</summary>
internal static class KeyFileNames
{
    public const string Active = "ACTIVE_ENCRYPTION_VERSION";
    public const string KeyPrefix = "ENCRYPTION_KEYS__";
    public const string SaltPrefix = "ENCRYPTION_SALT__";
    public const string SaltHashPrefix = "ENCRYPTION_SALT_HASH__";
    public const string KdfPrefix = "ENCRYPTION_KDF__";
    public const string CreatedPrefix = "ENCRYPTION_CREATED__";

    /// <summary>Longest first, so that SALT_HASH__ is not taken for SALT__ of a version named "HASH__…".</summary>
    public static readonly string[] VersionPrefixes = { SaltHashPrefix, CreatedPrefix, KeyPrefix, SaltPrefix, KdfPrefix };

    public static string Key(string version) => KeyPrefix + version;
    public static string Salt(string version) => SaltPrefix + version;
    public static string SaltHash(string version) => SaltHashPrefix + version;
    public static string Kdf(string version) => KdfPrefix + version;
    public static string Created(string version) => CreatedPrefix + version;

    public static IEnumerable<string> AllFor(string version) =>
        new[] { Key(version), Salt(version), SaltHash(version), Kdf(version), Created(version) };

    /// <summary>Splits a name such as ENCRYPTION_SALT__v2 into its prefix and version; false for any other name.</summary>
    public static bool TrySplit(string name, out string prefix, out string version)
    {
        foreach (var p in VersionPrefixes)
        {
            if (name.StartsWith(p, StringComparison.Ordinal) && name.Length > p.Length)
            {
                prefix = p;
                version = name[p.Length..];
                return true;
            }
        }
        prefix = version = string.Empty;
        return false;
    }
}
