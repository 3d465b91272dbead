using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// Base64url (RFC 4648 §5). .NET 8 has no Base64Url type (it arrived in .NET 9), so this translates
/// the two differing characters and lets <see cref="Convert"/> do the work.
/// </summary>
/// <remarks>
/// Decoding is strict about the alphabet: whitespace and characters outside <c>A-Z a-z 0-9 - _</c>
/// are rejected, unlike <see cref="Convert.FromBase64String(string)"/> (which skips whitespace) or
/// Python's non-validating decoder (which skips anything). A token that one reader accepts and
/// another silently "repairs" is exactly the kind of interoperability bug this format must not have.
/// </remarks>
internal static class Base64Url
{
    private const int GroupChars = 4;
    private const int GroupBytes = 3;
    private const char Pad = '=';

    // Temporary char buffers up to this size live on the stack; larger ones are rented.
    private const int StackLimitChars = 512;

    /// <summary>Encodes with <c>=</c> padding, the form Fernet tokens and stored values are written in.</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return string.Empty;
        }

        int length = EncodedLength(data.Length);
        char[]? rented = null;
        Span<char> chars = length <= StackLimitChars
            ? stackalloc char[StackLimitChars]
            : (rented = ArrayPool<char>.Shared.Rent(length));
        try
        {
            chars = chars[..length];
            if (!Convert.TryToBase64Chars(data, chars, out int written) || written != length)
            {
                throw new InvalidOperationException("Base64 encoding produced an unexpected length.");
            }

            ToUrlAlphabet(chars);
            return new string(chars);
        }
        finally
        {
            // The input may be key material (key files are written through here as well).
            chars.Clear();
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Encodes with <c>=</c> padding into <paramref name="destination"/>, which must hold <see cref="EncodedLength"/> characters.</summary>
    public static int Encode(ReadOnlySpan<byte> data, Span<char> destination)
    {
        if (!Convert.TryToBase64Chars(data, destination, out int written))
        {
            throw new ArgumentException("The destination is too small for the encoding.", nameof(destination));
        }

        ToUrlAlphabet(destination[..written]);
        return written;
    }

    /// <summary>Length of the padded encoding of <paramref name="byteCount"/> bytes.</summary>
    public static int EncodedLength(int byteCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteCount);
        return checked((byteCount + GroupBytes - 1) / GroupBytes * GroupChars);
    }

    /// <summary>
    /// Decodes base64url text. With <paramref name="paddingOptional"/> false the text must carry exactly
    /// the <c>=</c> padding that makes its length a multiple of 4; with true, the padding may also be
    /// left out entirely (but a wrong amount of padding is still rejected).
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<char> text, bool paddingOptional, [NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        if (!TryMeasure(text, paddingOptional, out int length))
        {
            return false;
        }

        var decoded = new byte[length];
        if (!TryDecode(text, paddingOptional, decoded, out int written) || written != length)
        {
            return false;
        }

        bytes = decoded;
        return true;
    }

    /// <summary>
    /// <see cref="TryDecode(ReadOnlySpan{char}, bool, out byte[])"/> into a caller's buffer, which must hold the
    /// decoded bytes (at most three quarters of the text's length).
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<char> text, bool paddingOptional, Span<byte> destination, out int written)
    {
        written = 0;
        if (!TryMeasure(text, paddingOptional, out int length) || destination.Length < length)
        {
            return false;
        }

        ReadOnlySpan<char> body = text.TrimEnd(Pad);
        int paddedLength = body.Length + (GroupChars - body.Length % GroupChars) % GroupChars;
        char[]? rented = null;
        Span<char> chars = paddedLength <= StackLimitChars
            ? stackalloc char[StackLimitChars]
            : (rented = ArrayPool<char>.Shared.Rent(paddedLength));
        try
        {
            chars = chars[..paddedLength];
            body.CopyTo(chars);
            chars[body.Length..].Fill(Pad);
            ToStandardAlphabet(chars[..body.Length]);
            return Convert.TryFromBase64Chars(chars, destination, out written) && written == length;
        }
        finally
        {
            chars.Clear();
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Checks the padding and the alphabet, and gives the decoded length.</summary>
    private static bool TryMeasure(ReadOnlySpan<char> text, bool paddingOptional, out int length)
    {
        length = 0;
        int padding = 0;
        while (padding < 2 && padding < text.Length && text[text.Length - 1 - padding] == Pad)
        {
            padding++;
        }

        ReadOnlySpan<char> body = text[..^padding];
        int remainder = body.Length % GroupChars;
        if (remainder == 1)
        {
            // One trailing character carries only 6 bits: not a whole byte, so never valid.
            return false;
        }

        int expectedPadding = remainder == 0 ? 0 : GroupChars - remainder;
        bool paddingOk = padding == expectedPadding || (paddingOptional && padding == 0);
        if (!paddingOk || !IsUrlAlphabet(body))
        {
            return false;
        }

        length = DecodedLength(body.Length);
        return true;
    }

    /// <summary>True when every character is in the base64url alphabet (no padding, no whitespace).</summary>
    public static bool IsUrlAlphabet(ReadOnlySpan<char> text) => !text.ContainsAnyExcept(UrlAlphabet);

    // Vectorised: this check runs over every stored value of a re-encryption, twice.
    private static readonly SearchValues<char> UrlAlphabet =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    private static int DecodedLength(int unpaddedChars)
    {
        int remainder = unpaddedChars % GroupChars;
        // 2 leftover chars carry 1 byte, 3 carry 2.
        return unpaddedChars / GroupChars * GroupBytes + (remainder == 0 ? 0 : remainder - 1);
    }

    private static void ToUrlAlphabet(Span<char> chars)
    {
        chars.Replace('+', '-');
        chars.Replace('/', '_');
    }

    private static void ToStandardAlphabet(Span<char> chars)
    {
        chars.Replace('-', '+');
        chars.Replace('_', '/');
    }
}
