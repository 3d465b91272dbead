using System.Text;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// What a database column holds (FORMATS.md §4): <c>&lt;version&gt;:&lt;base64url(token ASCII text)&gt;</c>,
/// written with <c>=</c> padding and read with or without it. Only the shape is checked here; whether
/// the token authenticates is the key's business.
/// </summary>
public readonly struct StoredValue
{
    private const char Separator = ':';

    // Every Fernet token starts with version byte 0x80 and a timestamp whose high bytes are zero
    // until the year 10889, which base64url renders as these six characters.
    private const string TokenPrefix = "gAAAAA";

    // Bytes of a token without its ciphertext (version, timestamp, IV, MAC) plus the one padding
    // block PKCS7 always adds: the 73 in FORMATS.md's length formula.
    private const int TokenFixedBytes = 1 + 8 + 16 + 32 + BlockSize;
    private const int BlockSize = 16;

    private readonly string? _version;
    private readonly string? _token;

    private StoredValue(string version, string token)
    {
        _version = version;
        _token = token;
    }

    /// <summary>The key version name (empty only for <c>default(StoredValue)</c>).</summary>
    public string Version => _version ?? string.Empty;

    /// <summary>The Fernet token text (<c>gAAAAA…</c>).</summary>
    public string Token => _token ?? string.Empty;

    public static StoredValue Create(string version, string token)
    {
        VersionName.Validate(version);
        ArgumentNullException.ThrowIfNull(token);
        if (!LooksLikeToken(token))
        {
            throw new SecretsPSException(
                ErrorIds.StoredValueTokenInvalid,
                ErrorKind.InvalidArgument,
                Localized.Format(Messages.StoredValueTokenInvalid, TokenPrefix));
        }

        return new StoredValue(version, token);
    }

    public static bool TryParse(string? text, out StoredValue value) => TryParse(text, out value, out _);

    /// <summary>
    /// The application's reading of a stored value (FORMATS.md §4), the one place it is defined: Python's
    /// <c>value.strip()</c> (<see cref="ApplicationWhitespace"/>), then the format, padding optional. Whatever this
    /// accepts the application decrypts (when the version is in its key file and the token authenticates), so it is
    /// ciphertext, whatever its surrounding whitespace. <see cref="TryParse(string?, out StoredValue)"/> stays the strict
    /// reader of the text as it is.
    /// </summary>
    public static bool TryParseAsApplication(string? text, out StoredValue value)
    {
        if (text is null)
        {
            value = default;
            return false;
        }

        return TryParse(ApplicationWhitespace.Trim(text), out value, out _);
    }

    /// <summary>
    /// True when the text after the first colon of <paramref name="trimmed"/> (already stripped of application whitespace)
    /// begins as every stored payload does, with <c>Z0FBQUFB</c> (base64url of a token's first six characters,
    /// <c>gAAAAA</c>), whatever precedes the colon (even a name that is no valid version) and whatever follows. Such a
    /// value is someone's ciphertext — perhaps under a key this ring does not hold, perhaps damaged — never plaintext to
    /// encrypt: encrypting it would bury it under a layer the application decrypts to the old ciphertext's text. No
    /// plaintext a person or an application writes looks like this by chance.
    /// </summary>
    internal static bool HasTokenPayload(ReadOnlySpan<char> trimmed)
    {
        int colon = trimmed.IndexOf(Separator);
        return colon >= 0 && trimmed[(colon + 1)..].StartsWith(EncodedTokenPrefix, StringComparison.Ordinal);
    }

    // base64url("gAAAAA"): six characters are exactly two groups, so every stored payload starts with these eight.
    private const string EncodedTokenPrefix = "Z0FBQUFB";

    /// <summary>Reads a stored value; the error never repeats the value, which may be plaintext.</summary>
    public static StoredValue Parse(string text)
    {
        if (TryParse(text, out StoredValue value, out string reason))
        {
            return value;
        }

        throw new SecretsPSException(
            ErrorIds.StoredValueMalformed,
            ErrorKind.InvalidData,
            Localized.Format(Messages.StoredValueMalformed, Messages.ResourceManager.GetString(reason, Messages.Culture)));
    }

    /// <summary>The canonical, padded form.</summary>
    public override string ToString() =>
        _version is null || _token is null
            ? string.Empty
            : string.Concat(_version, Separator.ToString(), Base64Url.Encode(Encoding.ASCII.GetBytes(_token)));

    /// <summary>
    /// Re-encrypts the token inside a stored value's payload (the text after its colon) from <paramref name="source"/> to
    /// <paramref name="target"/> and returns <c>&lt;targetVersion&gt;:&lt;new payload&gt;</c>, without the intermediate
    /// strings of <see cref="TryParse(string?, out StoredValue)"/>, <see cref="FernetKey.Reencrypt"/> and
    /// <see cref="ToString"/>: a re-encryption runs this once per row. Null, having changed nothing, for anything that
    /// is not a well-formed value signed by <paramref name="source"/>, or too long for the stack; the general path then
    /// says what is wrong.
    /// </summary>
    internal static string? TryReencryptPayload(ReadOnlySpan<char> payload, FernetKey source, FernetKey target, string targetVersion)
    {
        if (payload.Length > MaxStackPayloadChars)
        {
            return null;
        }

        Span<byte> tokenBytes = stackalloc byte[payload.Length];
        if (!Base64Url.TryDecode(payload, paddingOptional: true, tokenBytes, out int tokenLength))
        {
            return null;
        }

        // The token's text is ASCII; a byte above 0x7F becomes a character the token check refuses, as in TryParse.
        Span<char> token = stackalloc char[tokenLength];
        for (int i = 0; i < tokenLength; i++)
        {
            token[i] = (char)tokenBytes[i];
        }

        Span<char> moved = stackalloc char[tokenLength];
        if (!token.StartsWith(TokenPrefix, StringComparison.Ordinal) || !source.TryReencrypt(token, target, moved, out int movedLength))
        {
            return null;
        }

        Span<byte> movedBytes = stackalloc byte[movedLength];
        for (int i = 0; i < movedLength; i++)
        {
            movedBytes[i] = (byte)moved[i];
        }

        Span<char> result = stackalloc char[targetVersion.Length + 1 + Base64Url.EncodedLength(movedLength)];
        targetVersion.CopyTo(result);
        result[targetVersion.Length] = Separator;
        Base64Url.Encode(movedBytes, result[(targetVersion.Length + 1)..]);
        return new string(result);
    }

    // The stack holds a few copies of the payload; a longer value takes the general path.
    private const int MaxStackPayloadChars = 2048;

    /// <summary>
    /// Characters in the stored value of a plaintext of <paramref name="plaintextUtf8Bytes"/> UTF-8 bytes
    /// under a version name of <paramref name="versionLength"/> characters:
    /// <c>len(version) + 1 + 4·⌈4·⌈(73 + 16·⌊n/16⌋)/3⌉/3⌉</c>. Lets a caller refuse a value that would not
    /// fit its column before writing it.
    /// </summary>
    public static int LengthFor(int versionLength, int plaintextUtf8Bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(versionLength);
        ArgumentOutOfRangeException.ThrowIfNegative(plaintextUtf8Bytes);

        long tokenBytes = TokenFixedBytes + (long)BlockSize * (plaintextUtf8Bytes / BlockSize);
        long tokenChars = Base64Chars(tokenBytes);
        return checked((int)(versionLength + 1 + Base64Chars(tokenChars)));
    }

    private static long Base64Chars(long bytes) => 4 * ((bytes + 2) / 3);

    private static bool TryParse(string? text, out StoredValue value, out string reason)
    {
        value = default;
        if (string.IsNullOrEmpty(text))
        {
            reason = nameof(Messages.StoredValueEmpty);
            return false;
        }

        int colon = text.IndexOf(Separator);
        if (colon < 0)
        {
            reason = nameof(Messages.StoredValueNoColon);
            return false;
        }

        string version = text[..colon];
        if (!VersionName.IsValid(version))
        {
            reason = nameof(Messages.StoredValueBadVersion);
            return false;
        }

        if (!Base64Url.TryDecode(text.AsSpan(colon + 1), paddingOptional: true, out byte[]? payload))
        {
            reason = nameof(Messages.StoredValueNotBase64Url);
            return false;
        }

        // ASCII decoding turns any byte above 0x7F into '?', which the token check then rejects.
        string token = Encoding.ASCII.GetString(payload);
        if (!LooksLikeToken(token))
        {
            reason = nameof(Messages.StoredValueNotToken);
            return false;
        }

        value = new StoredValue(version, token);
        reason = string.Empty;
        return true;
    }

    private static bool LooksLikeToken(string token)
    {
        if (!token.StartsWith(TokenPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> body = token.AsSpan().TrimEnd('=');
        return token.Length - body.Length <= 2 && Base64Url.IsUrlAlphabet(body);
    }
}
