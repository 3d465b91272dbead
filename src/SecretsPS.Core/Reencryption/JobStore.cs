using System.Data.Common;
using System.Globalization;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// The job tables in the database being re-encrypted (FORMATS.md §5). They never hold a value or a key:
/// counters, the cursor (a row key), states and reasons.
/// </summary>
public sealed class JobStore
{
    public const string DefaultTable = "reencrypt_jobs";

    private const string Columns =
        "id, table_name, column_name, key_column, target_version, status, total_rows, processed, skipped, errors, last_key, " +
        "batch_size, commit_every, created_at, started_at, updated_at, finished_at, owner, message";

    private readonly ISqlDialect _dialect;

    public JobStore(ISqlDialect dialect, string jobTable = DefaultTable)
    {
        _dialect = dialect;
        Jobs = Identifier.ParseTable(jobTable);
        // reencrypt_jobs → reencrypt_job_errors (the documented name); any other name gets _errors appended.
        var errorsName = Jobs.Name.EndsWith("jobs", StringComparison.Ordinal) ? Jobs.Name[..^4] + "job_errors" : Jobs.Name + "_errors";
        Errors = Jobs with { Name = errorsName };
        // The chunk table is named as the errors table is: reencrypt_jobs → reencrypt_job_chunks, otherwise _chunks appended.
        var chunksName = Jobs.Name.EndsWith("jobs", StringComparison.Ordinal) ? Jobs.Name[..^4] + "job_chunks" : Jobs.Name + "_chunks";
        ChunksTable = Jobs with { Name = chunksName };
        // Every statement is built (and every name checked) before the first one runs: nothing half created.
        _createStatements = _dialect.CreateJobTables(Jobs, Errors).ToList();
        _createChunks = _dialect.CreateChunkTable(ChunksTable);
        Chunks = new ChunkStore(_dialect, Jobs, ChunksTable);
    }

    public TableName Jobs { get; }
    public TableName Errors { get; }

    /// <summary>The chunk table: a job's key ranges with their cursors, counters and runners.</summary>
    public TableName ChunksTable { get; }

    internal ChunkStore Chunks { get; }

    private readonly string _createChunks;

    private readonly List<string> _createStatements;

    public void EnsureTables(DbConnection connection)
    {
        // Tables that exist are left as they are, without a statement: CREATE … IF NOT EXISTS still needs the right to
        // create in the schema (PostgreSQL checks it first), which a runner with data rights only does not have.
        bool Exists(TableName table) => TableExists(connection, table);
        if (Exists(Jobs) && Exists(Errors))
        {
            // The tables of an older version, or of a runner that is creating all three right now: only the chunk table is
            // added, and an account that may not create it is told which table is missing and what to run, rather than which
            // right it lacks.
            for (int attempt = 1; ; attempt++)
            {
                if (Exists(ChunksTable)) return;
                try
                {
                    Execute(connection, null, _createChunks);
                    return;
                }
                catch (DbException) when (Exists(ChunksTable))
                {
                    return; // another runner created it meanwhile
                }
                catch (DbException e) when (attempt < 3 && !_dialect.IsConnectionFailure(e))
                {
                    // Runners started at once: PostgreSQL's IF NOT EXISTS can fail on the catalog's unique index while the
                    // other runner's CREATE has not committed yet. Once it has, the table is there.
                    Thread.Sleep(250 * attempt);
                }
                catch (DbException e) when (!_dialect.IsConnectionFailure(e))
                {
                    throw new SecretsPSException(ErrorIds.JobChunkTableMissing, ErrorKind.InvalidOperation,
                        Localized.Format(Messages.JobChunkTableMissing, Jobs, ChunksTable, e.GetType().Name, _createChunks),
                        e, ChunksTable.ToString());
                }
            }
        }
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                foreach (var sql in _createStatements) Execute(connection, null, sql);
                Execute(connection, null, _createChunks);
                return;
            }
            catch (DbException) when (attempt < 3 && !Exists(ChunksTable))
            {
                // Runners started at once on a new database: PostgreSQL's IF NOT EXISTS can still fail on the catalog's unique
                // index when two create the same table at the same moment. Once the other one is done, every statement passes.
                Thread.Sleep(250 * attempt);
            }
            catch (DbException) when (Exists(Jobs) && Exists(Errors) && Exists(ChunksTable))
            {
                return; // another runner created them meanwhile
            }
            catch (DbException e) when (!_dialect.IsConnectionFailure(e))
            {
                throw new SecretsPSException(ErrorIds.JobTableInvalid, ErrorKind.InvalidOperation,
                    Localized.Format(Messages.JobTableInvalid, Jobs, Errors, e.GetType().Name),
                    e, Jobs.ToString());
            }
        }
    }

    public bool TablesExist(DbConnection connection) => TableExists(connection, Jobs);

    /// <summary>False for the job tables of an older version, which have no chunk table yet.</summary>
    public bool ChunkTableExists(DbConnection connection) => TableExists(connection, ChunksTable);

    /// <summary>Outside a transaction only: on PostgreSQL the probe's error would end one.</summary>
    private bool TableExists(DbConnection connection, TableName table)
    {
        try
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT COUNT(*) FROM {_dialect.QuoteTable(table)} WHERE 1 = 0";
            command.ExecuteScalar();
            return true;
        }
        catch (DbException)
        {
            return false;
        }
    }

    public long Insert(DbConnection connection, DbTransaction transaction, ReencryptJob job)
    {
        var columns = new[]
        {
            "table_name", "column_name", "key_column", "target_version", "status", "total_rows", "processed", "skipped", "errors",
            "last_key", "batch_size", "commit_every", "created_at", "started_at", "updated_at", "owner", "message",
        };
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _dialect.InsertReturningId(Jobs, columns);
        Add(command, "@table_name", job.Table);
        Add(command, "@column_name", job.Column);
        Add(command, "@key_column", job.KeyColumn);
        Add(command, "@target_version", job.TargetVersion);
        Add(command, "@status", job.StatusKind.ToText());
        Add(command, "@total_rows", job.TotalRows);
        Add(command, "@processed", job.Processed);
        Add(command, "@skipped", job.Skipped);
        Add(command, "@errors", job.Errors);
        Add(command, "@last_key", job.LastKey);
        Add(command, "@batch_size", job.BatchSize);
        Add(command, "@commit_every", job.CommitEvery);
        Add(command, "@created_at", job.CreatedAt.UtcDateTime);
        Add(command, "@started_at", job.StartedAt?.UtcDateTime);
        Add(command, "@updated_at", job.UpdatedAt?.UtcDateTime);
        Add(command, "@owner", job.Owner);
        Add(command, "@message", job.Message);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public void AddErrors(DbConnection connection, DbTransaction transaction, long jobId, IReadOnlyList<(string RowKey, string Reason)> errors, DateTime now)
    {
        if (errors.Count == 0) return;
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"INSERT INTO {_dialect.QuoteTable(Errors)} (job_id, row_key, reason, created_at) VALUES (@job_id, @row_key, @reason, @created_at)";
        Add(command, "@job_id", jobId);
        var key = Add(command, "@row_key", "");
        var reason = Add(command, "@reason", "");
        Add(command, "@created_at", now);
        foreach (var (rowKey, why) in errors)
        {
            key.Value = rowKey;
            reason.Value = why;
            command.ExecuteNonQuery();
        }
    }

    public ReencryptJob? Get(DbConnection connection, DbTransaction? transaction, long id) =>
        Query(connection, transaction, "id = @id", "id DESC", 1, c => Add(c, "@id", id)).FirstOrDefault();

    /// <summary>Jobs of one target, newest first.</summary>
    public IReadOnlyList<ReencryptJob> ForTarget(DbConnection connection, DbTransaction? transaction, string table, string column, int limit = 100) =>
        Query(connection, transaction, "table_name = @t AND column_name = @c", "id DESC", limit, c =>
        {
            Add(c, "@t", table);
            Add(c, "@c", column);
        });

    public IReadOnlyList<ReencryptJob> List(DbConnection connection, long? id, IReadOnlyCollection<JobStatus>? statuses, string? table, int first)
    {
        var where = new List<string>();
        var binders = new List<Action<DbCommand>>();
        if (id is { } i)
        {
            where.Add("id = @id");
            binders.Add(c => Add(c, "@id", i));
        }
        if (statuses is { Count: > 0 })
        {
            var names = statuses.Select((s, n) => (Name: "@s" + n, Value: s.ToText())).ToList();
            where.Add($"status IN ({string.Join(", ", names.Select(n => n.Name))})");
            binders.Add(c => { foreach (var n in names) Add(c, n.Name, n.Value); });
        }
        if (table is not null)
        {
            where.Add("table_name = @t");
            binders.Add(c => Add(c, "@t", table));
        }
        return Query(connection, null, string.Join(" AND ", where), "id DESC", first, c => { foreach (var b in binders) b(c); });
    }

    public int Delete(DbConnection connection, long id)
    {
        var hasChunks = ChunkTableExists(connection);
        using var transaction = _dialect.BeginWrite(connection);
        if (hasChunks) Chunks.Delete(connection, transaction, id);
        Execute(connection, transaction, $"DELETE FROM {_dialect.QuoteTable(Errors)} WHERE job_id = @id", c => Add(c, "@id", id));
        var n = Execute(connection, transaction, $"DELETE FROM {_dialect.QuoteTable(Jobs)} WHERE id = @id", c => Add(c, "@id", id));
        transaction.Commit();
        return n;
    }

    public IReadOnlyList<(string RowKey, string Reason)> ErrorsOf(DbConnection connection, long jobId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT row_key, reason FROM {_dialect.QuoteTable(Errors)} WHERE job_id = @id ORDER BY created_at";
        Add(command, "@id", jobId);
        var list = new List<(string, string)>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add((reader.IsDBNull(0) ? "" : reader.GetString(0), reader.GetString(1)));
        return list;
    }

    /// <summary>A job's error rows in the order they were written, at most <paramref name="first"/>, reasons in the user's language.</summary>
    public IReadOnlyList<ReencryptJobError> ReadErrors(DbConnection connection, ReencryptJob job, int first)
    {
        using var command = connection.CreateCommand();
        command.CommandText = _dialect.SelectTop(Errors, "row_key, reason, created_at", "job_id = @id", "created_at, row_key");
        Add(command, "@id", job.Id);
        Add(command, "@limit", first);
        var list = new List<ReencryptJobError>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var (errorId, reason) = StoredText.DisplayRowError(reader.IsDBNull(1) ? "" : reader.GetString(1));
            list.Add(new ReencryptJobError
            {
                JobId = job.Id,
                Target = job.Target,
                RowKey = reader.IsDBNull(0) ? "" : reader.GetString(0),
                ErrorId = errorId,
                Reason = reason,
                CreatedAt = new DateTimeOffset(Utc(reader.GetDateTime(2))),
            });
        }
        return list;
    }

    private List<ReencryptJob> Query(DbConnection connection, DbTransaction? transaction, string where, string orderBy, int limit, Action<DbCommand> bind)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _dialect.SelectTop(Jobs, Columns, where, orderBy);
        bind(command);
        Add(command, "@limit", limit);
        var list = new List<ReencryptJob>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            list.Add(new ReencryptJob(
                Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture),
                reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                JobStatusText.Parse(reader.GetString(5)),
                Convert.ToInt64(reader.GetValue(6), CultureInfo.InvariantCulture),
                Convert.ToInt64(reader.GetValue(7), CultureInfo.InvariantCulture),
                Convert.ToInt64(reader.GetValue(8), CultureInfo.InvariantCulture),
                Convert.ToInt64(reader.GetValue(9), CultureInfo.InvariantCulture),
                reader.IsDBNull(10) ? null : reader.GetString(10),
                Convert.ToInt32(reader.GetValue(11), CultureInfo.InvariantCulture),
                Convert.ToInt32(reader.GetValue(12), CultureInfo.InvariantCulture),
                Utc(reader.GetDateTime(13)),
                reader.IsDBNull(14) ? null : Utc(reader.GetDateTime(14)),
                reader.IsDBNull(15) ? null : Utc(reader.GetDateTime(15)),
                reader.IsDBNull(16) ? null : Utc(reader.GetDateTime(16)),
                reader.IsDBNull(17) ? null : reader.GetString(17),
                reader.IsDBNull(18) ? null : reader.GetString(18)));
        }
        return list;
    }

    /// <summary>
    /// Writes the job's state (status, times, owner, message, settings) and never its counters or cursor: with several
    /// runners, those are only ever added to, each in the transaction of the rows they count.
    /// </summary>
    public void SaveState(DbConnection connection, DbTransaction transaction, ReencryptJob job)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            $"UPDATE {_dialect.QuoteTable(Jobs)} SET status = @status, batch_size = @batch_size, commit_every = @commit_every, started_at = @started_at, " +
            "updated_at = @updated_at, finished_at = @finished_at, owner = @owner, message = @message WHERE id = @id";
        Add(command, "@status", job.StatusKind.ToText());
        Add(command, "@batch_size", job.BatchSize);
        Add(command, "@commit_every", job.CommitEvery);
        Add(command, "@started_at", job.StartedAt?.UtcDateTime);
        Add(command, "@updated_at", job.UpdatedAt?.UtcDateTime);
        Add(command, "@finished_at", job.FinishedAt?.UtcDateTime);
        Add(command, "@owner", job.Owner);
        Add(command, "@message", job.Message);
        Add(command, "@id", job.Id);
        command.ExecuteNonQuery();
    }

    /// <summary>The job's heartbeat and owner, renewed by a runner that holds no chunk (the one counting the column at the end).</summary>
    /// <remarks>Only a running job's: a late beat after the job ended changes nothing.</remarks>
    public void Beat(DbConnection connection, DbTransaction transaction, long id, string owner, DateTime now) =>
        Execute(connection, transaction, $"UPDATE {_dialect.QuoteTable(Jobs)} SET updated_at = @now, owner = @owner WHERE id = @id AND status = @running", c =>
        {
            Add(c, "@now", now);
            Add(c, "@owner", owner);
            Add(c, "@id", id);
            Add(c, "@running", JobStatus.Running.ToText());
        });

    private static DateTime Utc(DateTime t) => t.Kind == DateTimeKind.Utc ? t : DateTime.SpecifyKind(t, DateTimeKind.Utc);

    private static int Execute(DbConnection connection, DbTransaction? transaction, string sql, Action<DbCommand>? bind = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        bind?.Invoke(command);
        return command.ExecuteNonQuery();
    }

    private static DbParameter Add(DbCommand command, string name, object? value) => SqlDialect.AddParameter(command, name, value);
}
