using System.Security.Cryptography;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// AES-128-CBC with PKCS7 padding for one key on one thread, over an ECB transform that is keyed once and
/// kept: the CBC chaining and the padding are done here, over the one to three blocks a secret needs.
/// </summary>
/// <remarks>
/// The one-shot <c>Aes.TryEncryptCbc</c>/<c>TryDecryptCbc</c> create, key and free an OpenSSL cipher context
/// (and look the cipher up by name) on every call on Linux; for a 16-byte secret that fixed cost was more
/// than the cryptography itself (bench/RESULTS.md). Not thread-safe: <see cref="FernetKey"/> keeps one per thread.
/// </remarks>
internal sealed class AesCbc : IDisposable
{
    public const int BlockSize = 16;

    // Large enough for any secret a column holds; a longer value uses a temporary buffer.
    private const int ScratchSize = 1024;

    private readonly Aes _aes;
    private readonly ICryptoTransform _encryptor;
    private readonly ICryptoTransform _decryptor;

    // Pinned so that clearing them erases the only copy of the plaintext they held.
    private readonly byte[] _block = GC.AllocateArray<byte>(BlockSize, pinned: true);
    private readonly byte[] _scratch = GC.AllocateArray<byte>(ScratchSize, pinned: true);
    private readonly byte[] _input = new byte[ScratchSize];

    public AesCbc(byte[] key)
    {
        _aes = Aes.Create();
        _aes.Key = key;
        _aes.Mode = CipherMode.ECB;
        _aes.Padding = PaddingMode.None;
        _encryptor = _aes.CreateEncryptor();
        _decryptor = _aes.CreateDecryptor();
    }

    public static int CiphertextLength(int plaintextLength) => checked((plaintextLength / BlockSize + 1) * BlockSize);

    /// <summary>Writes the padded ciphertext of <paramref name="plaintext"/> to <paramref name="destination"/>.</summary>
    public void Encrypt(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> iv, Span<byte> destination)
    {
        int length = CiphertextLength(plaintext.Length);
        byte pad = (byte)(length - plaintext.Length);
        try
        {
            for (int start = 0; start < length; start += BlockSize)
            {
                // CBC: each block is XORed with the ciphertext block before it, the IV for the first.
                ReadOnlySpan<byte> previous = start == 0 ? iv : destination.Slice(start - BlockSize, BlockSize);
                for (int i = 0; i < BlockSize; i++)
                {
                    int p = start + i;
                    _block[i] = (byte)((p < plaintext.Length ? plaintext[p] : pad) ^ previous[i]);
                }

                if (_encryptor.TransformBlock(_block, 0, BlockSize, _scratch, 0) != BlockSize)
                {
                    throw new CryptographicException("AES produced an unexpected block length.");
                }

                _scratch.AsSpan(0, BlockSize).CopyTo(destination.Slice(start, BlockSize));
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(_block);
        }
    }

    /// <summary>
    /// Decrypts <paramref name="ciphertext"/> (a positive multiple of the block size) into
    /// <paramref name="destination"/> and returns the plaintext's length.
    /// </summary>
    /// <exception cref="CryptographicException">The padding is not valid PKCS7.</exception>
    public int Decrypt(ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> iv, Span<byte> destination)
    {
        int count = ciphertext.Length;
        if (count <= 0 || count % BlockSize != 0 || destination.Length < count)
        {
            throw new ArgumentOutOfRangeException(nameof(ciphertext));
        }

        // The transform reads and writes arrays; the ciphertext is not secret, the decrypted blocks are.
        bool fits = count <= ScratchSize;
        byte[] input = fits ? _input : new byte[count];
        byte[] decrypted = fits ? _scratch : GC.AllocateUninitializedArray<byte>(count, pinned: true);
        try
        {
            ciphertext.CopyTo(input);
            if (_decryptor.TransformBlock(input, 0, count, decrypted, 0) != count)
            {
                throw new CryptographicException("AES produced an unexpected length.");
            }

            for (int i = 0; i < BlockSize; i++)
            {
                destination[i] = (byte)(decrypted[i] ^ iv[i]);
            }

            for (int i = BlockSize; i < count; i++)
            {
                destination[i] = (byte)(decrypted[i] ^ ciphertext[i - BlockSize]);
            }

            // The MAC was checked before this, so the padding check cannot become an oracle.
            int pad = destination[count - 1];
            bool valid = pad is >= 1 and <= BlockSize;
            for (int i = 1; valid && i <= pad; i++)
            {
                valid = destination[count - i] == pad;
            }

            if (!valid)
            {
                CryptographicOperations.ZeroMemory(destination[..count]);
                throw new CryptographicException("The padding is not valid PKCS7.");
            }

            return count - pad;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(decrypted.AsSpan(0, count));
        }
    }

    public void Dispose()
    {
        _encryptor.Dispose();
        _decryptor.Dispose();
        // Aes.Dispose clears its copy of the key.
        _aes.Dispose();
        CryptographicOperations.ZeroMemory(_block);
        CryptographicOperations.ZeroMemory(_scratch);
    }
}
