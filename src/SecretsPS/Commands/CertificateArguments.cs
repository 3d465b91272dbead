using System.Management.Automation;

namespace SecretsPS.Commands;

/// <summary>
/// -To and -Certificate items as the library takes them: the object inside a PSObject, a FileInfo as its full path, and a
/// string that names an existing file as a PowerShell path (~, a drive, relative to the session's location) made full;
/// any other string stays as it is (a thumbprint or subject).
/// </summary>
internal static class CertificateArguments
{
    public static IReadOnlyList<object> Normalize(IEnumerable<object> items, SessionState session)
    {
        var result = new List<object>();
        foreach (var item in items)
        {
            var value = item is PSObject wrapped ? wrapped.BaseObject : item;
            switch (value)
            {
                case FileInfo file:
                    result.Add(file.FullName);
                    break;
                case string text:
                    string? full = null;
                    try { full = session.Path.GetUnresolvedProviderPathFromPSPath(text); }
                    catch (Exception e) when (e is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or ArgumentException or PSInvalidOperationException) { }
                    result.Add(full is not null && File.Exists(full) ? full : text);
                    break;
                default:
                    result.Add(value);
                    break;
            }
        }
        return result;
    }
}
