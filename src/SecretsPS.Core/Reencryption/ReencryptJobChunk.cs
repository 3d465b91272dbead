namespace SecretsPS.Core.Reencryption;

/// <summary>
/// One key range of a job (FORMATS.md §5, the chunk table), as Get-ReencryptJob -Detailed shows it: its bounds and its own
/// cursor (texts of the key as the database writes it), its state, counters and runner. A plain class, its state the
/// lower-case text the table stores, times UTC with their offset, as the other output types.
/// </summary>
public sealed class ReencryptJobChunk
{
    public long JobId { get; init; }
    public int Chunk { get; init; }

    /// <summary>The key the chunk starts after (exclusive); null: from the first row.</summary>
    public string? LowKey { get; init; }

    /// <summary>The last key of the chunk (inclusive); null: to the last row.</summary>
    public string? HighKey { get; init; }

    /// <summary>The chunk's cursor: the key of its last row committed; null: none yet.</summary>
    public string? LastKey { get; init; }

    /// <summary>pending, running or done.</summary>
    public string Status { get; init; } = ChunkStatus.Pending;

    public long Processed { get; init; }
    public long Skipped { get; init; }
    public long Errors { get; init; }

    /// <summary>The worker that holds (running) or last held (done) the chunk.</summary>
    public string? Owner { get; init; }

    /// <summary>The chunk's heartbeat: renewed at every commit of its runner.</summary>
    public DateTimeOffset? UpdatedAt { get; init; }

    public override string ToString() => $"{JobId}/{Chunk} {Status}";
}

/// <summary>A chunk's states, as the chunk table stores them.</summary>
public static class ChunkStatus
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Done = "done";
}
