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

    // Cipher contexts are not thread-safe, and setting one up per call cost more than the AES itself:
    // one keyed context per thread, kept for the life of the key.
    private readonly ThreadLocal<AesCbc> _aes;

    // Below this a plaintext is decrypted into a stack buffer rather than a pinned array.
    private const int StackPlaintextLimit = 1024;

    // The same for the MAC: a keyed HMAC per thread, reset after each use, instead of a key setup per value.
    private readonly ThreadLocal<IncrementalHash> _hmac;

    private volatile bool _disposed;

    /// <summary>Copies the 32 key bytes (signing key ‖ encryption key).</summary>
    public FernetKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != Size)
        {
            throw new SecretsPSException(
                ErrorIds.FernetKeyLength,
                ErrorKind.InvalidArgument,
                Localized.Format(Messages.FernetKeyLength, Size, key.Length));
        }

        key[..SigningKeySize].CopyTo(_signingKey);
        key[SigningKeySize..].CopyTo(_encryptionKey);
        _aes = new ThreadLocal<AesCbc>(() => new AesCbc(_encryptionKey), trackAllValues: true);
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
                ErrorIds.FernetKeyMalformed,
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
        IvSource.Fill(iv);
        return EncryptCore(plaintext, (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds(), iv);
    }

    /// <summary>Encrypts with a given timestamp and IV: for test vectors only; a reused IV leaks data.</summary>
    public string Encrypt(ReadOnlySpan<byte> plaintext, long unixTimestamp, ReadOnlySpan<byte> iv)
    {
        if (iv.Length != IvSize)
        {
            throw new SecretsPSException(
                ErrorIds.FernetIvLength,
                ErrorKind.InvalidArgument,
                Localized.Format(Messages.FernetIvLength, IvSize, iv.Length));
        }

        if (unixTimestamp < 0)
        {
            throw new SecretsPSException(
                ErrorIds.FernetTimestampInvalid,
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
                ErrorIds.FernetTtlInvalid,
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        byte[] data = DecodeAndCheckLayout(token);
        ulong timestamp = Authenticate(data, ttl: null, now: default);
        int ciphertextSize = data.Length - OverheadSize;
        Span<byte> plaintext = ciphertextSize <= StackPlaintextLimit
            ? stackalloc byte[ciphertextSize]
            : GC.AllocateUninitializedArray<byte>(ciphertextSize, pinned: true);
        try
        {
            int length = DecryptAuthenticated(data, plaintext);
            Span<byte> iv = stackalloc byte[IvSize];
            IvSource.Fill(iv);
            return target.EncryptCore(plaintext[..length], timestamp, iv);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>
    /// <see cref="Reencrypt"/> from token text to token text in the caller's buffer, without an intermediate string or
    /// array: a re-encryption runs this once per row (through <see cref="StoredValue"/>). False, having written nothing,
    /// for anything that is not a well-formed token signed by this key, or too long for the stack; the general path
    /// then says what is wrong. The new token is exactly as long as the old one (same plaintext length).
    /// </summary>
    internal bool TryReencrypt(ReadOnlySpan<char> token, FernetKey target, Span<char> destination, out int written)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ObjectDisposedException.ThrowIf(target._disposed, target);
        written = 0;
        if (token.Length > MaxStackTokenChars)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[token.Length];
        if (!Base64Url.TryDecode(token, paddingOptional: false, buffer, out int dataLength))
        {
            return false;
        }

        ReadOnlySpan<byte> data = buffer[..dataLength];
        if (!HasTokenLayout(data) || !MacMatches(data))
        {
            return false;
        }

        Span<byte> plaintext = stackalloc byte[dataLength - OverheadSize];
        try
        {
            int plaintextLength;
            try
            {
                plaintextLength = DecryptAuthenticated(data, plaintext);
            }
            catch (TokenInvalidException)
            {
                return false;
            }

            Span<byte> iv = stackalloc byte[IvSize];
            IvSource.Fill(iv);
            Span<byte> newToken = stackalloc byte[TokenSize(plaintextLength)];
            target.WriteToken(plaintext[..plaintextLength], ReadTimestampUnauthenticated(data), iv, newToken);
            if (destination.Length < Base64Url.EncodedLength(newToken.Length))
            {
                return false;
            }

            written = Base64Url.Encode(newToken, destination);
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    // The stack holds the decoded token, its plaintext and the new token; a longer token takes the general path.
    private const int MaxStackTokenChars = 2048;

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
        foreach (AesCbc aes in _aes.Values)
        {
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

    private string EncryptCore(ReadOnlySpan<byte> plaintext, ulong timestamp, ReadOnlySpan<byte> iv)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        var token = new byte[TokenSize(plaintext.Length)];
        WriteToken(plaintext, timestamp, iv, token);
        return Base64Url.Encode(token);
    }

    private static int TokenSize(int plaintextLength) => checked(OverheadSize + AesCbc.CiphertextLength(plaintextLength));

    /// <summary>Writes the token's bytes to <paramref name="token"/>, which is exactly <see cref="TokenSize"/> long.</summary>
    private void WriteToken(ReadOnlySpan<byte> plaintext, ulong timestamp, ReadOnlySpan<byte> iv, Span<byte> token)
    {
        token[0] = Version;
        BinaryPrimitives.WriteUInt64BigEndian(token.Slice(TimestampOffset, TimestampSize), timestamp);
        iv.CopyTo(token.Slice(IvOffset, IvSize));
        _aes.Value!.Encrypt(plaintext, iv, token[CiphertextOffset..^MacSize]);

        int macOffset = token.Length - MacSize;
        Mac(token[..macOffset], token.Slice(macOffset, MacSize));
    }

    private byte[] DecryptCore(string token, TimeSpan? ttl, DateTimeOffset now, out ulong timestamp)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        byte[] data = DecodeAndCheckLayout(token);
        timestamp = Authenticate(data, ttl, now);
        int ciphertextSize = data.Length - OverheadSize;
        Span<byte> padded = ciphertextSize <= StackPlaintextLimit
            ? stackalloc byte[ciphertextSize]
            : GC.AllocateUninitializedArray<byte>(ciphertextSize, pinned: true);
        try
        {
            return padded[..DecryptAuthenticated(data, padded)].ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(padded);
        }
    }

    /// <summary>Checks the MAC (and the age, given a time-to-live) and returns the token's timestamp.</summary>
    private ulong Authenticate(byte[] data, TimeSpan? ttl, DateTimeOffset now)
    {
        // Authenticate before anything else is trusted, so a forged token only ever gets the
        // answer "signature invalid" whatever its claimed age or contents.
        if (!MacMatches(data))
        {
            throw new TokenInvalidException(
                ErrorIds.TokenSignatureInvalid,
                Messages.TokenSignatureInvalid);
        }

        ulong timestamp = ReadTimestampUnauthenticated(data);
        if (ttl is TimeSpan maxAge)
        {
            CheckAge(timestamp, maxAge, now);
        }

        return timestamp;
    }

    private bool MacMatches(ReadOnlySpan<byte> data)
    {
        int macOffset = data.Length - MacSize;
        Span<byte> expectedMac = stackalloc byte[MacSize];
        Mac(data[..macOffset], expectedMac);
        return CryptographicOperations.FixedTimeEquals(expectedMac, data.Slice(macOffset, MacSize));
    }

    /// <summary>Decrypts an authenticated token into <paramref name="plaintext"/> and returns the plaintext's length.</summary>
    private int DecryptAuthenticated(ReadOnlySpan<byte> data, Span<byte> plaintext)
    {
        try
        {
            return _aes.Value!.Decrypt(data[CiphertextOffset..^MacSize], data.Slice(IvOffset, IvSize), plaintext);
        }
        catch (CryptographicException ex)
        {
            throw new TokenInvalidException(
                ErrorIds.TokenPaddingInvalid,
                Messages.TokenPaddingInvalid,
                ex);
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
                ErrorIds.TokenExpired,
                Messages.TokenExpired);
        }

        if (-age > MaxClockSkewSeconds)
        {
            throw new TokenInvalidException(
                ErrorIds.TokenFromFuture,
                Localized.Format(Messages.TokenFromFuture, MaxClockSkewSeconds));
        }
    }

    private static ulong ReadTimestampUnauthenticated(ReadOnlySpan<byte> data) =>
        BinaryPrimitives.ReadUInt64BigEndian(data.Slice(TimestampOffset, TimestampSize));

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
                ErrorIds.TokenVersionUnsupported,
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

    private static bool HasTokenLayout(ReadOnlySpan<byte> data) =>
        data.Length >= MinTokenSize && data[0] == Version && (data.Length - OverheadSize) % BlockSize == 0;

    private static TokenInvalidException Malformed(string reason) =>
        new(ErrorIds.TokenMalformed, Localized.Format(Messages.TokenMalformed, reason));

    private static TokenInvalidException TimestampOutOfRange() =>
        new(ErrorIds.TokenMalformed, Messages.TokenTimestampOutOfRange);
}
