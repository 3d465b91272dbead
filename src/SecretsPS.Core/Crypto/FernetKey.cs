using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// One Fernet key (https://github.com/fernet/spec): 16 bytes of HMAC-SHA256 signing key followed by
/// 16 bytes of AES-128 encryption key. Thread-safe: any number of threads may encrypt and decrypt
/// with one instance at once. <see cref="Dispose"/> must not race with those calls.
/// </summary>
/// <remarks>
/// Token layout: version (1) ‖ timestamp (8, big-endian seconds) ‖ IV (16) ‖ AES-128-CBC PKCS7
/// ciphertext (a positive multiple of 16) ‖ HMAC-SHA256 over all of the preceding (32), the whole
/// written as base64url with <c>=</c> padding.
/// <para>
/// Token text must be padded. The spec says tokens are padded, Python's cryptography (the other
/// implementation the applications use) rejects a token without its padding, and so does Go's; a
/// token that SecretsPS accepted but the application's own reader refused would be worse than an
/// error here. Whitespace and characters outside the base64url alphabet are rejected too, where
/// Python silently skips them: the vectors require rejecting <c>%</c>, and a value carrying stray
/// characters has been damaged somewhere, which is worth reporting.
/// </para>
/// </remarks>
public sealed class FernetKey : IDisposable
{
    public const int Size = 32;

    private const int SigningKeySize = 16;
    private const int EncryptionKeySize = 16;
    private const byte Version = 0x80;
    private const int VersionSize = 1;
    private const int TimestampSize = 8;
    private const int IvSize = 16;
    private const int BlockSize = 16;
    private const int MacSize = 32;
    private const int TimestampOffset = VersionSize;
    private const int IvOffset = TimestampOffset + TimestampSize;
    private const int CiphertextOffset = IvOffset + IvSize;
    private const int OverheadSize = CiphertextOffset + MacSize;

    // Padding always adds at least one byte, so the smallest ciphertext is one block.
    private const int MinTokenSize = OverheadSize + BlockSize;

    // The Fernet spec's (and Python's) tolerance for a sender's clock being ahead of ours.
    private const long MaxClockSkewSeconds = 60;

    // Pinned so that zeroing in Dispose erases the only copy (the GC cannot have moved it).
    private readonly byte[] _signingKey = GC.AllocateArray<byte>(SigningKeySize, pinned: true);
    private readonly byte[] _encryptionKey = GC.AllocateArray<byte>(EncryptionKeySize, pinned: true);

    // Aes instances are not documented as thread-safe, and creating one per call costs a native key
    // schedule; one per thread keeps each call to a single one-shot CBC operation.
    private readonly ThreadLocal<Aes> _aes;

    // The same for the MAC: a keyed HMAC per thread, reset after each use, instead of a key setup per value.
    private readonly ThreadLocal<IncrementalHash> _hmac;

    private volatile bool _disposed;

    /// <summary>Copies the 32 key bytes (signing key ‖ encryption key).</summary>
    public FernetKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != Size)
        {
            throw new SecretsPSException(
                "FernetKeyLength",
                ErrorKind.InvalidArgument,
                Localized.Format(Messages.FernetKeyLength, Size, key.Length));
        }

        key[..SigningKeySize].CopyTo(_signingKey);
        key[SigningKeySize..].CopyTo(_encryptionKey);
        _aes = new ThreadLocal<Aes>(CreateAes, trackAllValues: true);
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _signingKey), trackAllValues: true);
    }

    /// <summary>
    /// Reads a key in the spec's text form: 32 bytes as base64url (with or without padding; a key
    /// is never stored in a database column, so there is no other reader to stay in step with).
    /// </summary>
    public static FernetKey FromBase64Url(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!Base64Url.TryDecode(key, paddingOptional: true, out byte[]? bytes))
        {
            throw new SecretsPSException(
                "FernetKeyMalformed",
                ErrorKind.InvalidArgument,
                Messages.FernetKeyMalformed);
        }

        try
        {
            return new FernetKey(bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Encrypts with the current time and a random IV.</summary>
    public string Encrypt(ReadOnlySpan<byte> plaintext)
    {
        Span<byte> iv = stackalloc byte[IvSize];
        RandomNumberGenerator.Fill(iv);
        return EncryptCore(plaintext, (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds(), iv);
    }

    /// <summary>Encrypts with a given timestamp and IV: for test vectors only; a reused IV leaks data.</summary>
    public string Encrypt(ReadOnlySpan<byte> plaintext, long unixTimestamp, ReadOnlySpan<byte> iv)
    {
        if (iv.Length != IvSize)
        {
            throw new SecretsPSException(
                "FernetIvLength",
                ErrorKind.InvalidArgument,
                Localized.Format(Messages.FernetIvLength, IvSize, iv.Length));
        }

        if (unixTimestamp < 0)
        {
            throw new SecretsPSException(
                "FernetTimestampInvalid",
                ErrorKind.InvalidArgument,
                Messages.FernetTimestampInvalid);
        }

        return EncryptCore(plaintext, (ulong)unixTimestamp, iv);
    }

    /// <summary>Authenticates and decrypts a token of any age.</summary>
    public byte[] Decrypt(string token) => DecryptCore(token, ttl: null, now: default, out _);

    /// <summary>Authenticates and decrypts a token of any age, returning when it was made.</summary>
    public byte[] Decrypt(string token, out long unixTimestamp)
    {
        byte[] plaintext = DecryptCore(token, ttl: null, now: default, out ulong timestamp);
        if (timestamp > long.MaxValue)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw TimestampOutOfRange();
        }

        unixTimestamp = (long)timestamp;
        return plaintext;
    }

    /// <summary>
    /// Authenticates and decrypts a token no older than <paramref name="ttl"/> at <paramref name="now"/>,
    /// and not stamped more than 60 seconds after <paramref name="now"/> (clock skew), as the spec does.
    /// </summary>
    public byte[] Decrypt(string token, TimeSpan ttl, DateTimeOffset now)
    {
        if (ttl < TimeSpan.Zero)
        {
            throw new SecretsPSException(
                "FernetTtlInvalid",
                ErrorKind.InvalidArgument,
                Messages.FernetTtlInvalid);
        }

        return DecryptCore(token, ttl, now, out _);
    }

    /// <summary>
    /// Decrypts with this key and encrypts the plaintext with <paramref name="target"/>, keeping the
    /// token's original timestamp (as Python's <c>MultiFernet.rotate</c> does) so that an application
    /// checking a TTL sees the same age after a key rotation. The IV is fresh.
    /// </summary>
    public string Reencrypt(string token, FernetKey target)
    {
        ArgumentNullException.ThrowIfNull(target);
        byte[] plaintext = DecryptCore(token, ttl: null, now: default, out ulong timestamp);
        try
        {
            Span<byte> iv = stackalloc byte[IvSize];
            RandomNumberGenerator.Fill(iv);
            return target.EncryptCore(plaintext, timestamp, iv);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>
    /// The token's timestamp, read WITHOUT authenticating it: for display only, never for a decision.
    /// </summary>
    public static long ReadTimestamp(string token)
    {
        ulong timestamp = ReadTimestampUnauthenticated(DecodeAndCheckLayout(token));
        if (timestamp > long.MaxValue)
        {
            throw TimestampOutOfRange();
        }

        return (long)timestamp;
    }

    /// <summary>Zeroes the key bytes. Using the key afterwards throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (Aes aes in _aes.Values)
        {
            // Aes.Dispose clears its copy of the key.
            aes.Dispose();
        }

        _aes.Dispose();
        foreach (IncrementalHash hmac in _hmac.Values)
        {
            hmac.Dispose();
        }

        _hmac.Dispose();
        CryptographicOperations.ZeroMemory(_signingKey);
        CryptographicOperations.ZeroMemory(_encryptionKey);
    }

    private void Mac(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        var hmac = _hmac.Value!;
        hmac.AppendData(data);
        if (!hmac.TryGetHashAndReset(destination, out int written) || written != MacSize)
        {
            throw new CryptographicException("HMAC-SHA256 produced an unexpected length.");
        }
    }

    private Aes CreateAes()
    {
        var aes = Aes.Create();
        aes.Key = _encryptionKey;
        return aes;
    }

    private string EncryptCore(ReadOnlySpan<byte> plaintext, ulong timestamp, ReadOnlySpan<byte> iv)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        int ciphertextSize = (plaintext.Length / BlockSize + 1) * BlockSize;
        var token = new byte[checked(OverheadSize + ciphertextSize)];

        token[0] = Version;
        BinaryPrimitives.WriteUInt64BigEndian(token.AsSpan(TimestampOffset, TimestampSize), timestamp);
        iv.CopyTo(token.AsSpan(IvOffset, IvSize));

        Span<byte> ciphertext = token.AsSpan(CiphertextOffset, ciphertextSize);
        if (!_aes.Value!.TryEncryptCbc(plaintext, iv, ciphertext, out int written, PaddingMode.PKCS7) || written != ciphertextSize)
        {
            throw new CryptographicException("AES-CBC produced an unexpected ciphertext length.");
        }

        int macOffset = token.Length - MacSize;
        Mac(token.AsSpan(0, macOffset), token.AsSpan(macOffset, MacSize));

        return Base64Url.Encode(token);
    }

    private byte[] DecryptCore(string token, TimeSpan? ttl, DateTimeOffset now, out ulong timestamp)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        byte[] data = DecodeAndCheckLayout(token);
        int macOffset = data.Length - MacSize;

        // Authenticate before anything else is trusted, so a forged token only ever gets the
        // answer "signature invalid" whatever its claimed age or contents.
        Span<byte> expectedMac = stackalloc byte[MacSize];
        Mac(data.AsSpan(0, macOffset), expectedMac);
        if (!CryptographicOperations.FixedTimeEquals(expectedMac, data.AsSpan(macOffset, MacSize)))
        {
            throw new TokenInvalidException(
                "TokenSignatureInvalid",
                Messages.TokenSignatureInvalid);
        }

        timestamp = ReadTimestampUnauthenticated(data);
        if (ttl is TimeSpan maxAge)
        {
            CheckAge(timestamp, maxAge, now);
        }

        ReadOnlySpan<byte> iv = data.AsSpan(IvOffset, IvSize);
        ReadOnlySpan<byte> ciphertext = data.AsSpan(CiphertextOffset, macOffset - CiphertextOffset);
        byte[] padded = GC.AllocateUninitializedArray<byte>(ciphertext.Length, pinned: true);
        try
        {
            int written;
            try
            {
                if (!_aes.Value!.TryDecryptCbc(ciphertext, iv, padded, out written, PaddingMode.PKCS7))
                {
                    throw new CryptographicException("AES-CBC destination too small.");
                }
            }
            catch (CryptographicException ex)
            {
                throw new TokenInvalidException(
                    "TokenPaddingInvalid",
                    Messages.TokenPaddingInvalid,
                    ex);
            }

            return padded.AsSpan(0, written).ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(padded);
        }
    }

    private static void CheckAge(ulong timestamp, TimeSpan ttl, DateTimeOffset now)
    {
        // Int128 so that neither a timestamp near 2^64 nor a TimeSpan.MaxValue TTL can overflow.
        Int128 nowSeconds = now.ToUnixTimeSeconds();
        Int128 age = nowSeconds - timestamp;
        if (age * TimeSpan.TicksPerSecond > ttl.Ticks)
        {
            throw new TokenInvalidException(
                "TokenExpired",
                Messages.TokenExpired);
        }

        if (-age > MaxClockSkewSeconds)
        {
            throw new TokenInvalidException(
                "TokenFromFuture",
                Localized.Format(Messages.TokenFromFuture, MaxClockSkewSeconds));
        }
    }

    private static ulong ReadTimestampUnauthenticated(byte[] data) =>
        BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(TimestampOffset, TimestampSize));

    /// <summary>Decodes the text and checks everything about the layout that needs no key.</summary>
    private static byte[] DecodeAndCheckLayout(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (!Base64Url.TryDecode(token, paddingOptional: false, out byte[]? data))
        {
            throw Malformed(Messages.TokenNotPaddedBase64Url);
        }

        if (data.Length > 0 && data[0] != Version)
        {
            throw new TokenInvalidException(
                "TokenVersionUnsupported",
                Localized.Format(Messages.TokenVersionUnsupported, Version.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (data.Length < MinTokenSize)
        {
            throw Malformed(Localized.Format(Messages.TokenTooShort, data.Length, MinTokenSize));
        }

        if ((data.Length - OverheadSize) % BlockSize != 0)
        {
            throw Malformed(Localized.Format(Messages.TokenNotWholeBlocks, BlockSize));
        }

        return data;
    }

    private static TokenInvalidException Malformed(string reason) =>
        new("TokenMalformed", Localized.Format(Messages.TokenMalformed, reason));

    private static TokenInvalidException TimestampOutOfRange() =>
        new("TokenMalformed", Messages.TokenTimestampOutOfRange);
}
