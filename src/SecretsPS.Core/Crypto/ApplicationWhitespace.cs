using System.Buffers;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// The whitespace the application strips from a stored value before it decrypts it (FORMATS.md §4): exactly the
/// characters of Python's <c>str.strip()</c> with no argument, i.e. those for which <c>str.isspace()</c> is true.
/// </summary>
/// <remarks>
/// This is neither <see cref="char.IsWhiteSpace(char)"/> nor <see cref="string.Trim()"/>: Python also strips the
/// four information separators U+001C–U+001F, which .NET does not count as whitespace. Every character is in the
/// Basic Multilingual Plane (Python has no whitespace outside it), so a per-<see cref="char"/> test is exact.
/// The set was read from <c>[c for c in map(chr, range(0x110000)) if c.isspace()]</c> (Python 3.11; unchanged since
/// Python 3.4 dropped U+180E with Unicode 6.3).
/// </remarks>
public static class ApplicationWhitespace
{
    /// <summary>
    /// The 29 characters, in code-point order: U+0009–U+000D, U+001C–U+001F, U+0020, U+0085, U+00A0, U+1680,
    /// U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. A database-side count that must agree with the
    /// application trims exactly these (e.g. one TRIM per character set, or a translate to spaces first).
    /// </summary>
    public const string Characters =
        "\u0009\u000A\u000B\u000C\u000D\u001C\u001D\u001E\u001F\u0020\u0085\u00A0\u1680" +
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u2028\u2029\u202F\u205F\u3000";

    private static readonly SearchValues<char> Set = SearchValues.Create(Characters);

    /// <summary>True for a character Python's <c>str.strip()</c> removes.</summary>
    public static bool IsWhiteSpace(char c) => Set.Contains(c);

    /// <summary>True when <paramref name="text"/> starts or ends with one of <see cref="Characters"/>: two look-ups, no copy.</summary>
    public static bool HasSurrounding(ReadOnlySpan<char> text) =>
        !text.IsEmpty && (Set.Contains(text[0]) || Set.Contains(text[^1]));

    /// <summary>The text without its surrounding application whitespace, as Python's <c>value.strip()</c>.</summary>
    public static ReadOnlySpan<char> Trim(ReadOnlySpan<char> text)
    {
        int start = text.IndexOfAnyExcept(Set);
        if (start < 0)
        {
            return ReadOnlySpan<char>.Empty;
        }

        int end = text.LastIndexOfAnyExcept(Set);
        return text[start..(end + 1)];
    }

    /// <summary>
    /// <see cref="Trim(ReadOnlySpan{char})"/> as a string: the same instance when there is nothing to strip (the common,
    /// canonical case allocates nothing).
    /// </summary>
    public static string Trim(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!HasSurrounding(text))
        {
            return text;
        }

        return Trim(text.AsSpan()).ToString();
    }
}
