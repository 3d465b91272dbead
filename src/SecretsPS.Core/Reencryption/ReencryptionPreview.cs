namespace SecretsPS.Core.Reencryption;

/// <summary>What a run would do (-WhatIf): every value read and decrypted, nothing written.</summary>
public sealed record ReencryptionPreview(
    string Table,
    string Column,
    string KeyColumn,
    string TargetVersion,
    long TotalRows,
    long WouldReencrypt,
    long AlreadyAtTarget,
    long Errors,
    IReadOnlyDictionary<string, long> RowsByVersion);
