using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretsPS.Core.Config;

namespace SecretsPS.Core.Backup;

/// <summary>
/// A key file's backups (FORMATS.md §7), plain or encrypted to certificates, beside the key file or in a destination
/// folder (a share, mounted storage): made, listed newest first, pruned, and read back for a restore. The key file is read
/// under its lock; an encrypted backup is encrypted in memory, so no plaintext copy is written anywhere.
/// </summary>
public static class KeyFileBackups
{
    /// <summary>
    /// Backs <paramref name="keyFile"/> up into <paramref name="destination"/> (an existing folder, or a new file's path in
    /// one; null: beside the key file), encrypted to <paramref name="recipients"/> when there are any. A destination folder
    /// that does not exist is refused, never created: a share that failed to mount must not send the keys to the local disk.
    /// </summary>
    public static KeyFileBackup Create(string keyFile, string? destination, IReadOnlyList<X509Certificate2> recipients, DateTimeOffset? now = null)
    {
        var full = Path.GetFullPath(keyFile);
        var target = KeyFileStore.ResolveTarget(full);
        var (folder, fileName) = Place(target, destination);
        byte[] content;
        using (KeyFileStore.AcquireLock(target, TimeSpan.FromSeconds(30))) content = KeyFileStore.ReadBytes(target);
        try
        {
            var (versions, active) = ReadVersions(content, target);
            var encrypted = recipients.Count > 0;
            var bytes = encrypted ? EncryptedBackup.Encrypt(content, recipients) : content;
            var path = fileName is null
                ? KeyFileStore.CreateBackupIn(target, folder, bytes, encrypted ? BackupName.EncryptedSuffix : "", now)
                : WriteNew(Path.Combine(folder, fileName), bytes, target);
            var created = BackupName.Parse(Path.GetFileName(path))?.Created ?? now ?? DateTimeOffset.UtcNow;
            return new KeyFileBackup(path, full, created, bytes.LongLength, versions, active, encrypted,
                recipients.Select(c => c.Thumbprint).ToList());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(content);
        }
    }

    /// <summary>The backups of <paramref name="keyFile"/> (which need not exist) in <paramref name="folder"/> (null: beside it), newest first.</summary>
    public static IReadOnlyList<KeyFileBackup> List(string keyFile, string? folder = null)
    {
        var full = Path.GetFullPath(keyFile);
        var target = KeyFileStore.ResolveTarget(full);
        var names = KeyFileNames(full, target);
        var directory = new DirectoryInfo(folder ?? Path.GetDirectoryName(target)!);
        if (!directory.Exists)
        {
            if (folder is null) return Array.Empty<KeyFileBackup>();
            throw DestinationNotFound(directory.FullName);
        }
        return directory.EnumerateFiles()
            .Where(f => f.LinkTarget is null)
            .Select(f => (File: f, Name: BackupName.Parse(f.Name)))
            .Where(x => x.Name is not null && names.Any(x.Name.IsOf))
            .OrderByDescending(x => x.Name!.Created)
            .ThenByDescending(x => x.Name!.Sequence)
            .Select(x => Describe(x.File, x.Name!, full))
            .ToList();
    }

    /// <summary>The newest backup of <paramref name="keyFile"/> in <paramref name="folder"/> (null: beside it).</summary>
    public static KeyFileBackup Latest(string keyFile, string? folder = null) =>
        List(keyFile, folder).FirstOrDefault()
        ?? throw new SecretsPSException(ErrorIds.NoBackupFound, ErrorKind.ObjectNotFound,
            Localized.Format(Messages.NoBackupFound, Path.GetFullPath(keyFile), folder ?? Path.GetDirectoryName(KeyFileStore.ResolveTarget(Path.GetFullPath(keyFile)))),
            target: keyFile);

    /// <summary>Deletes all but the newest <paramref name="keep"/> backups (plain and encrypted) in the folder; touches no other file.</summary>
    public static IReadOnlyList<string> Prune(string keyFile, string? folder, int keep)
    {
        if (keep < 1)
            throw new SecretsPSException(ErrorIds.KeepOutOfRange, ErrorKind.InvalidArgument, Messages.BackupKeepOutOfRange);
        var removed = new List<string>();
        foreach (var backup in List(keyFile, folder).Skip(keep))
        {
            File.Delete(backup.FullName);
            removed.Add(backup.FullName);
        }
        return removed;
    }

    /// <summary>
    /// The folder a backup goes to with <paramref name="destination"/>, and the file name when the destination names a
    /// file (null: the FORMATS name).
    /// </summary>
    public static (string Folder, string? FileName) Place(string keyFileTarget, string? destination)
    {
        if (destination is null) return (Path.GetDirectoryName(keyFileTarget)!, null);
        var full = Path.GetFullPath(destination);
        if (Directory.Exists(full)) return (full, null);
        if (destination.EndsWith(Path.DirectorySeparatorChar) || destination.EndsWith(Path.AltDirectorySeparatorChar))
            throw DestinationNotFound(full);
        var parent = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(parent)) throw DestinationNotFound(parent);
        return (parent, Path.GetFileName(full));
    }

    /// <summary>
    /// A backup's content for a restore: decrypted in memory when it is encrypted (with <paramref name="certificates"/>,
    /// else from the certificate stores), then validated exactly as a plain backup is (every version loads, salt hashes,
    /// active version defined). Nothing is written.
    /// </summary>
    public static byte[] ReadForRestore(string backupPath, IReadOnlyList<X509Certificate2>? certificates, out bool encrypted)
    {
        var full = Path.GetFullPath(backupPath);
        var bytes = KeyFileStore.ReadBytes(full);
        encrypted = IsEncrypted(full, bytes);
        var content = encrypted ? EncryptedBackup.Decrypt(bytes, full, certificates) : bytes;
        KeyFileOperations.ValidateBackup(full, content);
        return content;
    }

    /// <summary>
    /// Refuses a backup whose name says it was made of another key file (<c>.env.crypto.production.backup_…</c> into
    /// <c>.env.crypto</c>): another environment's keys would replace this one's. A name that is no backup's name says nothing.
    /// </summary>
    public static void CheckBelongsTo(string backupPath, string keyFile)
    {
        var name = BackupName.Parse(Path.GetFileName(backupPath));
        var full = Path.GetFullPath(keyFile);
        var names = KeyFileNames(full, KeyFileStore.ResolveTarget(full));
        if (name is null || names.Any(name.IsOf)) return;
        throw new SecretsPSException(ErrorIds.BackupForOtherKeyFile, ErrorKind.InvalidOperation,
            Localized.Format(Messages.BackupForOtherKeyFile, Path.GetFullPath(backupPath), name.KeyFileName, full), target: backupPath);
    }

    /// <summary>The versions the key file defines now that <paramref name="content"/> does not: what a restore would lose.</summary>
    public static IReadOnlyList<string> VersionsLost(string keyFile, byte[] content)
    {
        var full = Path.GetFullPath(keyFile);
        if (!File.Exists(full)) return Array.Empty<string>();
        var (kept, _) = ReadVersions(content, full);
        try
        {
            var live = KeySettings.From(KeyFileStore.ReadDocument(full), null).Versions.Select(v => v.Name);
            return live.Except(kept ?? Array.Empty<string>(), StringComparer.Ordinal).ToList();
        }
        catch (SecretsPSException)
        {
            return Array.Empty<string>(); // a live file that does not load has no versions to lose that anything could use
        }
    }

    /// <summary>Replaces (or creates) the key file with a backup's validated content, backing the current file up first.</summary>
    public static RestoreResult Restore(string backupPath, byte[] content, string keyFile)
    {
        var full = Path.GetFullPath(keyFile);
        var edit = KeyFileStore.Edit(full, _ => content, mayCreate: true);
        return new RestoreResult(full, Path.GetFullPath(backupPath), edit.BackupPath);
    }

    /// <summary>The backup as an object: what its name, size and (for a plain backup) content say.</summary>
    public static KeyFileBackup Describe(string backupPath, string keyFile)
    {
        var file = new FileInfo(Path.GetFullPath(backupPath));
        return Describe(file, BackupName.Parse(file.Name), Path.GetFullPath(keyFile));
    }

    /// <summary>The backup as an object, its versions read from <paramref name="content"/> (an encrypted backup's, once opened).</summary>
    public static KeyFileBackup Describe(string backupPath, string keyFile, byte[] content)
    {
        var listed = Describe(backupPath, keyFile);
        var (versions, active) = ReadVersions(content, listed.FullName);
        return new KeyFileBackup(listed.FullName, listed.KeyFile, listed.Created, listed.Size, versions, active, listed.Encrypted,
            listed.Recipients.Length == 0 ? Array.Empty<string>() : listed.Recipients.Split(", "));
    }

    private static KeyFileBackup Describe(FileInfo file, BackupName? name, string keyFile)
    {
        var created = name?.Created ?? new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero);
        byte[] bytes;
        try
        {
            bytes = KeyFileStore.ReadBytes(file.FullName);
        }
        catch (SecretsPSException)
        {
            return new KeyFileBackup(file.FullName, keyFile, created, file.Exists ? file.Length : 0, null, null, name?.Encrypted ?? false, Array.Empty<string>());
        }
        try
        {
            if (IsEncrypted(file.FullName, bytes))
            {
                IReadOnlyList<string> recipients;
                try { recipients = EncryptedBackup.ReadRecipients(bytes, file.FullName); }
                catch (SecretsPSException) { recipients = Array.Empty<string>(); }
                return new KeyFileBackup(file.FullName, keyFile, created, bytes.LongLength, null, null, true, recipients);
            }
            var (versions, active) = ReadVersions(bytes, file.FullName);
            return new KeyFileBackup(file.FullName, keyFile, created, bytes.LongLength, versions, active, false, Array.Empty<string>());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    private static bool IsEncrypted(string path, byte[] bytes) =>
        CmsArmor.IsArmored(bytes) || path.EndsWith(BackupName.EncryptedSuffix, StringComparison.OrdinalIgnoreCase);

    private static (IReadOnlyList<string>? Versions, string? Active) ReadVersions(byte[] content, string path)
    {
        try
        {
            var settings = KeySettings.From(KeyFileStore.ParseBytes(content, path), null);
            return (settings.Versions.Select(v => v.Name).ToList(), settings.ActiveVersion);
        }
        catch (SecretsPSException)
        {
            return (null, null);
        }
    }

    /// <summary>A link's backups carry its final target's name (KeyFileStore.CreateBackup); the link's own name counts too.</summary>
    private static string[] KeyFileNames(string full, string target) =>
        new[] { Path.GetFileName(full), Path.GetFileName(target) }.Distinct().ToArray();

    private static string WriteNew(string path, byte[] bytes, string keyFileTarget)
    {
        FileStream stream;
        try
        {
            stream = OwnerOnlyFile.CreateNew(path);
        }
        catch (IOException e) when (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new SecretsPSException(ErrorIds.BackupDestinationExists, ErrorKind.ResourceExists,
                Localized.Format(Messages.BackupDestinationExists, path), e, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(keyFileTarget, e);
        }
        try
        {
            using (stream)
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            KeyFileStore.TryDelete(path); // a partial backup looks like one and is not
            throw Failed(keyFileTarget, e);
        }
    }

    private static KeyFileException Failed(string keyFileTarget, Exception e) =>
        new(ErrorIds.BackupFailed, ErrorKind.WriteError, Localized.Format(Messages.BackupFailed, keyFileTarget, e.Message), keyFileTarget, e);

    private static SecretsPSException DestinationNotFound(string folder) =>
        new(ErrorIds.BackupDestinationNotFound, ErrorKind.ObjectNotFound, Localized.Format(Messages.BackupDestinationNotFound, folder), target: folder);
}
