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
    private readonly Dictionary<string, int> _age; // name → place in Versions, oldest 0

    public KeyRing(IEnumerable<KeyVersion> versions, string activeVersion)
    {
        var list = versions.ToList();
        _byName = new Dictionary<string, KeyVersion>(StringComparer.Ordinal);
        foreach (var v in list)
        {
            if (!_byName.TryAdd(v.Name, v))
                throw Config.KeyFileDiagnosis.DefinedTwice(KeyFileNames.Key(v.Name), v.Name);
        }
        if (!_byName.TryGetValue(activeVersion, out var active))
            throw Config.KeyFileDiagnosis.NotDefined(activeVersion, list.Select(v => v.Name));
        Active = active;
        // Age order (FORMATS.md §1): the base order of the file, never the creation times; see VersionOrder.
        Versions = VersionOrder.OldestFirst(list);
        _age = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Versions.Count; i++) _age[Versions[i].Name] = i;
    }

    /// <summary>Oldest first, in the age order of <see cref="VersionOrder"/>: the order of first appearance in the file
    /// (environment-only versions after the file's), whatever ENCRYPTION_CREATED__ says.</summary>
    public IReadOnlyList<KeyVersion> Versions { get; }

    /// <summary>Whether <paramref name="version"/> is older than <paramref name="than"/> in the age order of <see cref="Versions"/>.</summary>
    public bool IsOlder(string version, string than) => AgeIndex(version) < AgeIndex(than);

    private int AgeIndex(string name) =>
        _age.TryGetValue(name, out var i)
            ? i
            : throw new KeyVersionNotFoundException(name,
                Localized.Format(Messages.KeyVersionNotInKeyFile, MessageText.Shorten(name), MessageText.List(Versions.Select(x => x.Name))));

    public KeyVersion Active { get; }

    public bool TryGet(string name, out KeyVersion version) => _byName.TryGetValue(name, out version!);

    public KeyVersion Get(string name) =>
        _byName.TryGetValue(name, out var v)
            ? v
            : throw new KeyVersionNotFoundException(name,
                Localized.Format(Messages.KeyVersionNotInKeyFile, MessageText.Shorten(name), MessageText.List(Versions.Select(x => x.Name))));

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
            throw new SecretsPSException(ErrorIds.PlaintextNotUtf8, ErrorKind.InvalidData,
                Messages.PlaintextNotUtf8Bytes, e);
        }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    /// <summary>Re-encrypts to the target version, keeping the token's original timestamp.</summary>
    public string Reencrypt(StoredValue value, KeyVersion target) =>
        StoredValue.Create(target.Name, ResolveVersion(value).FernetKey.Reencrypt(value.Token, target.FernetKey)).ToString();

    private KeyVersion ResolveVersion(StoredValue value) =>
        _byName.TryGetValue(value.Version, out var v)
            ? v
            : throw new SecretsPSException(ErrorIds.ValueVersionUnknown, ErrorKind.ObjectNotFound,
                Localized.Format(Messages.ValueVersionUnknown, value.Version),
                target: value.Version);

    private static StoredValue ParseStored(string? stored)
    {
        if (string.IsNullOrWhiteSpace(stored))
            throw new SecretsPSException(ErrorIds.ValueEmpty, ErrorKind.InvalidArgument, Messages.ValueEmptyStored);
        if (!StoredValue.TryParseAsApplication(stored, out var value))
            throw new SecretsPSException(ErrorIds.StoredValueMalformed, ErrorKind.InvalidData,
                Messages.StoredValueNotCiphertext);
        return value;
    }

    public void Dispose()
    {
        foreach (var v in _byName.Values) v.Dispose();
    }
}
