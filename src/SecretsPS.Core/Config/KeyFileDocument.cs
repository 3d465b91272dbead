using System.Text;

namespace SecretsPS.Core.Config;

/// <summary>
/// The key file as lines of text. Assignments can be read, replaced, added and removed; every other line
/// (comments, blanks, lines it does not understand) is kept verbatim, because the file is shared with
/// other programs and the module must never drop what it does not own.
/// </summary>
public sealed class KeyFileDocument
{
    private readonly List<Line> _lines;

    private KeyFileDocument(List<Line> lines) => _lines = lines;

    public static KeyFileDocument Empty() => new(new List<Line>());

    public static KeyFileDocument Parse(string text)
    {
        var lines = new List<Line>();
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var raw = text.Split('\n');
        // A trailing line end produces one empty element that is not a line of its own.
        int count = raw.Length > 0 && raw[^1].Length == 0 ? raw.Length - 1 : raw.Length;
        for (int i = 0; i < count; i++)
        {
            var r = raw[i].EndsWith('\r') ? raw[i][..^1] : raw[i];
            lines.Add(Line.Parse(r, i + 1));
        }
        return new KeyFileDocument(lines);
    }

    /// <summary>Every assignment in file order, duplicates included (the loader reports them).</summary>
    public IEnumerable<(string Name, string Value, int LineNumber)> Assignments =>
        _lines.Where(l => l.Name is not null).Select(l => (l.Name!, l.Value!, l.Number));

    public bool Contains(string name) => _lines.Any(l => l.Name == name);

    public string? Get(string name) => _lines.LastOrDefault(l => l.Name == name)?.Value;

    /// <summary>Replaces the value where the name stands, or appends the assignment at the end.</summary>
    public void Set(string name, string value)
    {
        var text = Format(name, value);
        var index = _lines.FindIndex(l => l.Name == name);
        if (index >= 0)
        {
            _lines[index] = Line.Parse(text, _lines[index].Number);
            _lines.RemoveAll(l => l.Name == name && !ReferenceEquals(l, _lines[index]));
        }
        else
        {
            _lines.Add(Line.Parse(text, 0));
        }
    }

    public void AppendBlankLine()
    {
        if (_lines.Count > 0 && _lines[^1].Text.Trim().Length > 0) _lines.Add(Line.Parse(string.Empty, 0));
    }

    public void AppendComment(string comment) => _lines.Add(Line.Parse("# " + comment, 0));

    public int Remove(string name)
    {
        int first = _lines.FindIndex(l => l.Name == name);
        int removed = _lines.RemoveAll(l => l.Name == name);
        // Where a removed block stood between two blank lines, one blank line remains, not a hole of two.
        if (first > 0 && first < _lines.Count && IsBlank(_lines[first - 1]) && IsBlank(_lines[first])) _lines.RemoveAt(first);
        else if (first > 0 && first == _lines.Count && IsBlank(_lines[first - 1])) _lines.RemoveAt(first - 1);
        return removed;
    }

    private static bool IsBlank(Line line) => line.Text.Trim().Length == 0;

    /// <summary>LF line ends, UTF-8 without BOM, a final line end (FORMATS.md §1).</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        // A file that began with two BOMs keeps the second as the first line's own text; every reader (this one and
        // Python's utf-8-sig) drops one leading BOM, so that line reads back the same only if a BOM goes before it.
        if (_lines.Count > 0 && _lines[0].Text.StartsWith('\uFEFF')) sb.Append('\uFEFF');
        foreach (var line in _lines) sb.Append(line.Text).Append('\n');
        return sb.ToString();
    }

    public static string Format(string name, string value) => $"{name}=\"{value}\"";

    private sealed class Line
    {
        private Line(string text, int number, string? name, string? value)
        {
            Text = text;
            Number = number;
            Name = name;
            Value = value;
        }

        public string Text { get; }
        public int Number { get; }
        public string? Name { get; }
        public string? Value { get; }

        public static Line Parse(string text, int number)
        {
            var trimmed = text.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#') return new Line(text, number, null, null);
            if (trimmed.StartsWith("export ", StringComparison.Ordinal)) trimmed = trimmed[7..].TrimStart();
            int eq = trimmed.IndexOf('=');
            if (eq <= 0) return new Line(text, number, null, null);
            var name = trimmed[..eq].Trim();
            if (!IsName(name)) return new Line(text, number, null, null);
            var value = trimmed[(eq + 1)..].Trim();
            if (value.Length > 0 && (value[0] == '"' || value[0] == '\''))
            {
                int close = value.IndexOf(value[0], 1);
                var rest = close < 0 ? "" : value[(close + 1)..].TrimStart();
                // Unterminated, or text after the closing quote that is not a comment: keep the line, do not interpret it.
                if (close < 0 || (rest.Length > 0 && rest[0] != '#')) return new Line(text, number, null, null);
                value = value[1..close];
            }
            else
            {
                int hash = value.IndexOf(" #", StringComparison.Ordinal);
                if (hash >= 0) value = value[..hash].TrimEnd();
            }
            return new Line(text, number, name, value);
        }

        private static bool IsName(string name)
        {
            if (name.Length == 0 || char.IsDigit(name[0])) return false;
            foreach (var c in name)
                if (!(c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.' or '-'))
                    return false;
            return true;
        }
    }
}
