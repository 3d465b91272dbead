using SecretsPS.Core.Data;

namespace SecretsPS.Core.Discovery;

/// <summary>What <see cref="EncryptedColumnFinder"/> searches and how far: filters, a sample or a full count, a time limit.</summary>
public sealed record EncryptedColumnSearch
{
    /// <summary>Only this schema (SQLite: an attached database); null for every schema.</summary>
    public string? Schema { get; init; }

    /// <summary>Only this table ("table" or "schema.table", as -Table takes it); null for every table.</summary>
    public string? Table { get; init; }

    /// <summary>Read at most this many non-NULL values of each column (a quick look at a huge database); null counts every row.</summary>
    public int? SampleRows { get; init; }

    /// <summary>The search stops when this has passed; the columns it did not reach are listed as not searched.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>
    /// Tables never searched, in any schema: the job tables (their cursors and reasons are no stored values, and reading
    /// them would take locks a running job needs).
    /// </summary>
    public IReadOnlyCollection<string> SkipTables { get; init; } = new[] { Reencryption.JobStore.DefaultTable, "reencrypt_job_errors", "reencrypt_job_chunks" };

    /// <summary>Called before each column is read.</summary>
    public Action<EncryptedColumnSearchProgress>? Progress { get; init; }
}

/// <summary>Where a search is: <see cref="Searched"/> of <see cref="Total"/> columns done, <see cref="Current"/> being read.</summary>
public readonly record struct EncryptedColumnSearchProgress(int Searched, int Total, string Current);
