using System.Data.Common;
using Npgsql;

namespace SecretsPS.Core.Data;

/// <summary>PostgreSQL through Npgsql: the batch update is one statement over arrays.</summary>
public sealed class PostgreSqlDialect : SqlDialect
{
    public override DatabaseProvider Provider => DatabaseProvider.PostgreSql;

    public override DbConnection CreateConnection(string connectionString, DatabaseSignIn signIn, bool readOnly)
    {
        var builder = Builder(connectionString);
        if (signIn.UserName is not null) builder.Username = signIn.UserName;
        if (signIn.PasswordOrToken is not null) builder.Password = signIn.PasswordOrToken;
        // A pooler in transaction mode (PgBouncer, Azure's built-in one) gives each transaction whichever server connection
        // is free: nothing may live in the session. So no startup Options (PgBouncer rejects them), no statement prepared
        // on the server (the next transaction may land where it does not exist), and no DISCARD ALL when a pooled
        // connection is reused (SecretsPS leaves no session state to discard).
        builder.MaxAutoPrepare = 0;
        builder.NoResetOnClose = true;
        builder.ApplicationName ??= "SecretsPS";
        var connection = new NpgsqlConnection(builder.ToString());
        if (readOnly) connection.StateChange += BeginReadOnlyWhenOpened;
        return connection;
    }

    /// <summary>
    /// The READ ONLY transaction a read-only connection was opened in, which every statement on it joins. Shared by every
    /// runspace of the process: ConditionalWeakTable is thread-safe, and each entry is one connection's, used by one thread.
    /// </summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<DbConnection, DbTransaction> ReadOnlyTransactions = new();

    /// <summary>
    /// A read-only connection (-WhatIf, Get-ReencryptJob, Get-EncryptedColumnStatus) is opened inside one READ ONLY
    /// transaction, so the server itself refuses any write, whichever path issues it: Npgsql runs every command in the
    /// connection's transaction. Per transaction rather than per session (the startup option
    /// default_transaction_read_only), because a pooler in transaction mode rejects startup options and keeps no session.
    /// </summary>
    private static void BeginReadOnlyWhenOpened(object? sender, System.Data.StateChangeEventArgs e)
    {
        if (e.CurrentState != System.Data.ConnectionState.Open || sender is not NpgsqlConnection connection) return;
        connection.StateChange -= BeginReadOnlyWhenOpened;
        ReadOnlyTransactions.AddOrUpdate(connection, BeginReadOnly(connection));
    }

    private static DbTransaction BeginReadOnly(DbConnection connection)
    {
        var transaction = connection.BeginTransaction(System.Data.IsolationLevel.ReadCommitted);
        try
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "SET TRANSACTION READ ONLY";
            command.ExecuteNonQuery();
            return transaction;
        }
        catch
        {
            transaction.Dispose();
            throw;
        }
    }

    /// <summary>The held READ ONLY transaction, aborted by the failed statement, is rolled back and a new one held in its place.</summary>
    public override void ReadAgainAfterFailure(DbConnection connection)
    {
        if (!ReadOnlyTransactions.TryGetValue(connection, out var held) || !IsOpen(held)) return;
        held.Rollback();
        ReadOnlyTransactions.AddOrUpdate(connection, BeginReadOnly(connection));
    }

    /// <summary>True while the connection is inside the READ ONLY transaction it was opened in.</summary>
    public static bool IsInReadOnlyTransaction(DbConnection connection) =>
        ReadOnlyTransactions.TryGetValue(connection, out var transaction) && IsOpen(transaction);

    /// <summary>Npgsql throws for a disposed transaction's Connection rather than answering null.</summary>
    private static bool IsOpen(DbTransaction transaction)
    {
        try { return transaction.Connection is not null; }
        catch (ObjectDisposedException) { return false; }
    }

    private static NpgsqlConnectionStringBuilder Builder(string connectionString)
    {
        try { return new NpgsqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException)
        {
            // The inner message can quote the string, password included: never pass it on.
            throw new SecretsPSException(ErrorIds.ConnectionStringInvalid, ErrorKind.InvalidArgument,
                Messages.PostgreSqlConnectionStringInvalid);
        }
    }

    /// <summary>PostgreSQL cuts identifiers to 63 bytes (NAMEDATALEN - 1) without an error.</summary>
    public const int MaxIdentifierBytes = 63;

    protected override string CheckLength(string identifier) =>
        System.Text.Encoding.UTF8.GetByteCount(identifier) <= MaxIdentifierBytes
            ? identifier
            : throw new SecretsPSException(ErrorIds.IdentifierInvalid, ErrorKind.InvalidArgument,
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

    protected override string Position(string quotedColumn) => $"strpos({Bytewise(quotedColumn)}, ':')";

    protected override string Prefix(string quotedColumn) => $"split_part({Bytewise(quotedColumn)}, ':', 1)";

    protected override string TokenStart(string quotedColumn) => $"substr({Bytewise(quotedColumn)}, {Position(quotedColumn)} + 1, 8)";

    /// <summary>
    /// The value as text under the "C" collation: grouped and compared byte for byte, and searchable at all under a
    /// nondeterministic (ICU case-insensitive) collation, where strpos and split_part refuse to search.
    /// </summary>
    private static string Bytewise(string quotedColumn) => $"(CAST({quotedColumn} AS text) COLLATE \"C\")";

    /// <summary>
    /// The statement of the batch update: one statement over arrays of the key texts, the values read and the new values.
    /// Each key text is cast back to the key's type in SQL, and the guard compares text byte for byte.
    /// </summary>
    public string UpdateStatement(ColumnTarget target)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        return $"UPDATE {QuoteTable(target.Table)} AS target SET {c} = v.n FROM unnest(@keys, @olds, @news) AS v(k, o, n) " +
               $"WHERE target.{k} = {KeyParameter("v.k", target.KeyType)} AND {ExactlyEquals("target." + c, "v.o")}";
    }

    /// <summary>The keys of the batch's rows that hold their own new value (a fresh Fernet token no other writer can have written).</summary>
    public string WrittenStatement(ColumnTarget target)
    {
        var k = Quote(target.KeyColumn);
        return $"SELECT {KeyAsText("target." + k, target.KeyType)} FROM unnest(@keys, @news) AS v(k, n) JOIN {QuoteTable(target.Table)} AS target " +
               $"ON target.{k} = {KeyParameter("v.k", target.KeyType)} WHERE {ExactlyEquals("target." + Quote(target.Column), "v.n")}";
    }

    /// <summary>
    /// The UPDATE's count is the rows it updated, each sent once: when it equals the rows sent, every one was written and
    /// nothing comes back (a RETURNING row per row cost the server and the driver more than the count). When it is
    /// smaller (rows changed or deleted meanwhile, a trigger that skipped a row), the rows that hold their new value are
    /// read back in the same transaction, under the row locks the UPDATE took.
    /// </summary>
    public override IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows)
    {
        if (rows.Count == 0) return Array.Empty<object>();
        var keys = new string[rows.Count];
        var olds = new string[rows.Count];
        var news = new string[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            keys[i] = (string)rows[i].Key;
            olds[i] = rows[i].OldValue;
            news[i] = rows[i].NewValue;
        }
        int updated;
        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = UpdateStatement(target);
            AddParameter(command, "@keys", keys);
            AddParameter(command, "@olds", olds);
            AddParameter(command, "@news", news);
            updated = command.ExecuteNonQuery();
        }
        if (updated == rows.Count) return keys;
        var written = new List<object>(updated);
        using (var select = connection.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = WrittenStatement(target);
            AddParameter(select, "@keys", keys);
            AddParameter(select, "@news", news);
            using var reader = select.ExecuteReader();
            while (reader.Read()) written.Add(reader.GetString(0));
        }
        if (written.Count > updated)
            throw new InvalidOperationException($"The guarded update of {target.Name} updated {updated} row(s), but {written.Count} hold their new value; nothing of this batch is committed.");
        return written;
    }

    /// <summary>bpchar reads as the application reads it (padding removed), citext as plain text.</summary>
    protected override string ValueAsText(string quotedColumn) => $"CAST({quotedColumn} AS text)";

    protected override string ExactlyEquals(string quotedColumn, string parameter) => $"CAST({quotedColumn} AS text) COLLATE \"C\" = {parameter}";

    /// <summary>The first character's code point on a UTF-8 database (its byte on a single-byte one: never a miscount, see TrimLeading).</summary>
    protected override string FirstCodePoint(string quotedColumn) => $"ascii({quotedColumn})";

    /// <summary>
    /// Every character the application strips on a UTF-8 database; the ASCII ones elsewhere, where the others cannot be
    /// stored. A literal holding them would fail to parse on a database that is not UTF-8, so they come from bytes,
    /// converted only when the server's encoding is UTF-8 (convert_from is not folded into a constant before that test).
    /// </summary>
    protected override string TrimLeading(string quotedColumn) =>
        $"ltrim({quotedColumn}, CASE WHEN current_setting('server_encoding') = 'UTF8' THEN convert_from(CAST(E'{WhitespaceUtf8}' AS bytea), 'UTF8') " +
        $"ELSE E' \\t\\n\\x0b\\f\\r\\x1c\\x1d\\x1e\\x1f' END)";

    /// <summary>The application's whitespace as UTF-8, in PostgreSQL's hex bytea form.</summary>
    private static readonly string WhitespaceUtf8 = "\\\\x" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(Crypto.ApplicationWhitespace.Characters)).ToLowerInvariant();

    /// <summary>Quoted identifiers are case-sensitive in PostgreSQL.</summary>
    public override bool SameIdentifier(string a, string b) => string.Equals(a, b, StringComparison.Ordinal);

    public const string ColumnTypeQuery =
        "SELECT format_type(a.atttypid, a.atttypmod), CASE WHEN b.typtype = 'e' THEN 'enum' ELSE b.typname END " +
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END " +
        "WHERE a.attrelid = CAST(@t AS regclass) AND a.attname = @c AND NOT a.attisdropped";

    public override ColumnType DescribeColumn(DbConnection connection, TableName table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText = ColumnTypeQuery;
        AddParameter(command, "@t", QuoteTable(table));
        AddParameter(command, "@c", column);
        using var reader = command.ExecuteReader();
        return reader.Read() ? new ColumnType(reader.GetString(0), reader.GetString(1)) : new ColumnType("", "");
    }

    public override bool HoldsText(ColumnType type) => type.Base is "text" or "varchar" or "bpchar" or "citext";

    /// <summary>
    /// Types whose text form casts back to the same value and whose order is the one ORDER BY uses. Not money (its
    /// text follows lc_monetary), interval ('1 day' = '24 hours'), floating types only with extra_float_digits set
    /// (BeginWrite does), nor anything without a b-tree order (json, arrays, geometry).
    /// </summary>
    public override bool PagesExactly(ColumnType type) =>
        type.Base is "int2" or "int4" or "int8" or "numeric" or "float4" or "float8" or "text" or "varchar" or "bpchar" or "citext"
            or "uuid" or "date" or "timestamp" or "timestamptz" or "time" or "timetz" or "bool" or "bytea" or "oid" or "enum"
        && IsPlainTypeName(type.Declared);

    /// <summary>The declared type goes into SQL as written by format_type: names, quoted names, modifiers; nothing else.</summary>
    private static bool IsPlainTypeName(string declared)
    {
        bool quoted = false;
        foreach (var ch in declared)
        {
            if (ch == '"') { quoted = !quoted; continue; }
            if (quoted ? char.IsControl(ch) : !(char.IsAsciiLetterOrDigit(ch) || ch is '_' or ' ' or '.' or '(' or ')' or ',' or '[' or ']')) return false;
        }
        return !quoted && declared.Length > 0;
    }

    /// <summary>
    /// Every transaction of a run (and of -WhatIf) reads and writes key texts under the same settings: ISO dates whatever
    /// DateStyle the database has, floats with every digit, bytea in hex. SET LOCAL ends with the transaction, so nothing
    /// is left on a pooled connection.
    /// </summary>
    private const string KeyTextSettings =
        "SELECT set_config('DateStyle', 'ISO, YMD', true), set_config('extra_float_digits', '3', true), set_config('bytea_output', 'hex', true)";

    public override DbTransaction BeginWrite(DbConnection connection) => WithKeyTextSettings(base.BeginWrite(connection), connection);

    /// <summary>
    /// On a read-only connection, its READ ONLY transaction (a second one cannot begin); otherwise a new one, made read-only.
    /// A read-only connection whose transaction a reader ended (a search reads each column in its own) holds the next one
    /// instead, so that what runs after it still joins a READ ONLY transaction.
    /// </summary>
    public override DbTransaction BeginRead(DbConnection connection)
    {
        if (!ReadOnlyTransactions.TryGetValue(connection, out var held)) return WithKeyTextSettings(BeginReadOnly(connection), connection);
        if (IsOpen(held)) return WithKeyTextSettings(held, connection);
        var next = BeginReadOnly(connection);
        ReadOnlyTransactions.AddOrUpdate(connection, next);
        return WithKeyTextSettings(next, connection);
    }

    private static DbTransaction WithKeyTextSettings(DbTransaction transaction, DbConnection connection)
    {
        try
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = KeyTextSettings;
            command.ExecuteNonQuery();
            return transaction;
        }
        catch
        {
            transaction.Dispose();
            throw;
        }
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

    /// <summary>A lost connection, and a batch the server rolled back to break a deadlock with the application's writes (40P01).</summary>
    public override bool IsTransient(Exception exception) =>
        IsConnectionFailure(exception) || exception is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected };

    public override bool IsConnectionFailure(Exception exception) => exception switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal),
        NpgsqlException => true,
        IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => exception.InnerException is not null && IsConnectionFailure(exception.InnerException),
    };

    /// <summary>
    /// From pg_catalog, not information_schema: information_schema lists only the tables the user has a right on, and a
    /// table the search cannot see would be missed in silence, where one it cannot read is named. Plain and partitioned
    /// tables, not their partitions (the parent's count holds their rows); the type judged as <see cref="DescribeColumn"/>
    /// judges it (a domain by its base type).
    /// </summary>
    public override IReadOnlyList<CatalogColumn> TextColumns(DbConnection connection, string? schema, string? table)
    {
        using var command = connection.CreateCommand();
        var where = "c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'";
        if (schema is not null) { where += " AND n.nspname = @schema"; AddParameter(command, "@schema", schema); }
        if (table is not null) { where += " AND c.relname = @table"; AddParameter(command, "@table", table); }
        command.CommandText =
            "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), CASE WHEN b.typtype = 'e' THEN 'enum' ELSE b.typname END, " +
            "n.nspname = current_schema() " +
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped " +
            "JOIN pg_type t ON t.oid = a.atttypid JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END " +
            $"WHERE {where} ORDER BY n.nspname, c.relname, a.attnum";
        var result = new List<CatalogColumn>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var type = new ColumnType(reader.GetString(3), reader.GetString(4));
            if (!HoldsText(type)) continue;
            result.Add(new CatalogColumn(new TableName(reader.GetString(0), reader.GetString(1)), reader.GetString(2), type, !reader.IsDBNull(5) && reader.GetBoolean(5)));
        }
        return result;
    }

    /// <summary>
    /// SQLSTATE first (the server's or a pooler's verdict), then what the driver saw below it. PgBouncer reports most of its
    /// refusals (an unsupported startup parameter, a database it does not serve, a failed sign-in) as 08P01, protocol
    /// violation, told apart here by its (always English) text.
    /// </summary>
    public override ConnectionFailureKind ClassifyConnectionFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException p) return Classify(p);
            // Npgsql's own words when TLS was asked for and the server (or a pooler) has none.
            if (e is NpgsqlException && e.Message.Contains("SSL", StringComparison.Ordinal) && e.InnerException is null)
                return ConnectionFailureKind.Tls;
            if (e is NpgsqlException && e.Message.Contains("password", StringComparison.OrdinalIgnoreCase) && e.InnerException is null)
                return ConnectionFailureKind.Authentication;
        }
        return base.ClassifyConnectionFailure(exception);
    }

    private static ConnectionFailureKind Classify(PostgresException p) => p.SqlState switch
    {
        // A hostssl-only pg_hba answers a connection without TLS with "no pg_hba.conf entry … no encryption" (on a server
        // that speaks English: elsewhere it reads as a sign-in failure, whose message mentions TLS and SSL Mode too).
        PostgresErrorCodes.InvalidAuthorizationSpecification when p.MessageText.Contains("no encryption", StringComparison.Ordinal) => ConnectionFailureKind.Tls,
        PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification => ConnectionFailureKind.Authentication,
        PostgresErrorCodes.InvalidCatalogName => ConnectionFailureKind.DatabaseMissing,
        PostgresErrorCodes.ProtocolViolation when p.MessageText.Contains("no such database", StringComparison.OrdinalIgnoreCase) => ConnectionFailureKind.DatabaseMissing,
        PostgresErrorCodes.ProtocolViolation when p.MessageText.Contains("password authentication failed", StringComparison.OrdinalIgnoreCase) => ConnectionFailureKind.Authentication,
        PostgresErrorCodes.ProtocolViolation when p.MessageText.Contains("SSL", StringComparison.Ordinal) => ConnectionFailureKind.Tls,
        PostgresErrorCodes.ProtocolViolation when p.MessageText.Contains("startup parameter", StringComparison.OrdinalIgnoreCase) => ConnectionFailureKind.ParameterRejected,
        // The server itself, on an Options=-c setting it does not know or will not take at startup.
        PostgresErrorCodes.UndefinedObject or PostgresErrorCodes.InvalidParameterValue or PostgresErrorCodes.CantChangeRuntimeParam => ConnectionFailureKind.ParameterRejected,
        // Anything else a pooler says at sign-in (no free connection, cannot reach its server, a wait timed out).
        _ => ConnectionFailureKind.Unreachable,
    };

    public override string CreateChunkTable(TableName chunks) =>
        $"CREATE TABLE IF NOT EXISTS {QuoteTable(chunks)} (job_id bigint NOT NULL, chunk integer NOT NULL, low_key text, high_key text, last_key text, " +
        "status text NOT NULL, processed bigint NOT NULL DEFAULT 0, skipped bigint NOT NULL DEFAULT 0, errors bigint NOT NULL DEFAULT 0, owner text, " +
        "updated_at timestamptz, PRIMARY KEY (job_id, chunk))";

    /// <summary>Whole pages at random: a large table's sample costs the pages read, not a scan and sort of every key.</summary>
    protected override string TableSample(double fraction) => $" TABLESAMPLE SYSTEM ({Number(fraction * 100)})";
}
