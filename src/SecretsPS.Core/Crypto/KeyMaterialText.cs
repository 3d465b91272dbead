namespace SecretsPS.Core.Crypto;

/// <summary>
/// Key and salt bytes as the key file writes them: standard base64 (RFC 4648 §4, padded). Readers also
/// accept base64url, with or without padding, because other tools write keys that way.
/// </summary>
internal static class KeyMaterialText
{
    public static string Encode(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes);

    /// <summary>Null when the text is not base64 of either alphabet.</summary>
    public static byte[]? TryDecode(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var s = text.Trim().Replace('-', '+').Replace('_', '/');
        switch (s.Length % 4)
        {
            case 2: s += "=="; break;
            case 3: s += "="; break;
            case 1: return null;
        }
        var buffer = new byte[s.Length / 4 * 3];
        return Convert.TryFromBase64String(s, buffer, out int written) ? buffer[..written] : null;
    }

    public static string Sha256Hex(ReadOnlySpan<byte> bytes) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();
}
