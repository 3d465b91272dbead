using System.Globalization;
using System.Security.Cryptography;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// One key version, checked on creation: a valid name, key and salt that decode and are long enough,
/// a salt whose SHA-256 matches the recorded hash, a known KDF that suits the key. An instance that
/// exists is usable. The Fernet key is derived once, on first use, and kept for the life of the ring.
/// </summary>
public sealed class KeyVersion : IDisposable
{
    public const int MinKeyBytes = 16;
    public const int MinSaltBytes = 8;
    public const int DefaultKeyBytes = 32;
    public const int DefaultSaltBytes = 16;

    private readonly byte[] _key;
    private readonly byte[] _salt;
    private readonly object _gate = new();
    private FernetKey? _fernet;
    private bool _disposed;

    private KeyVersion(string name, byte[] key, byte[] salt, string saltHash, KeyDerivation kdf, DateTimeOffset? created, KeySource source, int order)
    {
        Name = name;
        _key = key;
        _salt = salt;
        SaltHash = saltHash;
        Kdf = kdf;
        Created = created;
        Source = source;
        Order = order;
    }

    public string Name { get; }
    public KeyDerivation Kdf { get; }
    public DateTimeOffset? Created { get; }
    public KeySource Source { get; }

    /// <summary>
    /// Place in the base order (FORMATS.md §1): first appearance in the file, environment-only versions after the file's in
    /// natural name order. This alone is the age order (<see cref="VersionOrder"/>); Created never overrides it.
    /// <see cref="VersionOrder.UnknownPlace"/> for a version not read from a file (it is then never the oldest).
    /// </summary>
    public int Order { get; }

    public string SaltHash { get; }
    public int KeyLength => _key.Length;
    public int SaltLength => _salt.Length;

    /// <summary>Builds a version from the key file's text values, with a specific error for each way they can be wrong.</summary>
    public static KeyVersion FromText(string name, string? keyText, string? saltText, string? saltHashText, string? kdfText,
        string? createdText, KeySource source, int order)
    {
        VersionName.Validate(name);
        if (string.IsNullOrWhiteSpace(keyText))
            throw Invalid("KeyMissing", name, Localized.Format(Messages.KeyMissing, name));
        if (string.IsNullOrWhiteSpace(saltText))
            throw Invalid("SaltMissing", name, Localized.Format(Messages.SaltMissing, name));
        if (string.IsNullOrWhiteSpace(saltHashText))
            throw Invalid("SaltHashMissing", name, Localized.Format(Messages.SaltHashMissing, name));

        var kdf = KeyDerivation.Parse(kdfText);
        var key = KeyMaterialText.TryDecode(keyText)
            ?? throw Invalid("KeyNotBase64", name, Localized.Format(Messages.KeyNotBase64, name));
        var salt = KeyMaterialText.TryDecode(saltText);
        try
        {
            if (key.Length < MinKeyBytes)
                throw Invalid("KeyTooShort", name, Localized.Format(Messages.KeyTooShort, name, key.Length, MinKeyBytes));
            if (salt is null)
                throw Invalid("SaltNotBase64", name, Localized.Format(Messages.SaltNotBase64, name));
            if (salt.Length < MinSaltBytes)
                throw Invalid("SaltTooShort", name, Localized.Format(Messages.SaltTooShort, name, salt.Length, MinSaltBytes));
            var actualHash = KeyMaterialText.Sha256Hex(salt);
            if (!string.Equals(actualHash, saltHashText.Trim(), StringComparison.OrdinalIgnoreCase))
                throw new SecretsPSException(ErrorIds.SaltIntegrityCheckFailed, ErrorKind.SecurityError,
                    Localized.Format(Messages.SaltIntegrityCheckFailed, name),
                    target: name);
            if (kdf.Name == KeyDerivation.Raw.Name && key.Length != FernetKey.Size)
                throw Invalid("RawKeyLength", name, Localized.Format(Messages.RawKeyLengthOfVersion, name, FernetKey.Size, key.Length));

            DateTimeOffset? created = null;
            if (!string.IsNullOrWhiteSpace(createdText))
            {
                if (!DateTimeOffset.TryParse(createdText, CultureInfo.InvariantCulture,
                        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var c))
                    throw Invalid("CreatedInvalid", name, Localized.Format(Messages.CreatedInvalid, name));
                created = c;
            }
            return new KeyVersion(name, key, salt, actualHash, kdf, created, source, order);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(key);
            if (salt is not null) CryptographicOperations.ZeroMemory(salt);
            throw;
        }
    }

    /// <summary>A new version with fresh random key and salt.</summary>
    public static KeyVersion Generate(string name, int keyBytes, int saltBytes, KeyDerivation kdf, DateTimeOffset created)
    {
        VersionName.Validate(name);
        if (keyBytes < MinKeyBytes || keyBytes > 1024)
            throw new SecretsPSException(ErrorIds.KeyBytesOutOfRange, ErrorKind.InvalidArgument, Localized.Format(Messages.KeyBytesOutOfRange, MinKeyBytes, keyBytes));
        if (saltBytes < MinSaltBytes || saltBytes > 1024)
            throw new SecretsPSException(ErrorIds.SaltBytesOutOfRange, ErrorKind.InvalidArgument, Localized.Format(Messages.SaltBytesOutOfRange, MinSaltBytes, saltBytes));
        if (kdf.Name == KeyDerivation.Raw.Name && keyBytes != FernetKey.Size)
            throw new SecretsPSException(ErrorIds.RawKeyLength, ErrorKind.InvalidArgument, Localized.Format(Messages.RawKeyBytesArgument, FernetKey.Size));
        var key = RandomNumberGenerator.GetBytes(keyBytes);
        var salt = RandomNumberGenerator.GetBytes(saltBytes);
        // The file records whole seconds: keep the object equal to what a reader of the file will see.
        var seconds = new DateTimeOffset(created.UtcTicks - created.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        return new KeyVersion(name, key, salt, KeyMaterialText.Sha256Hex(salt), kdf, seconds, KeySource.File, VersionOrder.UnknownPlace);
    }

    /// <summary>The key file lines of this version, in the order FORMATS.md §1 writes them.</summary>
    public IReadOnlyList<(string Name, string Value)> ToSettings()
    {
        ThrowIfDisposed();
        var list = new List<(string, string)>
        {
            (KeyFileNames.Key(Name), KeyMaterialText.Encode(_key)),
            (KeyFileNames.Salt(Name), KeyMaterialText.Encode(_salt)),
            (KeyFileNames.SaltHash(Name), SaltHash),
            (KeyFileNames.Kdf(Name), Kdf.Name),
        };
        if (Created is { } c) list.Add((KeyFileNames.Created(Name), FormatTime(c)));
        return list;
    }

    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The Fernet key of this version, derived once.</summary>
    public FernetKey FernetKey
    {
        get
        {
            lock (_gate)
            {
                ThrowIfDisposed();
                if (_fernet is null)
                {
                    var derived = Kdf.DeriveFernetKey(_key, _salt);
                    try { _fernet = new FernetKey(derived); }
                    finally { CryptographicOperations.ZeroMemory(derived); }
                }
                return _fernet;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            CryptographicOperations.ZeroMemory(_key);
            CryptographicOperations.ZeroMemory(_salt);
            _fernet?.Dispose();
        }
    }

    public override string ToString() => Name;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static SecretsPSException Invalid(string id, string version, string message) =>
        new(id, ErrorKind.InvalidData, message, target: version);
}
