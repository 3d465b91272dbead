using System.Runtime.Versioning;
using System.Security.AccessControl;
using System.Security.Principal;

namespace SecretsPS.Core.Config;

/// <summary>
/// Creates a new file that only the current user can read, with the permission set at creation
/// (mode 0600 on Unix, a protected ACL for the current user on Windows), never fixed up afterwards:
/// a chmod after the write leaves a window in which the secret is readable.
/// </summary>
public static class OwnerOnlyFile
{
    public static FileStream CreateNew(string path)
    {
        if (OperatingSystem.IsWindows()) return CreateNewWindows(path);
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        return new FileStream(path, options);
    }

    [SupportedOSPlatform("windows")]
    private static FileStream CreateNewWindows(string path)
    {
        var security = new FileSecurity();
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        var user = WindowsIdentity.GetCurrent().User!;
        security.SetOwner(user);
        security.AddAccessRule(new FileSystemAccessRule(user, FileSystemRights.FullControl, AccessControlType.Allow));
        return new FileInfo(path).Create(FileMode.CreateNew, FileSystemRights.Write | FileSystemRights.Read | FileSystemRights.Delete,
            FileShare.None, 4096, FileOptions.None, security);
    }

    /// <summary>True when a Unix file can be read by its group or by others.</summary>
    public static bool IsReadableByOthers(string path)
    {
        if (OperatingSystem.IsWindows()) return false;
        var mode = File.GetUnixFileMode(path);
        return (mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0;
    }
}
