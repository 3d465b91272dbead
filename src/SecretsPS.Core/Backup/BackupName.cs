using System.Globalization;
using System.Text.RegularExpressions;

namespace SecretsPS.Core.Backup;

/// <summary>
/// What a backup's file name says (FORMATS.md §7): <c>&lt;key file name&gt;.backup_yyyyMMdd_HHmmss[_n][.cms]</c> — the
/// key file it was made of, when (UTC), its place among backups of the same second, and whether it is encrypted.
/// </summary>
public sealed class BackupName
{
    /// <summary>An encrypted backup's name ends with this (CMS, PEM-armoured as Protect-CmsMessage writes it).</summary>
    public const string EncryptedSuffix = ".cms";

    private static readonly Regex Pattern = new(@"^(?<key>.+)\.backup_(?<stamp>\d{8}_\d{6})(?:_(?<n>\d{1,9}))?(?<cms>\.cms)?$",
        RegexOptions.CultureInvariant);

    private BackupName(string keyFileName, DateTimeOffset created, int sequence, bool encrypted)
    {
        KeyFileName = keyFileName;
        Created = created;
        Sequence = sequence;
        Encrypted = encrypted;
    }

    /// <summary>The name of the key file the backup was made of (<c>.env.crypto.production</c>).</summary>
    public string KeyFileName { get; }

    public DateTimeOffset Created { get; }

    /// <summary>1 for the first backup of its second, then 2, 3…</summary>
    public int Sequence { get; }

    public bool Encrypted { get; }

    /// <summary>The name's parts, or null when it is not a backup's name (a stamp that is no valid time is not one).</summary>
    public static BackupName? Parse(string fileName)
    {
        var m = Pattern.Match(fileName);
        if (!m.Success) return null;
        if (!DateTime.TryParseExact(m.Groups["stamp"].Value, "yyyyMMdd_HHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var stamp))
            return null;
        var sequence = m.Groups["n"].Success ? int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture) : 1;
        return new BackupName(m.Groups["key"].Value, new DateTimeOffset(stamp, TimeSpan.Zero), sequence, m.Groups["cms"].Success);
    }

    /// <summary>Whether this names a backup of a key file called <paramref name="keyFileName"/>.</summary>
    public bool IsOf(string keyFileName) =>
        string.Equals(KeyFileName, keyFileName, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
}
