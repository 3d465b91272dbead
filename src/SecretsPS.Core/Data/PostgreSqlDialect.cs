using System.Data.Common;
using Npgsql;

namespace SecretsPS.Core.Data;

/// <summary>PostgreSQL through Npgsql: the batch update is one statement over arrays.</summary>
public sealed class PostgreSqlDialect : SqlDialect
{
    public override DatabaseProvider Provider => DatabaseProvider.PostgreSql;

    public override DbConnection CreateConnection(string connectionString, string? userName, string? password, bool readOnly)
    {
        var builder = Builder(connectionString);
        if (userName is not null) builder.Username = userName;
        if (password is not null) builder.Password = password;
        // -WhatIf runs in read-only transactions: the server itself refuses any write.
        if (readOnly) builder.Options = (builder.Options is { Length: > 0 } o ? o + " " : "") + "-c default_transaction_read_only=on";
        builder.ApplicationName ??= "SecretsPS";
        return new NpgsqlConnection(builder.ToString());
    }

    private static NpgsqlConnectionStringBuilder Builder(string connectionString)
    {
        try { return new NpgsqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException)
        {
            // The inner message can quote the string, password included: never pass it on.
            throw new SecretsPSException("ConnectionStringInvalid", ErrorKind.InvalidArgument,
                Messages.PostgreSqlConnectionStringInvalid);
        }
    }

    /// <summary>PostgreSQL cuts identifiers to 63 bytes (NAMEDATALEN - 1) without an error.</summary>
    public const int MaxIdentifierBytes = 63;

    protected override string CheckLength(string identifier) =>
        System.Text.Encoding.UTF8.GetByteCount(identifier) <= MaxIdentifierBytes
            ? identifier
            : throw new SecretsPSException("IdentifierInvalid", ErrorKind.InvalidArgument,
                Localized.Format(Messages.PostgreSqlIdentifierTooLong, MessageText.Shorten(identifier, 60), MaxIdentifierBytes));

    public override string Describe(string connectionString)
    {
        try
        {
            var b = new NpgsqlConnectionStringBuilder(connectionString);
            return $"PostgreSQL {b.Host}:{b.Port}/{b.Database}";
        }
        catch (ArgumentException) { return "PostgreSQL (connection string not valid)"; }
    }

    protected override string Position(string quotedColumn) => $"strpos({quotedColumn}, ':')";

    protected override string Prefix(string quotedColumn) => $"split_part({quotedColumn}, ':', 1)";

    protected override string TokenStart(string quotedColumn) => $"substr({quotedColumn}, strpos({quotedColumn}, ':') + 1, 8)";

    public override IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, TableName table, string keyColumn,
        string column, IReadOnlyList<RowUpdate> rows)
    {
        if (rows.Count == 0) return Array.Empty<object>();
        Array keys = rows[0].Key switch
        {
            long => rows.Select(r => Convert.ToInt64(r.Key)).ToArray(),
            int => rows.Select(r => Convert.ToInt32(r.Key)).ToArray(),
            short => rows.Select(r => Convert.ToInt16(r.Key)).ToArray(),
            string => rows.Select(r => (string)r.Key).ToArray(),
            Guid => rows.Select(r => (Guid)r.Key).ToArray(),
            _ => null!,
        };
        if (keys is null) return base.UpdateGuarded(connection, transaction, table, keyColumn, column, rows);

        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        var k = Quote(keyColumn);
        var c = Quote(column);
        command.CommandText =
            $"UPDATE {QuoteTable(table)} AS target SET {c} = v.n FROM unnest(@keys, @olds, @news) AS v(k, o, n) " +
            $"WHERE target.{k} = v.k AND target.{c} = v.o RETURNING target.{k}";
        AddParameter(command, "@keys", keys);
        AddParameter(command, "@olds", rows.Select(r => r.OldValue).ToArray());
        AddParameter(command, "@news", rows.Select(r => r.NewValue).ToArray());
        var written = new List<object>(rows.Count);
        using var reader = command.ExecuteReader();
        while (reader.Read()) written.Add(reader.GetValue(0));
        return written;
    }

    public override IReadOnlyList<string> PrimaryKeyColumns(DbConnection connection, TableName table)
    {
        using var command = connection.CreateCommand();
        command.CommandText =
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) " +
            "WHERE i.indrelid = CAST(@t AS regclass) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)";
        AddParameter(command, "@t", QuoteTable(table));
        var result = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) result.Add(reader.GetString(0));
        return result;
    }

    public override int? ColumnMaxLength(DbConnection connection, TableName table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText =
            "SELECT CASE WHEN a.atttypmod > 4 AND t.typname IN ('varchar', 'bpchar') THEN a.atttypmod - 4 END " +
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = CAST(@t AS regclass) AND a.attname = @c";
        AddParameter(command, "@t", QuoteTable(table));
        AddParameter(command, "@c", column);
        var value = command.ExecuteScalar();
        return value is null or DBNull ? null : Convert.ToInt32(value);
    }

    public override IEnumerable<string> CreateJobTables(TableName jobs, TableName errors)
    {
        yield return $"CREATE TABLE IF NOT EXISTS {QuoteTable(jobs)} (" +
                     "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, table_name text NOT NULL, column_name text NOT NULL, key_column text NOT NULL, " +
                     "target_version text NOT NULL, status text NOT NULL, total_rows bigint NOT NULL DEFAULT 0, processed bigint NOT NULL DEFAULT 0, " +
                     "skipped bigint NOT NULL DEFAULT 0, errors bigint NOT NULL DEFAULT 0, last_key text, batch_size integer NOT NULL, " +
                     "commit_every integer NOT NULL, created_at timestamptz NOT NULL, started_at timestamptz, updated_at timestamptz, finished_at timestamptz, owner text, message text)";
        yield return $"CREATE TABLE IF NOT EXISTS {QuoteTable(errors)} (job_id bigint NOT NULL, row_key text, reason text NOT NULL, created_at timestamptz NOT NULL)";
        yield return $"CREATE INDEX IF NOT EXISTS {Quote(errors.Name + "_job")} ON {QuoteTable(errors)} (job_id)";
    }

    public override void LockTarget(DbConnection connection, DbTransaction transaction, string target)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT pg_advisory_xact_lock(hashtext(@target))";
        AddParameter(command, "@target", target);
        command.ExecuteNonQuery();
    }

    public override DateTime? ServerStartTime(DbConnection connection, DbTransaction? transaction) =>
        QueryTime(connection, transaction, "SELECT pg_postmaster_start_time()");

    public override bool IsConnectionFailure(Exception exception) => exception switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal),
        NpgsqlException => true,
        IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => exception.InnerException is not null && IsConnectionFailure(exception.InnerException),
    };
}
