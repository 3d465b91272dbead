using System.Data.Common;
using System.Globalization;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// The chunk table of the job tables (FORMATS.md §5): a job's key ranges, each with its own cursor, counters, state,
/// owner and heartbeat. Every change of a chunk a runner holds is guarded by its owner: a runner whose chunk was taken
/// over (its heartbeat looked stale) changes nothing and learns it lost the chunk.
/// </summary>
internal sealed class ChunkStore
{
    private const string Columns = "job_id, chunk, low_key, high_key, last_key, status, processed, skipped, errors, owner, updated_at";

    private readonly ISqlDialect _dialect;
    private readonly TableName _jobs;

    public ChunkStore(ISqlDialect dialect, TableName jobs, TableName chunks)
    {
        _dialect = dialect;
        _jobs = jobs;
        Table = chunks;
    }

    public TableName Table { get; }

    /// <summary>A new job's chunks from its boundaries: chunk i is (boundary i−1, boundary i], the first from the first row, the last to the last.</summary>
    public void Insert(DbConnection connection, DbTransaction transaction, long jobId, IReadOnlyList<string> boundaries, DateTime now)
    {
        for (int i = 0; i <= boundaries.Count; i++)
            InsertOne(connection, transaction, jobId, i, i == 0 ? null : boundaries[i - 1], i == boundaries.Count ? null : boundaries[i], null, 0, 0, 0, now);
    }

    /// <summary>A job of an older version (no chunk rows) as one chunk from its cursor, with its counters: nothing of it lost.</summary>
    public void InsertWhole(DbConnection connection, DbTransaction transaction, ReencryptJob job, DateTime now) =>
        InsertOne(connection, transaction, job.Id, 0, null, null, job.LastKey, job.Processed, job.Skipped, job.Errors, now);

    private void InsertOne(DbConnection connection, DbTransaction transaction, long jobId, int chunk, string? low, string? high, string? last,
        long processed, long skipped, long errors, DateTime now)
    {
        using var command = Command(connection, transaction,
            $"INSERT INTO {_dialect.QuoteTable(Table)} (job_id, chunk, low_key, high_key, last_key, status, processed, skipped, errors, owner, updated_at) " +
            "VALUES (@job_id, @chunk, @low_key, @high_key, @last_key, @status, @processed, @skipped, @errors, NULL, @updated_at)");
        Add(command, "@job_id", jobId);
        Add(command, "@chunk", chunk);
        Add(command, "@low_key", low);
        Add(command, "@high_key", high);
        Add(command, "@last_key", last);
        Add(command, "@status", ChunkStatus.Pending);
        Add(command, "@processed", processed);
        Add(command, "@skipped", skipped);
        Add(command, "@errors", errors);
        Add(command, "@updated_at", now);
        command.ExecuteNonQuery();
    }

    /// <summary>Every chunk of a job, in key order (plain reads: nothing locked).</summary>
    public IReadOnlyList<ReencryptJobChunk> All(DbConnection connection, DbTransaction? transaction, long jobId)
    {
        using var command = Command(connection, transaction, $"SELECT {Columns} FROM {_dialect.QuoteTable(Table)} WHERE job_id = @job ORDER BY chunk");
        Add(command, "@job", jobId);
        return Read(command);
    }

    /// <summary>The chunks not done, each locked until the claim commits; chunks another transaction holds are skipped.</summary>
    public IReadOnlyList<ReencryptJobChunk> Candidates(DbConnection connection, DbTransaction transaction, long jobId)
    {
        using var command = Command(connection, transaction,
            _dialect.SelectForClaim(Table, Columns, "job_id = @job AND status <> 'done'", "chunk", _dialect.SkipsLockedRows(connection)));
        Add(command, "@job", jobId);
        return Read(command);
    }

    public ReencryptJobChunk? Get(DbConnection connection, DbTransaction? transaction, long jobId, int chunk)
    {
        using var command = Command(connection, transaction, $"SELECT {Columns} FROM {_dialect.QuoteTable(Table)} WHERE job_id = @job AND chunk = @chunk");
        Add(command, "@job", jobId);
        Add(command, "@chunk", chunk);
        return Read(command).FirstOrDefault();
    }

    public void Claim(DbConnection connection, DbTransaction transaction, long jobId, int chunk, string owner, DateTime now)
    {
        using var command = Command(connection, transaction,
            $"UPDATE {_dialect.QuoteTable(Table)} SET status = @status, owner = @owner, updated_at = @now WHERE job_id = @job AND chunk = @chunk");
        Add(command, "@status", ChunkStatus.Running);
        Add(command, "@owner", owner);
        Add(command, "@now", now);
        Add(command, "@job", jobId);
        Add(command, "@chunk", chunk);
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// A batch's bookkeeping, in the transaction of its rows, always the chunk row first and then the job row (so two runners
    /// never wait on each other in opposite orders): the chunk's cursor and counters, guarded by its owner, then the chunk's
    /// deltas added to the job's counters and the job's heartbeat. False, with nothing written, when the chunk is no longer
    /// this owner's: the caller rolls back. The job row's last_key becomes the chunk's cursor: the job's resume cursor for a
    /// job of one chunk (or one runner, which works the chunks in key order), the last cursor committed otherwise.
    /// </summary>
    public bool CommitBatch(DbConnection connection, DbTransaction transaction, long jobId, int chunk, string owner, string? lastKey,
        long processed, long skipped, long errors, (long Processed, long Skipped, long Errors) delta, string newStatus, DateTime now)
    {
        using (var command = Command(connection, transaction,
                   $"UPDATE {_dialect.QuoteTable(Table)} SET last_key = @last_key, processed = @processed, skipped = @skipped, errors = @errors, " +
                   "status = @status, owner = @new_owner, updated_at = @now WHERE job_id = @job AND chunk = @chunk AND owner = @owner AND status = @running"))
        {
            Add(command, "@last_key", lastKey);
            Add(command, "@processed", processed);
            Add(command, "@skipped", skipped);
            Add(command, "@errors", errors);
            Add(command, "@status", newStatus);
            Add(command, "@new_owner", newStatus == ChunkStatus.Pending ? null : owner);
            Add(command, "@now", now);
            Add(command, "@job", jobId);
            Add(command, "@chunk", chunk);
            Add(command, "@owner", owner);
            Add(command, "@running", ChunkStatus.Running);
            if (command.ExecuteNonQuery() != 1) return false;
        }
        using (var command = Command(connection, transaction,
                   $"UPDATE {_dialect.QuoteTable(_jobs)} SET processed = processed + @dp, skipped = skipped + @ds, errors = errors + @de, " +
                   "updated_at = @now, owner = @owner, last_key = @last_key WHERE id = @job"))
        {
            Add(command, "@dp", delta.Processed);
            Add(command, "@ds", delta.Skipped);
            Add(command, "@de", delta.Errors);
            Add(command, "@now", now);
            Add(command, "@owner", owner);
            Add(command, "@last_key", lastKey);
            Add(command, "@job", jobId);
            command.ExecuteNonQuery();
        }
        return true;
    }

    /// <summary>Marks the owner's chunk done (its last batch is committed); false when it is no longer this owner's.</summary>
    public bool MarkDone(DbConnection connection, DbTransaction transaction, long jobId, int chunk, string owner, DateTime now) =>
        Leave(connection, transaction, jobId, chunk, owner, now, ChunkStatus.Done, "");

    /// <summary>Gives the owner's chunk back (pending, at its committed cursor), as a pause or a failed runner does.</summary>
    public bool Release(DbConnection connection, DbTransaction transaction, long jobId, int chunk, string owner, DateTime now) =>
        Leave(connection, transaction, jobId, chunk, owner, now, ChunkStatus.Pending, ", owner = NULL");

    /// <summary>The owner's running chunk leaves its hands (done, or back to pending); false when it is no longer this owner's.</summary>
    private bool Leave(DbConnection connection, DbTransaction transaction, long jobId, int chunk, string owner, DateTime now, string status, string ownerChange)
    {
        using var command = Command(connection, transaction,
            $"UPDATE {_dialect.QuoteTable(Table)} SET status = @status{ownerChange}, updated_at = @now WHERE job_id = @job AND chunk = @chunk AND owner = @owner AND status = @running");
        Add(command, "@status", status);
        Add(command, "@now", now);
        Add(command, "@job", jobId);
        Add(command, "@chunk", chunk);
        Add(command, "@owner", owner);
        Add(command, "@running", ChunkStatus.Running);
        return command.ExecuteNonQuery() == 1;
    }

    public int Delete(DbConnection connection, DbTransaction transaction, long jobId)
    {
        using var command = Command(connection, transaction, $"DELETE FROM {_dialect.QuoteTable(Table)} WHERE job_id = @job");
        Add(command, "@job", jobId);
        return command.ExecuteNonQuery();
    }

    /// <summary>The job row's state and counters as committed (with the caller's own batch, inside its transaction).</summary>
    public (JobStatus Status, long TotalRows, long Processed, long Skipped, long Errors) JobCounters(DbConnection connection, DbTransaction transaction, long jobId)
    {
        using var command = Command(connection, transaction, $"SELECT status, total_rows, processed, skipped, errors FROM {_dialect.QuoteTable(_jobs)} WHERE id = @job");
        Add(command, "@job", jobId);
        using var reader = command.ExecuteReader();
        if (!reader.Read()) return (JobStatus.Failed, 0, 0, 0, 0);
        return (JobStatusText.Parse(reader.GetString(0)), Long(reader, 1), Long(reader, 2), Long(reader, 3), Long(reader, 4));
    }

    private static List<ReencryptJobChunk> Read(DbCommand command)
    {
        var list = new List<ReencryptJobChunk>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            list.Add(new ReencryptJobChunk
            {
                JobId = Long(reader, 0),
                Chunk = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture),
                LowKey = reader.IsDBNull(2) ? null : reader.GetString(2),
                HighKey = reader.IsDBNull(3) ? null : reader.GetString(3),
                LastKey = reader.IsDBNull(4) ? null : reader.GetString(4),
                Status = reader.GetString(5),
                Processed = Long(reader, 6),
                Skipped = Long(reader, 7),
                Errors = Long(reader, 8),
                Owner = reader.IsDBNull(9) ? null : reader.GetString(9),
                UpdatedAt = reader.IsDBNull(10) ? null : UtcTime.From(Utc(reader.GetDateTime(10))),
            });
        }
        return list;
    }

    private static long Long(DbDataReader reader, int ordinal) => Convert.ToInt64(reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    private static DateTime Utc(DateTime t) => t.Kind == DateTimeKind.Utc ? t : DateTime.SpecifyKind(t, DateTimeKind.Utc);

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static DbParameter Add(DbCommand command, string name, object? value) => SqlDialect.AddParameter(command, name, value);
}
