using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>What a run would do (-WhatIf): every value read and decrypted, nothing written.</summary>
public sealed class ReencryptionPreview
{
    public ReencryptionPreview(string table, string column, string keyColumn, string targetVersion, long totalRows, long wouldReencrypt,
        long alreadyAtTarget, long errors, IReadOnlyDictionary<string, long> rowsByVersion)
    {
        Table = table;
        Column = column;
        KeyColumn = keyColumn;
        TargetVersion = targetVersion;
        TotalRows = totalRows;
        WouldReencrypt = wouldReencrypt;
        AlreadyAtTarget = alreadyAtTarget;
        Errors = errors;
        RowsByVersion = VersionCounts.From(rowsByVersion);
    }

    public string Table { get; }
    public string Column { get; }
    public string Target => $"{Table}.{Column}";
    public string KeyColumn { get; }
    public string TargetVersion { get; }
    public long TotalRows { get; }
    public long WouldReencrypt { get; }
    public long AlreadyAtTarget { get; }
    public long Errors { get; }

    /// <summary>Rows per version prefix as read; reads as <c>v1=15000, v2=3</c>.</summary>
    public VersionCounts RowsByVersion { get; }

    public override string ToString() => $"{Target}: {RowsByVersion}";
}
