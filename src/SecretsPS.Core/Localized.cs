using System.Globalization;

namespace SecretsPS.Core;

/// <summary>
/// Fills a message from <see cref="Messages"/> (chosen by the current UI culture, PowerShell's $PSUICulture)
/// with its arguments, formatted like the interpolated strings it replaces: numbers and dates by the current culture.
/// No culture is kept here: each thread's own (a runspace's pipeline thread's, set by PowerShell) decides, so runspaces
/// in different languages do not mix.
/// </summary>
public static class Localized
{
    public static string Format(string format, params object?[] args) =>
        string.Format(CultureInfo.CurrentCulture, format, args);
}
