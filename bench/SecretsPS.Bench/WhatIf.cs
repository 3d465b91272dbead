using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Bench;

/// <summary>
/// WHAT-IF, measured by the benchmark only (`--explore`), never used by the engine runs it reports against the
/// targets: the same Fernet tokens (byte for byte the same format; checked against <see cref="FernetKey"/> in both
/// directions before anything is timed) computed the way RESULTS.md proposes FernetKey should:
/// <list type="number">
/// <item>AES through a per-thread ECB <see cref="ICryptoTransform"/> made once per key, with the CBC chaining and
/// PKCS7 done in C# over the one to three blocks of a secret — instead of Aes.TryEncryptCbc/TryDecryptCbc, which on
/// Linux create, key and free an OpenSSL EVP context (and fetch the cipher by name) on every call;</item>
/// <item>IVs taken from a per-thread 4 KiB buffer refilled with RandomNumberGenerator.Fill — instead of one
/// RAND_bytes per value (OpenSSL 3 calls getpid() in every RAND_bytes, a system call);</item>
/// <item>the padded plaintext on the stack instead of a pinned array per decryption.</item>
/// </list>
/// MAC before decryption, constant-time comparison and clearing of plaintext are kept.
/// </summary>
public sealed class WhatIfFernet : IDisposable
{
    private const int BlockSize = 16, MacSize = 32, IvOffset = 9, CiphertextOffset = 25, Overhead = 57;
    private readonly byte[] _signingKey;
    private readonly byte[] _encryptionKey;
    private readonly ThreadLocal<(ICryptoTransform Encrypt, ICryptoTransform Decrypt, Aes Aes)> _ecb;
    private readonly ThreadLocal<IncrementalHash> _hmac;
    [ThreadStatic] private static byte[]? _ivPool;
    [ThreadStatic] private static int _ivNext;

    public WhatIfFernet(ReadOnlySpan<byte> key)
    {
        _signingKey = key[..16].ToArray();
        _encryptionKey = key[16..].ToArray();
        _ecb = new ThreadLocal<(ICryptoTransform, ICryptoTransform, Aes)>(() =>
        {
            var aes = Aes.Create();
            aes.Key = _encryptionKey;
            aes.Mode = CipherMode.ECB;
            aes.Padding = PaddingMode.None;
            return (aes.CreateEncryptor(), aes.CreateDecryptor(), aes);
        }, trackAllValues: true);
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _signingKey), trackAllValues: true);
    }

    /// <summary>The 32-byte Fernet key of a version, derived from the key file as KeyVersion does (FORMATS.md §2).</summary>
    public static WhatIfFernet FromKeyFile(string keyFile, string version)
    {
        var lines = File.ReadAllLines(keyFile).Where(l => l.Contains('=')).ToDictionary(l => l[..l.IndexOf('=')].Trim(), l => l[(l.IndexOf('=') + 1)..].Trim().Trim('"'));
        var key = Convert.FromBase64String(lines[$"ENCRYPTION_KEYS__{version}"]);
        var salt = Convert.FromBase64String(lines[$"ENCRYPTION_SALT__{version}"]);
        var kdf = KeyDerivation.Parse(lines.GetValueOrDefault($"ENCRYPTION_KDF__{version}"));
        var fernet = kdf.DeriveFernetKey(key, salt);
        try { return new WhatIfFernet(fernet); }
        finally { CryptographicOperations.ZeroMemory(fernet); CryptographicOperations.ZeroMemory(key); }
    }

    /// <summary>What ValueTransformer.Transform does for a value of another version: parse, re-encrypt keeping the timestamp, format.</summary>
    public static string TransformStored(string stored, WhatIfFernet source, string targetName, WhatIfFernet target)
    {
        if (!StoredValue.TryParse(stored, out var value)) throw new InvalidOperationException("not a stored value");
        return StoredValue.Create(targetName, source.Reencrypt(value.Token, target)).ToString();
    }

    public string Reencrypt(string token, WhatIfFernet target)
    {
        if (!Base64Url.TryDecode(token, paddingOptional: false, out var data) || data.Length < Overhead + BlockSize || data[0] != 0x80
            || (data.Length - Overhead) % BlockSize != 0)
            throw new CryptographicException("malformed token");
        int macOffset = data.Length - MacSize;
        Span<byte> mac = stackalloc byte[MacSize];
        var hmac = _hmac.Value!;
        hmac.AppendData(data.AsSpan(0, macOffset));
        hmac.TryGetHashAndReset(mac, out _);
        if (!CryptographicOperations.FixedTimeEquals(mac, data.AsSpan(macOffset, MacSize))) throw new CryptographicException("signature");
        ulong timestamp = BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(1, 8));

        int cipherLength = macOffset - CiphertextOffset;
        var ecb = _ecb.Value;
        var plain = new byte[cipherLength];
        ecb.Decrypt.TransformBlock(data, CiphertextOffset, cipherLength, plain, 0);
        for (int i = 0; i < cipherLength; i++) plain[i] ^= data[IvOffset + i]; // C(i-1), with C(0) = IV: the bytes before each block
        int pad = plain[^1];
        bool ok = pad is >= 1 and <= BlockSize;
        for (int i = 1; ok && i <= pad; i++) ok &= plain[^i] == pad;
        if (!ok) { CryptographicOperations.ZeroMemory(plain); throw new CryptographicException("padding"); }
        try { return target.Encrypt(plain.AsSpan(0, cipherLength - pad), timestamp); }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    public string Encrypt(ReadOnlySpan<byte> plaintext, ulong timestamp)
    {
        int cipherLength = (plaintext.Length / BlockSize + 1) * BlockSize;
        var token = new byte[Overhead + cipherLength];
        token[0] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(token.AsSpan(1, 8), timestamp);
        NextIv(token.AsSpan(IvOffset, BlockSize));
        var ecb = _ecb.Value;
        var block = new byte[BlockSize];
        int pad = cipherLength - plaintext.Length;
        for (int b = 0; b < cipherLength; b += BlockSize)
        {
            for (int i = 0; i < BlockSize; i++)
            {
                int p = b + i;
                block[i] = (byte)((p < plaintext.Length ? plaintext[p] : (byte)pad) ^ token[IvOffset + p]); // previous block (IV first)
            }
            ecb.Encrypt.TransformBlock(block, 0, BlockSize, token, CiphertextOffset + b);
        }
        CryptographicOperations.ZeroMemory(block);
        var hmac = _hmac.Value!;
        hmac.AppendData(token.AsSpan(0, token.Length - MacSize));
        hmac.TryGetHashAndReset(token.AsSpan(token.Length - MacSize), out _);
        return Base64Url.Encode(token);
    }

    private static void NextIv(Span<byte> iv)
    {
        if (_ivPool is null || _ivNext + iv.Length > _ivPool.Length)
        {
            _ivPool ??= new byte[4096];
            RandomNumberGenerator.Fill(_ivPool);
            _ivNext = 0;
        }
        _ivPool.AsSpan(_ivNext, iv.Length).CopyTo(iv);
        _ivNext += iv.Length;
    }

    public void Dispose()
    {
        foreach (var (e, d, a) in _ecb.Values) { e.Dispose(); d.Dispose(); a.Dispose(); }
        foreach (var h in _hmac.Values) h.Dispose();
        _ecb.Dispose();
        _hmac.Dispose();
        CryptographicOperations.ZeroMemory(_signingKey);
        CryptographicOperations.ZeroMemory(_encryptionKey);
    }

    /// <summary>Both directions against the library's FernetKey, on plaintexts of 0–47 bytes: the what-if computes the same format.</summary>
    public static void CheckAgainst(FernetKey realSource, WhatIfFernet whatIfSource, FernetKey realTarget, WhatIfFernet whatIfTarget)
    {
        for (int n = 0; n < 48; n++)
        {
            var plain = Encoding.UTF8.GetBytes(new string('é', n / 2) + new string('A', n % 2));
            var token = realSource.Encrypt(plain, 1_700_000_000 + n, RandomNumberGenerator.GetBytes(16));
            var moved = whatIfSource.Reencrypt(token, whatIfTarget);
            if (!realTarget.Decrypt(moved, out var ts).AsSpan().SequenceEqual(plain) || ts != 1_700_000_000 + n)
                throw new InvalidOperationException($"What-if token for {plain.Length} bytes does not decrypt with FernetKey.");
            var back = realTarget.Reencrypt(moved, realSource);
            if (!realSource.Decrypt(back).AsSpan().SequenceEqual(plain)) throw new InvalidOperationException("Round trip failed.");
        }
    }
}
