using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SecretsPS.Core.Config;

/// <summary>
/// The key file on disk: read, replaced atomically (temporary file in the same folder, flushed, renamed
/// over the target; created 0600 before any secret is written), backed up, and changed under a lock so
/// that two processes rotating at once cannot lose each other's version.
/// </summary>
public static class KeyFileStore
{
    /// <summary>A key file larger than this is not a key file; refusing it bounds memory and time.</summary>
    public const long MaxFileBytes = 16 * 1024 * 1024;

    private static readonly UTF8Encoding Utf8NoBom = new(false, true);

    public static byte[] ReadBytes(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new KeyFileException("KeyFileNotFound", ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.KeyFileNotFound, path), path);
            if (info.Length > MaxFileBytes)
                throw new KeyFileException("KeyFileTooLarge", ErrorKind.LimitsExceeded,
                    Localized.Format(Messages.KeyFileTooLargeSize, path, info.Length, MaxFileBytes), path);
            // Read at most one byte past the limit: a pipe or device reports no length and could stream forever.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > MaxFileBytes)
                    throw new KeyFileException("KeyFileTooLarge", ErrorKind.LimitsExceeded,
                        Localized.Format(Messages.KeyFileTooLarge, path, MaxFileBytes), path);
            }
            return buffer.ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not FileNotFoundException)
        {
            throw new KeyFileException("KeyFileUnreadable", ErrorKind.PermissionDenied,
                Localized.Format(Messages.KeyFileUnreadable, path, e.Message), path, e);
        }
        catch (FileNotFoundException e)
        {
            throw new KeyFileException("KeyFileNotFound", ErrorKind.ObjectNotFound,
                Localized.Format(Messages.KeyFileNotFound, path), path, e);
        }
    }

    public static KeyFileDocument ReadDocument(string path) => ParseBytes(ReadBytes(path), path);

    public static KeyFileDocument ParseBytes(byte[] bytes, string path)
    {
        try
        {
            return KeyFileDocument.Parse(Utf8NoBom.GetString(bytes));
        }
        catch (DecoderFallbackException e)
        {
            throw new KeyFileException("KeyFileNotUtf8", ErrorKind.InvalidData,
                Localized.Format(Messages.KeyFileNotUtf8, path), path, e);
        }
    }

    /// <summary>
    /// Replaces (or creates) the file with the given text in one rename, so a reader sees either the old or
    /// the new file, never part of one; a failure leaves the old file byte-identical.
    /// </summary>
    public static void WriteAtomically(string path, string text) => WriteAtomically(path, Utf8NoBom.GetBytes(text));

    public static void WriteAtomically(string path, byte[] content)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(folder, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            using (var stream = OwnerOnlyFile.CreateNew(temp))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new KeyFileException("KeyFileWriteFailed", ErrorKind.WriteError,
                Localized.Format(Messages.KeyFileWriteFailed, full, e.Message),
                full, e);
        }
    }

    /// <summary>
    /// Runs a change of the key file under an exclusive lock (a sibling <c>.lock</c> file): reads the
    /// current content, lets <paramref name="change"/> edit it, backs the old bytes up and writes the new
    /// text atomically. Returns the backup path (null when the change wrote nothing).
    /// </summary>
    public static string? Update(string path, Func<KeyFileDocument, byte[], bool> change, TimeSpan? lockTimeout = null)
    {
        using var _ = AcquireLock(path, lockTimeout ?? TimeSpan.FromSeconds(30));
        var before = ReadBytes(path);
        var document = ParseBytes(before, path);
        if (!change(document, before)) return null;
        var backup = CreateBackup(path, before);
        WriteAtomically(path, document.ToText());
        return backup;
    }

    /// <summary>Holds an exclusive lock on <c>&lt;path&gt;.lock</c>; other SecretsPS processes wait for it.</summary>
    public static IDisposable AcquireLock(string path, TimeSpan timeout)
    {
        var lockPath = Path.GetFullPath(path) + ".lock";
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                return new FileStream(lockPath, options);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new KeyFileException("KeyFileWriteFailed", ErrorKind.PermissionDenied,
                    Localized.Format(Messages.LockFileDenied, lockPath, e.Message), path, e);
            }
            catch (IOException e) when (DateTime.UtcNow < deadline && !IsNoSpaceOrReadOnly(e))
            {
                Thread.Sleep(50);
            }
            catch (IOException e) when (IsNoSpaceOrReadOnly(e))
            {
                throw new KeyFileException("KeyFileWriteFailed", ErrorKind.WriteError,
                    Localized.Format(Messages.LockFileWriteFailed, lockPath, e.Message), path, e);
            }
            catch (IOException e)
            {
                throw new KeyFileException("KeyFileLocked", ErrorKind.ResourceUnavailable,
                    Localized.Format(Messages.KeyFileLocked, path, lockPath, e.Message), path, e);
            }
        }
    }

    private static bool IsNoSpaceOrReadOnly(IOException e) =>
        e.HResult is 28 or 30 || e.Message.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase);

    // ---- backups (FORMATS.md §7) ----

    private static Regex BackupPattern(string keyFileName) =>
        new("^" + Regex.Escape(keyFileName) + @"\.backup_(\d{8}_\d{6})(?:_(\d+))?$", RegexOptions.CultureInvariant);

    /// <summary>Copies the current file to <c>&lt;file&gt;.backup_yyyyMMdd_HHmmss</c> (UTC, 0600), adding _2, _3… if taken.</summary>
    public static string CreateBackup(string path, byte[]? content = null, DateTimeOffset? now = null)
    {
        content ??= ReadBytes(path);
        var full = Path.GetFullPath(path);
        var stamp = (now ?? DateTimeOffset.UtcNow).UtcDateTime.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture);
        var basePath = full + ".backup_" + stamp;
        for (int n = 1; ; n++)
        {
            var candidate = n == 1 ? basePath : basePath + "_" + n.ToString(CultureInfo.InvariantCulture);
            FileStream stream;
            try
            {
                stream = OwnerOnlyFile.CreateNew(candidate);
            }
            catch (IOException) when (File.Exists(candidate))
            {
                continue; // taken (two backups in one second): the next suffix
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw BackupFailed(full, e);
            }
            try
            {
                using (stream)
                {
                    stream.Write(content);
                    stream.Flush(flushToDisk: true);
                }
                return candidate;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A partial backup is worse than none: it looks like a key file and is not one.
                TryDelete(candidate);
                throw BackupFailed(full, e);
            }
        }
    }

    private static KeyFileException BackupFailed(string path, Exception e) =>
        new("BackupFailed", ErrorKind.WriteError,
            Localized.Format(Messages.BackupFailed, path, e.Message),
            path, e);

    /// <summary>The backups of a key file, newest first.</summary>
    public static IReadOnlyList<FileInfo> ListBackups(string path)
    {
        var full = Path.GetFullPath(path);
        var folder = new DirectoryInfo(Path.GetDirectoryName(full)!);
        if (!folder.Exists) return Array.Empty<FileInfo>();
        var pattern = BackupPattern(Path.GetFileName(full));
        return folder.EnumerateFiles(Path.GetFileName(full) + ".backup_*")
            .Select(f => (File: f, Match: pattern.Match(f.Name)))
            .Where(x => x.Match.Success)
            .OrderByDescending(x => x.Match.Groups[1].Value, StringComparer.Ordinal)
            .ThenByDescending(x => x.Match.Groups[2].Success ? int.Parse(x.Match.Groups[2].Value, CultureInfo.InvariantCulture) : 1)
            .Select(x => x.File)
            .ToList();
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> backups; returns what it deleted.</summary>
    public static IReadOnlyList<string> PruneBackups(string path, int keep)
    {
        if (keep < 1)
            throw new SecretsPSException("KeepOutOfRange", ErrorKind.InvalidArgument, Messages.BackupKeepOutOfRange);
        var removed = new List<string>();
        foreach (var f in ListBackups(path).Skip(keep))
        {
            f.Delete();
            removed.Add(f.FullName);
        }
        return removed;
    }

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
