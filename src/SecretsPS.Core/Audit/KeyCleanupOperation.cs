namespace SecretsPS.Core.Audit;

public enum CleanupOutcome
{
    /// <summary>Versions were removed and the new key file proved it still reads the data.</summary>
    Succeeded,
    /// <summary>No version could be removed; nothing changed.</summary>
    NothingToRemove,
    /// <summary>A check after the write failed; the key file was restored from the backup, byte for byte.</summary>
    RolledBack,
    /// <summary>-WhatIf, or the confirmation was declined: nothing changed.</summary>
    NotConfirmed,
}

public sealed record CleanupStep(DateTimeOffset Time, string Step, string Status, string Message);

public sealed record KeptVersion(string Version, string Reason);

public sealed record CleanupTargetUsage(string Table, string Column, IReadOnlyDictionary<string, long> RowsByVersion);

/// <summary>One Remove-UnusedEncryptionKey operation, as the audit journal keeps it (FORMATS.md §6).</summary>
public sealed record KeyCleanupOperation(
    string OperationId,
    string KeyFile,
    DateTimeOffset StartedAt,
    long DurationMs,
    int Keep,
    CleanupOutcome Outcome,
    IReadOnlyList<string> Candidates,
    IReadOnlyList<string> Removed,
    IReadOnlyList<KeptVersion> Kept,
    string? BackupPath,
    IReadOnlyList<CleanupTargetUsage> Targets,
    IReadOnlyList<CleanupStep> Steps,
    string? Message,
    string? User,
    string? Host)
{
    public int RemovedCount => Removed.Count;
    public int KeptCount => Kept.Count;
    public TimeSpan Duration => TimeSpan.FromMilliseconds(DurationMs);

    /// <summary>-SkipDiscovery: no column beyond the named targets was searched for the versions removed.</summary>
    public bool DiscoverySkipped { get; init; }

    /// <summary>The columns the search for other users of a candidate found (named targets among them).</summary>
    public IReadOnlyList<DiscoveredColumn> Discovered { get; init; } = Array.Empty<DiscoveredColumn>();

    /// <summary>The columns that search could not read (time limit, no right to read): candidates were kept because of them.</summary>
    public IReadOnlyList<string> NotSearched { get; init; } = Array.Empty<string>();
}

/// <summary>A column found holding stored values while a cleanup looked beyond its named targets; Named when it is one of them.</summary>
public sealed record DiscoveredColumn(string Table, string Column, IReadOnlyDictionary<string, long> RowsByVersion, bool Named, bool Sampled)
{
    public string Target => $"{Table}.{Column}";
}
