namespace SecretsPS.Core.Backup;

/// <summary>
/// One backup of a key file, as Backup-EncryptionConfig, Get-EncryptionConfigBackup and Restore-EncryptionConfig -PassThru
/// emit it. Lists are one readable string (a CSV or a JSON log shows them as a person reads them); never key material.
/// </summary>
public sealed class KeyFileBackup
{
    public KeyFileBackup(string fullName, string keyFile, DateTimeOffset created, long size, IReadOnlyList<string>? versions,
        string? activeVersion, bool encrypted, IReadOnlyList<string> recipients)
    {
        FullName = fullName;
        Name = Path.GetFileName(fullName);
        KeyFile = keyFile;
        Created = created.ToUniversalTime();
        Size = size;
        Versions = versions is null ? null : string.Join(", ", versions);
        ActiveVersion = activeVersion;
        Encrypted = encrypted;
        Recipients = string.Join(", ", recipients);
    }

    /// <summary>The backup file's name.</summary>
    public string Name { get; }

    /// <summary>The backup file's full path (binds Restore-EncryptionConfig -BackupPath from the pipeline).</summary>
    public string FullName { get; }

    /// <summary>The key file it is a backup of (or, for Restore -PassThru, the key file it was restored into).</summary>
    public string KeyFile { get; }

    /// <summary>When it was made, UTC (offset +00:00): the time its name carries, else the file's last write.</summary>
    public DateTimeOffset Created { get; }

    /// <summary>Its size on disk, in bytes.</summary>
    public long Size { get; }

    /// <summary>The key versions it holds ("v1, v2"); null when that is unknown (an encrypted backup not opened here).</summary>
    public string? Versions { get; }

    /// <summary>The active version it holds; null when unknown.</summary>
    public string? ActiveVersion { get; }

    /// <summary>Whether it is encrypted to certificates (CMS).</summary>
    public bool Encrypted { get; }

    /// <summary>
    /// Who can open an encrypted backup: the certificates' thumbprints when this command had them, else the recipients
    /// as the file names them (issuer and serial number). Empty for a plain backup.
    /// </summary>
    public string Recipients { get; }
}
