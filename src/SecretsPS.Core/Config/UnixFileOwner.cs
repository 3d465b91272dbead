using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SecretsPS.Core.Config;

/// <summary>Owner, group and mode of an existing file (Unix); what a rewrite must give its replacement.</summary>
internal readonly record struct UnixFileOwnership(uint Uid, uint Gid, UnixFileMode Mode);

/// <summary>
/// The little of libc the key file needs and .NET does not offer: a file's owner and group (statx on Linux,
/// stat on macOS) and fchown. Linux and macOS only; on Windows every member is a no-op (the ACL is kept by
/// the new file's own protected ACL). Kept in one file so the native surface stays this small.
/// </summary>
internal static class UnixFileOwner
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int EPERM = 1;

    /// <summary>
    /// Tests replace the chown with one that fails (as an unprivileged process would); null is the real fchown. The module
    /// never sets it: a test seam, not state that runspaces could share.
    /// </summary>
    internal static Func<SafeFileHandle, uint, uint, int>? ChownOverride { get; set; }

    public static bool Supported => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS();

    /// <summary>The owner, group and mode of <paramref name="path"/> (links followed), or null where not supported.</summary>
    public static UnixFileOwnership? Read(string path)
    {
        if (!Supported) return null;
        uint uid, gid;
        if (OperatingSystem.IsLinux())
        {
            var buffer = new byte[256];
            if (statx(AtFdCwd, path, 0, StatxBasicStats, buffer) != 0)
                throw new IOException($"statx failed (errno {Marshal.GetLastPInvokeError()})");
            uid = BitConverter.ToUInt32(buffer, 20);
            gid = BitConverter.ToUInt32(buffer, 24);
        }
        else
        {
            var buffer = new byte[256];
            var rc = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? stat_inode64(path, buffer) : stat_mac(path, buffer);
            if (rc != 0) throw new IOException($"stat failed (errno {Marshal.GetLastPInvokeError()})");
            uid = BitConverter.ToUInt32(buffer, 16);
            gid = BitConverter.ToUInt32(buffer, 20);
        }
        return new UnixFileOwnership(uid, gid, OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(path));
    }

    /// <summary>
    /// Gives an open (still empty) file the owner, group and mode: chown first (a chown clears set-id bits),
    /// then chmod. Returns false when the owner or group cannot be set (not privileged).
    /// </summary>
    public static bool TryApply(SafeFileHandle handle, UnixFileOwnership ownership, out int errno)
    {
        errno = 0;
        if (!Supported) return true;
        var fd = (int)handle.DangerousGetHandle();
        var rc = ChownOverride is { } hook ? hook(handle, ownership.Uid, ownership.Gid) : fchown(fd, ownership.Uid, ownership.Gid);
        if (rc != 0)
        {
            errno = ChownOverride is not null ? EPERM : Marshal.GetLastPInvokeError();
            return false;
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(handle, ownership.Mode);
        return true;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, string pathname, int flags, uint mask, byte[] buffer);

    [DllImport("libc", EntryPoint = "stat$INODE64", SetLastError = true)]
    private static extern int stat_inode64(string path, byte[] buffer);

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern int stat_mac(string path, byte[] buffer);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchown(int fd, uint owner, uint group);
}
