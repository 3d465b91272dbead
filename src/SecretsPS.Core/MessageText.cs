namespace SecretsPS.Core;

/// <summary>
/// Keeps user-supplied names readable inside messages: a 10,000-character version name or a list of 10,000
/// versions must not turn an error into a wall of text.
/// </summary>
public static class MessageText
{
    public static string Shorten(string? text, int max = 40) =>
        text is null ? "" : text.Length <= max ? text : text[..max] + "…";

    public static string List(IEnumerable<string> names, int max = 20)
    {
        var all = names.ToList();
        var shown = string.Join(", ", all.Take(max).Select(n => Shorten(n)));
        return all.Count <= max ? shown : Localized.Format(Messages.ListMore, shown, all.Count - max);
    }
}
