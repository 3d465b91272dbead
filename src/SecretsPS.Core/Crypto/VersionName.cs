using System.Globalization;
using System.Text;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// Key version names (FORMATS.md §1): <c>^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$</c>. The name prefixes every
/// stored value before a <c>:</c>, so it may never contain one; ASCII-only keeps it byte-identical in
/// every database collation and in environment variable names.
/// </summary>
public static class VersionName
{
    public const int MaxLength = 32;


    // A name longer than this is shown cut to ShownLength characters: it may be a pasted value.
    private const int MaxEchoLength = 64;
    private const int ShownLength = 40;

    // Longest run of significant digits that always fits a long after adding one.
    private const int MaxNumberDigits = 18;

    private const char AutoPrefix = 'v';

    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength || !char.IsAsciiLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (char c in name.AsSpan(1))
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '.' && c != '_' && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    public static void Validate(string? name)
    {
        if (IsValid(name))
        {
            return;
        }

        string shown = name is null ? "(null)" : $"'{Printable(name)}'";
        throw new SecretsPSException(
            ErrorIds.VersionNameInvalid,
            ErrorKind.InvalidArgument,
            Localized.Format(Messages.VersionNameInvalid, shown, Messages.VersionNameRule),
            target: name is null ? null : Printable(name));
    }

    /// <summary>
    /// The automatic next name: the highest N among names <c>v&lt;N&gt;</c> (N decimal, leading zeros
    /// allowed), plus one; <c>v1</c> when there is none. Names whose number is too large to be a
    /// sensible counter (over 18 digits) are ignored rather than overflowing.
    /// </summary>
    public static string Next(IEnumerable<string> existing)
    {
        ArgumentNullException.ThrowIfNull(existing);

        long highest = 0;
        foreach (string name in existing)
        {
            if (TryReadNumber(name, out long number) && number > highest)
            {
                highest = number;
            }
        }

        return AutoPrefix + (highest + 1).ToString(CultureInfo.InvariantCulture);
    }

    private static bool TryReadNumber(string? name, out long number)
    {
        number = 0;
        if (name is null || name.Length < 2 || name[0] != AutoPrefix)
        {
            return false;
        }

        ReadOnlySpan<char> digits = name.AsSpan(1);
        foreach (char c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        ReadOnlySpan<char> significant = digits.TrimStart('0');
        if (significant.Length > MaxNumberDigits)
        {
            return false;
        }

        number = significant.IsEmpty ? 0 : long.Parse(significant, NumberStyles.None, CultureInfo.InvariantCulture);
        return true;
    }

    // Keeps the message on one line and short; an over-long "name" may well be a value pasted by mistake.
    private static string Printable(string name)
    {
        string shown = name.Length > MaxEchoLength ? name[..ShownLength] + "…" : name;
        var builder = new StringBuilder(shown.Length);
        foreach (char c in shown)
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }

        return builder.ToString();
    }
}
