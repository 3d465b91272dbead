using System.Security.Cryptography;
using System.Text;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// Every key version of a configuration and the active one: what the application's EncryptedString
/// does on save (protect with the active version) and on load (unprotect with the version the value names).
/// </summary>
public sealed class KeyRing : IDisposable
{
    private readonly Dictionary<string, KeyVersion> _byName;

    public KeyRing(IEnumerable<KeyVersion> versions, string activeVersion)
    {
        var list = versions.ToList();
        _byName = new Dictionary<string, KeyVersion>(StringComparer.Ordinal);
        foreach (var v in list)
        {
            if (!_byName.TryAdd(v.Name, v))
                throw new SecretsPSException("VersionDefinedTwice", ErrorKind.InvalidData,
                    $"Version '{v.Name}' is defined twice. Keep one definition and restore the other from a backup if it held a different key.", target: v.Name);
        }
        if (!_byName.TryGetValue(activeVersion, out var active))
            throw new SecretsPSException("ActiveVersionNotDefined", ErrorKind.ObjectNotFound,
                $"ACTIVE_ENCRYPTION_VERSION is '{MessageText.Shorten(activeVersion)}', but no ENCRYPTION_KEYS__ line defines it. Set it to one of: {MessageText.List(list.Select(v => v.Name))}.",
                target: activeVersion);
        Active = active;
        // Age order: creation time where known; the file order breaks ties and orders undated versions.
        Versions = list.OrderBy(v => v.Created ?? DateTimeOffset.MinValue).ThenBy(v => v.Order).ToList();
    }

    /// <summary>Oldest first.</summary>
    public IReadOnlyList<KeyVersion> Versions { get; }

    public KeyVersion Active { get; }

    public bool TryGet(string name, out KeyVersion version) => _byName.TryGetValue(name, out version!);

    public KeyVersion Get(string name) =>
        _byName.TryGetValue(name, out var v)
            ? v
            : throw new KeyVersionNotFoundException(name,
                $"Key version '{MessageText.Shorten(name)}' is not in the key file. Known versions: {MessageText.List(Versions.Select(x => x.Name))}. Restore it from a backup if data still uses it.");

    /// <summary>Encrypts UTF-8 text into the stored format with the active (or the named) version.</summary>
    public string Protect(string plaintext, string? version = null)
    {
        var bytes = Encoding.UTF8.GetBytes(plaintext);
        try { return Protect(bytes, version); }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    public string Protect(ReadOnlySpan<byte> plaintext, string? version = null)
    {
        var key = version is null ? Active : Get(version);
        return StoredValue.Create(key.Name, key.FernetKey.Encrypt(plaintext)).ToString();
    }

    /// <summary>The plaintext bytes of a stored value. The caller clears them when done.</summary>
    public byte[] Unprotect(string? stored)
    {
        var value = ParseStored(stored);
        return ResolveVersion(value).FernetKey.Decrypt(value.Token);
    }

    public string UnprotectToString(string? stored)
    {
        var bytes = Unprotect(stored);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new SecretsPSException("PlaintextNotUtf8", ErrorKind.InvalidData,
                "The value decrypts, but its plaintext is not UTF-8 text. Use the byte form of the API to read it.", e);
        }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    /// <summary>Re-encrypts to the target version, keeping the token's original timestamp.</summary>
    public string Reencrypt(StoredValue value, KeyVersion target) =>
        StoredValue.Create(target.Name, ResolveVersion(value).FernetKey.Reencrypt(value.Token, target.FernetKey)).ToString();

    private KeyVersion ResolveVersion(StoredValue value) =>
        _byName.TryGetValue(value.Version, out var v)
            ? v
            : throw new SecretsPSException("ValueVersionUnknown", ErrorKind.ObjectNotFound,
                $"The value was encrypted with version '{value.Version}', which is not in the key file. Restore that version from a backup.",
                target: value.Version);

    private static StoredValue ParseStored(string? stored)
    {
        if (string.IsNullOrWhiteSpace(stored))
            throw new SecretsPSException("ValueEmpty", ErrorKind.InvalidArgument, "The value is empty. Pass a stored value of the form <version>:<token>.");
        if (!StoredValue.TryParse(stored, out var value))
            throw new SecretsPSException("StoredValueMalformed", ErrorKind.InvalidData,
                "The value is not a stored ciphertext of the form <version>:<base64url token>. It may be plaintext, truncated, or from another system.");
        return value;
    }

    public void Dispose()
    {
        foreach (var v in _byName.Values) v.Dispose();
    }
}
