using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SecretsPS.Core.Config;

/// <summary>
/// The key file on disk: read, backed up, and changed only through <see cref="Edit"/>: under a lock on the final
/// target's path (so two paths to one file exclude each other), replaced atomically (temporary file beside the
/// target, flushed, renamed over it; a new file is created 0600, a rewrite keeps the owner, group and mode the file
/// had, given to the temporary file before any secret is written), verified, and rolled back byte for byte.
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
                throw new KeyFileException(ErrorIds.KeyFileNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.KeyFileNotFound, path), path);
            if (info.Length > MaxFileBytes)
                throw new KeyFileException(ErrorIds.KeyFileTooLarge, ErrorKind.LimitsExceeded,
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
                    throw new KeyFileException(ErrorIds.KeyFileTooLarge, ErrorKind.LimitsExceeded,
                        Localized.Format(Messages.KeyFileTooLarge, path, MaxFileBytes), path);
            }
            return buffer.ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not FileNotFoundException)
        {
            throw new KeyFileException(ErrorIds.KeyFileUnreadable, ErrorKind.PermissionDenied,
                Localized.Format(Messages.KeyFileUnreadable, path, e.Message), path, e);
        }
        catch (FileNotFoundException e)
        {
            throw new KeyFileException(ErrorIds.KeyFileNotFound, ErrorKind.ObjectNotFound,
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
            throw new KeyFileException(ErrorIds.KeyFileNotUtf8, ErrorKind.InvalidData,
                Localized.Format(Messages.KeyFileNotUtf8, path), path, e);
        }
    }

    /// <summary>
    /// The file a path finally names: a symbolic link (or a chain of them, relative targets included) is followed to
    /// its final target, which is what is read, locked, backed up beside and replaced; the link itself stays a link.
    /// </summary>
    public static string ResolveTarget(string path)
    {
        var full = Path.GetFullPath(path);
        if (new FileInfo(full).LinkTarget is null) return full;
        try
        {
            var target = File.ResolveLinkTarget(full, returnFinalTarget: true);
            return target is null ? full : Path.GetFullPath(target.FullName);
        }
        catch (IOException e)
        {
            throw new KeyFileException(ErrorIds.KeyFileLinkUnresolvable, ErrorKind.InvalidData,
                Localized.Format(Messages.KeyFileLinkUnresolvable, full, e.Message), full, e);
        }
    }

    /// <summary>
    /// The one way the key file changes (create, rotate, activate, remove, restore, cleanup). Under the lock of the
    /// final target's path, from the read through the write and the verification: reads the file (absent is allowed
    /// only with <paramref name="mayCreate"/>), asks <paramref name="change"/> for the new bytes (null: write nothing),
    /// prepares the temporary file with the existing file's owner, group and mode (refused before anything changes
    /// when they cannot be kept), backs the old bytes up, renames the new file over the target, then runs
    /// <paramref name="verify"/>; if that throws, the old bytes are put back byte for byte and the exception goes on.
    /// </summary>
    public static KeyFileEditResult Edit(string path, Func<KeyFileState, byte[]?> change, Action<KeyFileWritten>? verify = null,
        bool mayCreate = false, TimeSpan? lockTimeout = null)
    {
        var full = Path.GetFullPath(path);
        var target = ResolveTarget(full);
        using var _ = AcquireLock(target, lockTimeout ?? TimeSpan.FromSeconds(30));
        byte[]? before = mayCreate && !File.Exists(target) ? null : ReadBytes(target);
        var state = new KeyFileState(full, target, before);
        var content = change(state);
        if (content is null) return new KeyFileEditResult(full, target, false, null);

        var ownership = before is null ? null : ReadOwnership(target);
        var temp = PrepareTemporary(target, ownership);
        string? backup = null;
        try
        {
            if (before is not null) backup = CreateBackup(target, before);
            WriteAndRename(temp, target, content);
        }
        catch
        {
            Discard(temp);
            throw;
        }

        if (verify is not null)
        {
            try
            {
                verify(new KeyFileWritten(full, target, before, backup));
            }
            catch (Exception failure)
            {
                // Byte for byte, with the same owner, group and mode, before the exception reaches anything that can fail.
                try
                {
                    if (before is null) TryDelete(target);
                    else WriteAtomically(target, before, ownership);
                }
                catch (Exception rollback) when (rollback is SecretsPSException or IOException or UnauthorizedAccessException)
                {
                    // Never reported as rolled back: the new file is still in place and the backup is the way back.
                    throw new KeyFileException(ErrorIds.KeyFileRollbackFailed, ErrorKind.WriteError,
                        Localized.Format(Messages.KeyFileRollbackFailed, target, backup ?? "-", rollback.Message),
                        target, new AggregateException(failure, rollback));
                }
                throw;
            }
        }
        return new KeyFileEditResult(full, target, true, backup);
    }

    /// <summary>
    /// Edit for a change of the parsed document: <paramref name="change"/> edits it and returns whether to write.
    /// Returns the backup path (null when the change wrote nothing).
    /// </summary>
    public static string? Update(string path, Func<KeyFileDocument, byte[], bool> change, TimeSpan? lockTimeout = null) =>
        Edit(path, state => change(state.Document, state.Bytes!) ? Utf8NoBom.GetBytes(state.Document.ToText()) : null,
            lockTimeout: lockTimeout).BackupPath;

    internal static byte[] Encode(string text) => Utf8NoBom.GetBytes(text);

    /// <summary>Replaces (or creates) the file in one rename; a new file is 0600, owned by the current user.</summary>
    internal static void WriteAtomically(string path, string text) => WriteAtomically(path, Utf8NoBom.GetBytes(text));

    internal static void WriteAtomically(string path, byte[] content, UnixFileOwnership? ownership = null)
    {
        var full = Path.GetFullPath(path);
        var temp = PrepareTemporary(full, ownership);
        try
        {
            WriteAndRename(temp, full, content);
        }
        catch
        {
            Discard(temp);
            throw;
        }
    }

    private static UnixFileOwnership? ReadOwnership(string target)
    {
        try
        {
            return UnixFileOwner.Read(target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new KeyFileException(ErrorIds.KeyFileOwnerNotKept, ErrorKind.PermissionDenied,
                Localized.Format(Messages.KeyFileOwnerUnknown, target, e.Message), target, e);
        }
    }

    /// <summary>
    /// Creates the empty temporary file beside <paramref name="full"/> (0600, O_EXCL: never through a link) and, for a
    /// rewrite, gives it the existing file's owner, group and mode while it is still empty. Returns it open for writing.
    /// </summary>
    private static FileStream PrepareTemporary(string full, UnixFileOwnership? ownership)
    {
        var folder = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(folder, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        FileStream? stream = null;
        try
        {
            stream = OwnerOnlyFile.CreateNew(temp);
            if (ownership is { } o && !UnixFileOwner.TryApply(stream.SafeFileHandle, o, out var errno))
            {
                stream.Dispose();
                TryDelete(temp);
                throw new KeyFileException(ErrorIds.KeyFileOwnerNotKept, ErrorKind.PermissionDenied,
                    Localized.Format(Messages.KeyFileOwnerNotKept, full, o.Uid, o.Gid, Convert.ToString((int)o.Mode, 8).PadLeft(4, '0'), errno),
                    full);
            }
            return stream;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream?.Dispose();
            TryDelete(temp);
            throw new KeyFileException(ErrorIds.KeyFileWriteFailed, ErrorKind.WriteError,
                Localized.Format(Messages.KeyFileWriteFailed, full, e.Message), full, e);
        }
    }

    private static void Discard(FileStream temp)
    {
        temp.Dispose();
        TryDelete(temp.Name);
    }

    private static void WriteAndRename(FileStream temp, string full, byte[] content)
    {
        try
        {
            using (temp)
            {
                temp.Write(content);
                temp.Flush(flushToDisk: true);
            }
            File.Move(temp.Name, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp.Name);
            throw new KeyFileException(ErrorIds.KeyFileWriteFailed, ErrorKind.WriteError,
                Localized.Format(Messages.KeyFileWriteFailed, full, e.Message), full, e);
        }
    }

    /// <summary>A lock file, backup or journal is never a link of its own: refused, never written through.</summary>
    internal static void RefuseLink(string path, string keyFile)
    {
        if (new FileInfo(path).LinkTarget is not null)
            throw new KeyFileException(ErrorIds.KeyFileLinkRefused, ErrorKind.SecurityError,
                Localized.Format(Messages.KeyFileLinkRefused, path, keyFile), path);
    }

    /// <summary>
    /// Holds an exclusive lock on <c>&lt;target&gt;.lock</c> (the final target of a link); other SecretsPS processes wait for
    /// it. FileShare.None is a lock per open file (flock on Unix), so another thread or runspace of this process waits too:
    /// ForEach-Object -Parallel runspaces that rotate one key file take turns (SharedStateStressTests).
    /// </summary>
    internal static IDisposable AcquireLock(string path, TimeSpan timeout)
    {
        var target = ResolveTarget(path);
        var lockPath = target + ".lock";
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                RefuseLink(lockPath, target);
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                var stream = new FileStream(lockPath, options);
                // Checked again once open: a link swapped in between is refused too (nothing was written through it).
                if (new FileInfo(lockPath).LinkTarget is not null)
                {
                    stream.Dispose();
                    RefuseLink(lockPath, target);
                }
                return stream;
            }
            catch (UnauthorizedAccessException e)
            {
                throw new KeyFileException(ErrorIds.KeyFileWriteFailed, ErrorKind.PermissionDenied,
                    Localized.Format(Messages.LockFileDenied, lockPath, e.Message), path, e);
            }
            catch (IOException e) when (DateTime.UtcNow < deadline && !IsNoSpaceOrReadOnly(e))
            {
                Thread.Sleep(50);
            }
            catch (IOException e) when (IsNoSpaceOrReadOnly(e))
            {
                throw new KeyFileException(ErrorIds.KeyFileWriteFailed, ErrorKind.WriteError,
                    Localized.Format(Messages.LockFileWriteFailed, lockPath, e.Message), path, e);
            }
            catch (IOException e)
            {
                throw new KeyFileException(ErrorIds.KeyFileLocked, ErrorKind.ResourceUnavailable,
                    Localized.Format(Messages.KeyFileLocked, path, lockPath, e.Message), path, e);
            }
        }
    }

    private static bool IsNoSpaceOrReadOnly(IOException e) =>
        e.HResult is 28 or 30 || e.Message.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase);

    // ---- backups (FORMATS.md §7) ----

    private static Regex BackupPattern(string keyFileName) =>
        new("^" + Regex.Escape(keyFileName) + @"\.backup_(\d{8}_\d{6})(?:_(\d+))?$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Backup-EncryptionConfig: a backup of the file as it is, taken under the same lock as every change, so it is never
    /// a file half way through another process's edit. Returns the backup's path.
    /// </summary>
    public static string Backup(string path)
    {
        var target = ResolveTarget(Path.GetFullPath(path));
        using var _ = AcquireLock(target, TimeSpan.FromSeconds(30));
        return CreateBackup(target, ReadBytes(target));
    }

    /// <summary>
    /// Copies the current file to <c>&lt;target&gt;.backup_yyyyMMdd_HHmmss</c> beside the link's final target (UTC, 0600),
    /// adding _2, _3… if taken; a backup name that is a link is refused, never written through. Callers hold the lock.
    /// </summary>
    internal static string CreateBackup(string path, byte[]? content = null, DateTimeOffset? now = null)
    {
        var full = ResolveTarget(path);
        return CreateBackupIn(full, Path.GetDirectoryName(full)!, content ?? ReadBytes(full), "", now);
    }

    /// <summary>
    /// CreateBackup into <paramref name="folder"/> (the key file's own, or a -Destination): the key file's name with the
    /// UTC stamp, _2, _3… if taken, then <paramref name="suffix"/> (".cms" for an encrypted backup).
    /// </summary>
    internal static string CreateBackupIn(string full, string folder, byte[] content, string suffix, DateTimeOffset? now = null)
    {
        var stamp = (now ?? DateTimeOffset.UtcNow).UtcDateTime.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture);
        var basePath = Path.Combine(folder, Path.GetFileName(full) + ".backup_" + stamp);
        for (int n = 1; ; n++)
        {
            var candidate = (n == 1 ? basePath : basePath + "_" + n.ToString(CultureInfo.InvariantCulture)) + suffix;
            FileStream stream;
            try
            {
                stream = OwnerOnlyFile.CreateNew(candidate);
            }
            catch (IOException) when (new FileInfo(candidate).LinkTarget is not null)
            {
                RefuseLink(candidate, full);
                throw;
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
        new(ErrorIds.BackupFailed, ErrorKind.WriteError,
            Localized.Format(Messages.BackupFailed, path, e.Message),
            path, e);

    /// <summary>The backups of a key file, newest first.</summary>
    public static IReadOnlyList<FileInfo> ListBackups(string path)
    {
        var full = ResolveTarget(path);
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
            throw new SecretsPSException(ErrorIds.KeepOutOfRange, ErrorKind.InvalidArgument, Messages.BackupKeepOutOfRange);
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
