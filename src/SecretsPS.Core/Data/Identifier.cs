namespace SecretsPS.Core.Data;

/// <summary>
/// The rules every identifier from a parameter passes before a dialect quotes it: not empty, not too long,
/// no control characters. Anything else (quotes, semicolons, comment markers, look-alike letters) is allowed
/// and made harmless by quoting: it can only ever name an object, never become SQL.
/// </summary>
public static class Identifier
{
    public const int MaxLength = 128;

    public static string Validate(string? identifier, string what)
    {
        if (string.IsNullOrWhiteSpace(identifier))
            throw new SecretsPSException("IdentifierInvalid", ErrorKind.InvalidArgument, $"The {what} name is empty.");
        if (identifier.Length > MaxLength)
            throw new SecretsPSException("IdentifierInvalid", ErrorKind.InvalidArgument,
                $"The {what} name is {identifier.Length} characters long; at most {MaxLength} are allowed.");
        foreach (var c in identifier)
        {
            if (char.IsControl(c) || c == '\uFEFF' || char.IsSurrogate(c) && !char.IsHighSurrogate(c) && !char.IsLowSurrogate(c))
                throw new SecretsPSException("IdentifierInvalid", ErrorKind.InvalidArgument,
                    $"The {what} name contains a control character. Give the name exactly as the database knows it.");
        }
        return identifier;
    }

    /// <summary>Splits "schema.table" on the first dot outside double quotes; a quoted part keeps its dots.</summary>
    public static TableName ParseTable(string? text)
    {
        Validate(text, "table");
        var parts = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text!.Length; i++)
        {
            char c = text[i];
            if (c == '"')
            {
                if (quoted && i + 1 < text.Length && text[i + 1] == '"') { current.Append('"'); i++; continue; }
                quoted = !quoted;
                continue;
            }
            if (c == '.' && !quoted) { parts.Add(current.ToString()); current.Clear(); continue; }
            current.Append(c);
        }
        parts.Add(current.ToString());
        if (quoted || parts.Count > 2 || parts.Any(p => p.Length == 0))
            throw new SecretsPSException("IdentifierInvalid", ErrorKind.InvalidArgument,
                $"'{Shorten(text)}' is not a table name of the form table or schema.table (quote a part that contains a dot: \"my.table\").");
        foreach (var p in parts) Validate(p, "table");
        return parts.Count == 2 ? new TableName(parts[0], parts[1]) : new TableName(null, parts[0]);
    }

    internal static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
