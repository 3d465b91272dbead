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
            throw new SecretsPSException(ErrorIds.IdentifierInvalid, ErrorKind.InvalidArgument, Localized.Format(Messages.IdentifierEmpty, Noun(what)));
        if (identifier.Length > MaxLength)
            throw new SecretsPSException(ErrorIds.IdentifierInvalid, ErrorKind.InvalidArgument,
                Localized.Format(Messages.IdentifierTooLong, Noun(what), identifier.Length, MaxLength));
        for (int i = 0; i < identifier.Length; i++)
        {
            char c = identifier[i];
            if (char.IsHighSurrogate(c) && i + 1 < identifier.Length && char.IsLowSurrogate(identifier[i + 1])) { i++; continue; }
            if (char.IsControl(c) || c == '\uFEFF' || char.IsSurrogate(c))
                throw new SecretsPSException(ErrorIds.IdentifierInvalid, ErrorKind.InvalidArgument,
                    Localized.Format(Messages.IdentifierBroken, Noun(what)));
        }
        return identifier;
    }

    /// <summary>
    /// Splits "schema.table" on dots. A part that starts with a double quote is a quoted identifier
    /// ("my.table", with "" for a quote inside) and keeps its dots; anywhere else a quote is just a character
    /// of the name, never a switch that silently turns one name into another.
    /// </summary>
    public static TableName ParseTable(string? text)
    {
        Validate(text, "table");
        var parts = new List<string>();
        int i = 0;
        while (true)
        {
            var part = new System.Text.StringBuilder();
            if (i < text!.Length && text[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length) throw NotATableName(text);
                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"') { part.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    part.Append(text[i++]);
                }
                if (i < text.Length && text[i] != '.') throw NotATableName(text);
            }
            else
            {
                while (i < text.Length && text[i] != '.') part.Append(text[i++]);
            }
            if (part.Length == 0) throw NotATableName(text);
            parts.Add(part.ToString());
            if (i >= text.Length) break;
            i++; // the dot
        }
        if (parts.Count > 2) throw NotATableName(text);
        foreach (var p in parts) Validate(p, "table");
        return parts.Count == 2 ? new TableName(parts[0], parts[1]) : new TableName(null, parts[0]);
    }

    private static SecretsPSException NotATableName(string text) =>
        new(ErrorIds.IdentifierInvalid, ErrorKind.InvalidArgument,
            Localized.Format(Messages.TableNameInvalid, MessageText.Shorten(text, 60)));

    // Callers name the identifier with an invariant word (they quote SQL on hot paths); it is translated only when an error is written.
    private static string Noun(string what) => what switch
    {
        "table" => Messages.IdentifierWhatTable,
        "column" => Messages.IdentifierWhatColumn,
        "key column" => Messages.IdentifierWhatKeyColumn,
        _ => what,
    };

}
