using System.Globalization;
using System.Text.RegularExpressions;

namespace SecretsPS.Core.Data;

/// <summary>
/// A SQLite key as a cursor text that keeps its storage class: integers as digits, reals with every digit and a decimal
/// point or exponent, blobs as X'…', text as itself, or in single quotes (as SQLite's quote() writes it) when the bare
/// text would read as one of the others. So the key is bound back exactly as it was read (in a column without a declared
/// type, 1 and '1' are two keys), a person reads an ordinary text key as it is, and the cursors of jobs saved before
/// (bare text) still read the same.
/// </summary>
internal static partial class SqliteKeyText
{
    public static string Format(object key) => key switch
    {
        long l => l.ToString(CultureInfo.InvariantCulture),
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => Real(d),
        string s => Parse(s) is string same && same == s ? s : "'" + s.Replace("'", "''") + "'",
        byte[] b => "X'" + Convert.ToHexString(b) + "'",
        _ => throw new ArgumentException($"A SQLite key is an integer, a real, a text or a blob, not {key.GetType().Name}.", nameof(key)),
    };

    private static string Real(double d)
    {
        var text = d.ToString("R", CultureInfo.InvariantCulture);
        return IntegerLiteral().IsMatch(text) ? text + ".0" : text;
    }

    public static object Parse(string cursor)
    {
        if (cursor.Length >= 2 && cursor[0] == '\'' && cursor[^1] == '\'')
            return cursor[1..^1].Replace("''", "'");
        if (cursor.Length >= 3 && cursor[0] is 'X' or 'x' && cursor[1] == '\'' && cursor[^1] == '\'')
        {
            try { return Convert.FromHexString(cursor.AsSpan(2, cursor.Length - 3)); }
            catch (FormatException) { return cursor; }
        }
        if (IntegerLiteral().IsMatch(cursor) && long.TryParse(cursor, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            return l;
        if (RealLiteral().IsMatch(cursor) && double.TryParse(cursor, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            return d;
        return cursor;
    }

    [GeneratedRegex(@"^-?[0-9]+$")]
    private static partial Regex IntegerLiteral();

    [GeneratedRegex(@"^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|-?Infinity)$")]
    private static partial Regex RealLiteral();
}
