using System.Text.Json;
using System.Text.Json.Serialization;
using SecretsPS.Core.Data;

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

/// <summary>One step of a cleanup as the audit log wrote it; its time is UTC.</summary>
public sealed class CleanupStep
{
    [JsonConstructor]
    public CleanupStep(DateTimeOffset time, string step, string status, string message)
    {
        Time = UtcTime.From(time);
        Step = step;
        Status = status;
        Message = message;
    }

    public DateTimeOffset Time { get; }
    public string Step { get; }
    public string Status { get; }
    public string Message { get; }

    public override string ToString() => $"{Step} {Status}";
}

/// <summary>A version the cleanup kept, and why.</summary>
public sealed class KeptVersion
{
    [JsonConstructor]
    public KeptVersion(string version, string reason)
    {
        Version = version;
        Reason = reason;
    }

    public string Version { get; }
    public string Reason { get; }

    public override string ToString() => $"{Version} ({Reason})";
}

/// <summary>A column the cleanup counted before deciding, with its rows per version.</summary>
public sealed class CleanupTargetUsage
{
    [JsonConstructor]
    public CleanupTargetUsage(string table, string column, IReadOnlyDictionary<string, long> rowsByVersion)
    {
        Table = table;
        Column = column;
        RowsByVersion = VersionCounts.From(rowsByVersion);
    }

    public string Table { get; }
    public string Column { get; }

    /// <summary>Reads as <c>v1=15000, v2=3</c>; the journal writes it as a JSON object.</summary>
    public IReadOnlyDictionary<string, long> RowsByVersion { get; }

    public override string ToString() => Database is null ? $"{Table}.{Column}: {RowsByVersion}" : $"{Database}: {Table}.{Column}: {RowsByVersion}";

    /// <summary>The database it is in (server and database, no secret) when the targets named several; else null.</summary>
    public string? Database { get; init; }
}

/// <summary>
/// One Remove-UnusedEncryptionKey operation, as the audit journal keeps it (FORMATS.md §6). A plain class: its outcome is
/// a name (Succeeded…) for ConvertTo-Json as for the journal, its lists read as text in a CSV cell, its times are UTC.
/// </summary>
public sealed class KeyCleanupOperation
{
    [JsonConstructor]
    public KeyCleanupOperation(string operationId, string keyFile, DateTimeOffset startedAt, long durationMs, int keep, string outcome,
        IReadOnlyList<string>? candidates, IReadOnlyList<string>? removed, IReadOnlyList<KeptVersion>? kept, string? backupPath,
        IReadOnlyList<CleanupTargetUsage>? targets, IReadOnlyList<CleanupStep>? steps, string? message, string? user, string? host)
        : this(operationId, keyFile, startedAt, durationMs, keep,
            Enum.TryParse<CleanupOutcome>(outcome, ignoreCase: true, out var parsed) ? parsed : throw new JsonException($"Unknown outcome '{outcome}'."),
            candidates, removed, kept, backupPath, targets, steps, message, user, host)
    {
    }

    public KeyCleanupOperation(string operationId, string keyFile, DateTimeOffset startedAt, long durationMs, int keep, CleanupOutcome outcome,
        IReadOnlyList<string>? candidates, IReadOnlyList<string>? removed, IReadOnlyList<KeptVersion>? kept, string? backupPath,
        IReadOnlyList<CleanupTargetUsage>? targets, IReadOnlyList<CleanupStep>? steps, string? message, string? user, string? host)
    {
        OperationId = operationId;
        KeyFile = keyFile;
        StartedAt = UtcTime.From(startedAt);
        DurationMs = durationMs;
        Keep = keep;
        OutcomeKind = outcome;
        Candidates = new ReadableList<string>(candidates);
        Removed = new ReadableList<string>(removed);
        Kept = new ReadableList<KeptVersion>(kept, "; ");
        BackupPath = backupPath;
        Targets = new ReadableList<CleanupTargetUsage>(targets, "; ");
        Steps = new ReadableList<CleanupStep>(steps);
        Message = message;
        User = user;
        Host = host;
    }

    public string OperationId { get; }
    public string KeyFile { get; }

    /// <summary>When the operation started, in UTC.</summary>
    public DateTimeOffset StartedAt { get; }

    public long DurationMs { get; }
    public int Keep { get; }

    /// <summary>Succeeded, NothingToRemove, RolledBack or NotConfirmed.</summary>
    public string Outcome => OutcomeKind.ToString();

    [JsonIgnore]
    internal CleanupOutcome OutcomeKind { get; }

    public IReadOnlyList<string> Candidates { get; }
    public IReadOnlyList<string> Removed { get; }
    public IReadOnlyList<KeptVersion> Kept { get; }
    public string? BackupPath { get; }
    public IReadOnlyList<CleanupTargetUsage> Targets { get; }
    public IReadOnlyList<CleanupStep> Steps { get; }
    public string? Message { get; }
    public string? User { get; }
    public string? Host { get; }
    public int RemovedCount => Removed.Count;
    public int KeptCount => Kept.Count;
    public TimeSpan Duration => TimeSpan.FromMilliseconds(DurationMs);

    /// <summary>-SkipDiscovery: no column beyond the named targets was searched for the versions removed.</summary>
    public bool DiscoverySkipped { get; init; }

    /// <summary>The columns the search for other users of a candidate found (named targets among them).</summary>
    public IReadOnlyList<DiscoveredColumn> Discovered
    {
        get => _discovered;
        init => _discovered = new ReadableList<DiscoveredColumn>(value, "; ");
    }

    private readonly IReadOnlyList<DiscoveredColumn> _discovered = new ReadableList<DiscoveredColumn>(null, "; ");

    /// <summary>The columns that search could not read (time limit, no right to read): candidates were kept because of them.</summary>
    public IReadOnlyList<string> NotSearched
    {
        get => _notSearched;
        init => _notSearched = new ReadableList<string>(value);
    }

    private readonly IReadOnlyList<string> _notSearched = new ReadableList<string>(null);

    /// <summary>The databases of the targets that could not be read (the targets named several): candidates were kept because of them.</summary>
    public IReadOnlyList<UnreadDatabase> UnreadDatabases
    {
        get => _unreadDatabases;
        init => _unreadDatabases = new ReadableList<UnreadDatabase>(value, "; ");
    }

    private readonly IReadOnlyList<UnreadDatabase> _unreadDatabases = new ReadableList<UnreadDatabase>(null, "; ");

    public override string ToString() => $"{OperationId} {Outcome}";
}

/// <summary>A column found holding stored values while a cleanup looked beyond its named targets; Named when it is one of them.</summary>
public sealed class DiscoveredColumn
{
    [JsonConstructor]
    public DiscoveredColumn(string table, string column, IReadOnlyDictionary<string, long> rowsByVersion, bool named, bool sampled)
    {
        Table = table;
        Column = column;
        RowsByVersion = VersionCounts.From(rowsByVersion);
        Named = named;
        Sampled = sampled;
    }

    public string Table { get; }
    public string Column { get; }
    public string Target => $"{Table}.{Column}";

    /// <summary>Reads as <c>v1=15000, v2=3</c>; the journal writes it as a JSON object.</summary>
    public IReadOnlyDictionary<string, long> RowsByVersion { get; }

    public bool Named { get; }
    public bool Sampled { get; }

    public override string ToString() => Database is null ? $"{Target}: {RowsByVersion}" : $"{Database}: {Target}: {RowsByVersion}";

    /// <summary>The database it is in (server and database, no secret) when the targets named several; else null.</summary>
    public string? Database { get; init; }
}

/// <summary>A database of a cleanup's targets that could not be read: every candidate was kept because of it.</summary>
public sealed class UnreadDatabase
{
    [JsonConstructor]
    public UnreadDatabase(string database, string errorId)
    {
        Database = database;
        ErrorId = errorId;
    }

    /// <summary>Server and database (SQLite: the file), without user or password.</summary>
    public string Database { get; }

    public string ErrorId { get; }

    public override string ToString() => $"{Database} ({ErrorId})";
}
