using System.Globalization;
using System.Security.Cryptography;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// How a version's Fernet key is derived from its key bytes and salt (FORMATS.md §2): the value of
/// <c>ENCRYPTION_KDF__&lt;v&gt;</c>. Immutable; equal when the canonical names are equal.
/// </summary>
public sealed class KeyDerivation : IEquatable<KeyDerivation>
{
    public const int MinPbkdf2Iterations = 1000;

    private const string HkdfName = "hkdf-sha256";
    private const string Pbkdf2Prefix = "pbkdf2-sha256:";
    private const string RawName = "raw";

    // Longest decimal text that always fits an int, so parsing can never overflow.
    private const int MaxIterationDigits = 9;

    // A property, not a field: read in the caller's UI culture each time.
    private static string ValidForms => Localized.Format(Messages.KdfValidForms, HkdfName, Pbkdf2Prefix, MinPbkdf2Iterations, RawName);

    private enum Algorithm
    {
        Hkdf,
        Pbkdf2,
        Raw,
    }

    private readonly Algorithm _algorithm;
    private readonly int _iterations;

    private KeyDerivation(Algorithm algorithm, int iterations, string name)
    {
        _algorithm = algorithm;
        _iterations = iterations;
        Name = name;
    }

    public static KeyDerivation HkdfSha256 { get; } = new(Algorithm.Hkdf, 0, HkdfName);

    public static KeyDerivation Raw { get; } = new(Algorithm.Raw, 0, RawName);

    public static KeyDerivation Pbkdf2Sha256(int iterations)
    {
        if (iterations < MinPbkdf2Iterations)
        {
            throw new SecretsPSException(
                ErrorIds.KdfInvalid,
                ErrorKind.InvalidArgument,
                Localized.Format(Messages.KdfTooFewIterations, MinPbkdf2Iterations, iterations));
        }

        return new KeyDerivation(Algorithm.Pbkdf2, iterations, Pbkdf2Prefix + iterations.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Reads the key file's text. Null or empty means <c>hkdf-sha256</c> (the setting is optional).
    /// Surrounding whitespace and letter case are forgiven, since people edit this file by hand;
    /// <see cref="Name"/> is always the canonical lower-case form.
    /// </summary>
    public static KeyDerivation Parse(string? text)
    {
        string trimmed = text?.Trim() ?? string.Empty;
        if (trimmed.Length == 0 || trimmed.Equals(HkdfName, StringComparison.OrdinalIgnoreCase))
        {
            return HkdfSha256;
        }

        if (trimmed.Equals(RawName, StringComparison.OrdinalIgnoreCase))
        {
            return Raw;
        }

        // "pbkdf2-sha256" alone is a known algorithm missing its iterations: say that, not "unknown".
        if (trimmed.StartsWith(Pbkdf2Prefix, StringComparison.OrdinalIgnoreCase) ||
            trimmed.Equals(Pbkdf2Prefix[..^1], StringComparison.OrdinalIgnoreCase))
        {
            return ParsePbkdf2(trimmed);
        }

        throw new SecretsPSException(
            ErrorIds.KdfUnknown,
            ErrorKind.InvalidData,
            Localized.Format(Messages.KdfUnknown, MessageText.Shorten(trimmed), ValidForms));
    }

    /// <summary>Canonical text, as written in the key file, e.g. <c>pbkdf2-sha256:600000</c>.</summary>
    public string Name { get; }

    public override string ToString() => Name;

    /// <summary>
    /// Derives the 32-byte Fernet key. The caller owns the result and should clear it
    /// (<see cref="CryptographicOperations.ZeroMemory"/>) once a <see cref="FernetKey"/> holds it.
    /// Slow for PBKDF2 by design: derive once per version, never per value.
    /// </summary>
    public byte[] DeriveFernetKey(ReadOnlySpan<byte> keyBytes, ReadOnlySpan<byte> salt)
    {
        switch (_algorithm)
        {
            case Algorithm.Hkdf:
            {
                var output = new byte[FernetKey.Size];
                HKDF.DeriveKey(HashAlgorithmName.SHA256, keyBytes, output, salt, ReadOnlySpan<byte>.Empty);
                return output;
            }

            case Algorithm.Pbkdf2:
                return Rfc2898DeriveBytes.Pbkdf2(keyBytes, salt, _iterations, HashAlgorithmName.SHA256, FernetKey.Size);

            case Algorithm.Raw:
                if (keyBytes.Length != FernetKey.Size)
                {
                    throw new SecretsPSException(
                        ErrorIds.RawKeyLength,
                        ErrorKind.InvalidData,
                        Localized.Format(Messages.KdfRawKeyLength, RawName, FernetKey.Size, keyBytes.Length, HkdfName));
                }

                return keyBytes.ToArray();

            default:
                throw new InvalidOperationException("Unknown key derivation algorithm.");
        }
    }

    public bool Equals(KeyDerivation? other) => other is not null && Name == other.Name;

    public override bool Equals(object? obj) => Equals(obj as KeyDerivation);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);

    private static KeyDerivation ParsePbkdf2(string text)
    {
        string digits = text.Length > Pbkdf2Prefix.Length ? text[Pbkdf2Prefix.Length..] : string.Empty;

        bool allDigits = digits.Length > 0 && digits.All(char.IsAsciiDigit);
        if (!allDigits)
        {
            throw new SecretsPSException(
                ErrorIds.KdfInvalid,
                ErrorKind.InvalidData,
                Localized.Format(Messages.KdfIterationsNotNumber, MessageText.Shorten(text), Pbkdf2Prefix, MinPbkdf2Iterations));
        }

        string significant = digits.TrimStart('0');
        if (significant.Length > MaxIterationDigits)
        {
            throw new SecretsPSException(
                ErrorIds.KdfInvalid,
                ErrorKind.InvalidData,
                Localized.Format(Messages.KdfIterationsTooMany, MessageText.Shorten(text), MinPbkdf2Iterations));
        }

        int iterations = significant.Length == 0 ? 0 : int.Parse(significant, NumberStyles.None, CultureInfo.InvariantCulture);
        if (iterations < MinPbkdf2Iterations)
        {
            throw new SecretsPSException(
                ErrorIds.KdfInvalid,
                ErrorKind.InvalidData,
                Localized.Format(Messages.KdfIterationsTooFew, MessageText.Shorten(text), iterations, MinPbkdf2Iterations, Pbkdf2Prefix));
        }

        return new KeyDerivation(Algorithm.Pbkdf2, iterations, Pbkdf2Prefix + iterations.ToString(CultureInfo.InvariantCulture));
    }

}
