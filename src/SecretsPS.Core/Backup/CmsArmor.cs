using System.Text;

namespace SecretsPS.Core.Backup;

/// <summary>
/// The PEM armour PowerShell's Protect-CmsMessage writes, byte for byte as it writes it: the BEGIN line, the newline,
/// the DER as base64 with line breaks (Convert's InsertLineBreaks: 76 characters, CRLF), the newline, the END line, and no
/// final newline. Unprotect-CmsMessage and <c>openssl cms -inform PEM</c> both read it.
/// </summary>
public static class CmsArmor
{
    public const string Begin = "-----BEGIN CMS-----";
    public const string End = "-----END CMS-----";

    public static byte[] Wrap(byte[] der) =>
        Encoding.ASCII.GetBytes(Begin + Environment.NewLine + Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks)
                                + Environment.NewLine + End);

    /// <summary>Whether the bytes start (after blank space) with the armour's BEGIN line.</summary>
    public static bool IsArmored(ReadOnlySpan<byte> bytes)
    {
        var begin = Encoding.ASCII.GetBytes(Begin);
        int i = 0;
        while (i < bytes.Length && bytes[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i++;
        return bytes[i..].StartsWith(begin);
    }

    /// <summary>The DER between the armour lines; FormatException when the armour or its base64 is incomplete or damaged.</summary>
    public static byte[] Unwrap(byte[] bytes)
    {
        var text = Encoding.ASCII.GetString(bytes);
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin) throw new FormatException("The -----BEGIN CMS----- / -----END CMS----- lines are missing.");
        var body = text[(begin + Begin.Length)..end];
        return Convert.FromBase64String(body); // whitespace (the line breaks) is allowed; anything else is FormatException
    }
}
