using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace SecretsPS.Core.Data;

/// <summary>SQLite, the embedded default: a file path is a complete connection string.</summary>
public sealed class SqliteDialect : SqlDialect
{
    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    public override DbConnection CreateConnection(string connectionString, DatabaseSignIn signIn, bool readOnly)
    {
        if (signIn.Password is not null || signIn.AccessToken is not null)
            throw new SecretsPSException(ErrorIds.CredentialNotSupported, ErrorKind.InvalidArgument,
                Messages.SqliteCredentialNotSupported);
        var builder = ToBuilder(connectionString);
        if (readOnly)
        {
            if (!File.Exists(builder.DataSource))
                throw new SecretsPSException(ErrorIds.DatabaseNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.SqliteDatabaseNotFound, builder.DataSource), target: builder.DataSource);
            builder.Mode = SqliteOpenMode.ReadOnly;
        }
        else if (builder.Mode == SqliteOpenMode.ReadWriteCreate && !File.Exists(builder.DataSource) && builder.DataSource != ":memory:")
        {
            // A typo in a path must not silently create an empty database and report "0 rows".
            throw new SecretsPSException(ErrorIds.DatabaseNotFound, ErrorKind.ObjectNotFound,
                Localized.Format(Messages.SqliteDatabaseNotFound, builder.DataSource), target: builder.DataSource);
        }
        return new SqliteConnection(builder.ToString());
    }

    private static SqliteConnectionStringBuilder ToBuilder(string connectionString)
    {
        var text = connectionString.Contains('=') ? connectionString : "Data Source=" + connectionString;
        SqliteConnectionStringBuilder builder;
        // The inner message can quote the string: never pass it on.
        try { builder = new SqliteConnectionStringBuilder(text); }
        catch (ArgumentException) { throw new SecretsPSException(ErrorIds.ConnectionStringInvalid, ErrorKind.InvalidArgument, Messages.SqliteConnectionStringInvalid); }
        if (builder.DefaultTimeout == 30) builder.DefaultTimeout = 60;
        return builder;
    }

    /// <summary>
    /// The connection string with a relative file made absolute against <paramref name="folder"/>: a caller's current
    /// folder (PowerShell's location) is not the process's working folder, which SQLite would use.
    /// </summary>
    public static string WithDataSourceUnder(string connectionString, string folder)
    {
        if (!connectionString.Contains('=')) return Path.GetFullPath(connectionString, folder);
        var builder = ToBuilder(connectionString);
        var source = builder.DataSource;
        if (source.Length == 0 || source == ":memory:" || source.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || Path.IsPathRooted(source))
            return connectionString;
        builder.DataSource = Path.GetFullPath(source, folder);
        return builder.ToString();
    }

    public override string Describe(string connectionString)
    {
        try { return "SQLite " + ToBuilder(connectionString).DataSource; }
        catch (SecretsPSException) { return "SQLite (connection string not valid)"; }
    }

    protected override string Position(string quotedColumn) => $"instr({quotedColumn}, ':')";

    protected override string Prefix(string quotedColumn) => $"substr({quotedColumn}, 1, instr({quotedColumn}, ':') - 1)";

    protected override string TokenStart(string quotedColumn) => $"substr({quotedColumn}, instr({quotedColumn}, ':') + 1, 8)";

    /// <summary>
    /// The key stays what SQLite stored (integer, real, text or blob: a column without a declared type may hold all four,
    /// and 1 and '1' are different keys) and is bound back as it is, so every comparison is SQLite's own.
    /// </summary>
    protected override string KeyAsText(string quotedKey, ColumnType type) => quotedKey;

    protected override string KeyParameter(string parameter, ColumnType type) => parameter;

    public override object ReadKey(DbDataReader reader, int ordinal) => reader.GetValue(ordinal);

    public override string CursorText(object key) => SqliteKeyText.Format(key);

    public override object KeyFromCursor(string cursor) => SqliteKeyText.Parse(cursor);

    protected override string ExactlyEquals(string quotedColumn, string parameter) => $"{quotedColumn} = {parameter} COLLATE BINARY";

    protected override string FirstCodePoint(string quotedColumn) => $"unicode({quotedColumn})";

    protected override string TrimLeading(string quotedColumn) => $"ltrim({quotedColumn}, char({string.Join(", ", ApplicationWhitespace)}))";

    public override ColumnType DescribeColumn(DbConnection connection, TableName table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText = table.Schema is null
            ? "SELECT type FROM pragma_table_info(@t) WHERE name = @c"
            : "SELECT type FROM pragma_table_info(@t, @s) WHERE name = @c";
        AddParameter(command, "@t", table.Name);
        AddParameter(command, "@c", column);
        if (table.Schema is not null) AddParameter(command, "@s", table.Schema);
        var declared = command.ExecuteScalar() as string ?? "";
        return new ColumnType(declared, Affinity(declared));
    }

    /// <summary>SQLite's rules for a column's affinity from its declared type (https://sqlite.org/datatype3.html §3.1), in their order.</summary>
    public static string Affinity(string declared)
    {
        var t = declared.ToUpperInvariant();
        if (t.Contains("INT", StringComparison.Ordinal)) return "integer";
        if (t.Contains("CHAR", StringComparison.Ordinal) || t.Contains("CLOB", StringComparison.Ordinal) || t.Contains("TEXT", StringComparison.Ordinal)) return "text";
        if (t.Length == 0) return "none";
        if (t.Contains("BLOB", StringComparison.Ordinal)) return "blob";
        if (t.Contains("REAL", StringComparison.Ordinal) || t.Contains("FLOA", StringComparison.Ordinal) || t.Contains("DOUB", StringComparison.Ordinal)) return "real";
        return "numeric";
    }

    /// <summary>
    /// Text affinity, or none (a column declared without a type, where each value keeps its own type; a value that is not
    /// text is then an error for its row). A numeric affinity would turn a plaintext such as 0123 into 123.
    /// </summary>
    public override bool HoldsText(ColumnType type) => type.Base is "text" or "none";

    /// <summary>Every key: it is bound back with the storage class it was read with, and compared by SQLite itself.</summary>
    public override bool PagesExactly(ColumnType type) => true;

    public override IReadOnlyList<string> PrimaryKeyColumns(DbConnection connection, TableName table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = table.Schema is null
            ? "SELECT name FROM pragma_table_info(@t) WHERE pk > 0 ORDER BY pk"
            : "SELECT name FROM pragma_table_info(@t, @s) WHERE pk > 0 ORDER BY pk";
        AddParameter(command, "@t", table.Name);
        if (table.Schema is not null) AddParameter(command, "@s", table.Schema);
        var result = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) result.Add(reader.GetString(0));
        return result;
    }

    /// <summary>SQLite does not enforce VARCHAR(n), but the application's other databases and ORM do: honour the declaration.</summary>
    public override int? ColumnMaxLength(DbConnection connection, TableName table, string column) =>
        LengthFromDeclaredType(DescribeColumn(connection, table, column).Declared);

    public override IEnumerable<string> CreateJobTables(TableName jobs, TableName errors)
    {
        yield return $"CREATE TABLE IF NOT EXISTS {QuoteTable(jobs)} (" +
                     "id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, column_name TEXT NOT NULL, key_column TEXT NOT NULL, " +
                     "target_version TEXT NOT NULL, status TEXT NOT NULL, total_rows INTEGER NOT NULL DEFAULT 0, processed INTEGER NOT NULL DEFAULT 0, " +
                     "skipped INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, last_key TEXT, batch_size INTEGER NOT NULL, " +
                     "commit_every INTEGER NOT NULL, created_at TEXT NOT NULL, started_at TEXT, updated_at TEXT, finished_at TEXT, owner TEXT, message TEXT)";
        yield return $"CREATE TABLE IF NOT EXISTS {QuoteTable(errors)} (job_id INTEGER NOT NULL, row_key TEXT, reason TEXT NOT NULL, created_at TEXT NOT NULL)";
        // SQLite puts an index in the schema its own name gives (the table's name must stay unqualified).
        yield return $"CREATE INDEX IF NOT EXISTS {QuoteTable(errors with { Name = errors.Name + "_job" })} ON {Quote(errors.Name)} (job_id)";
    }

    /// <summary>BEGIN IMMEDIATE takes the write lock at once: claims are serialised by SQLite itself.</summary>
    public override void LockTarget(DbConnection connection, DbTransaction transaction, string target) { }

    public override DbTransaction BeginWrite(DbConnection connection) => ((SqliteConnection)connection).BeginTransaction(deferred: false);

    public override bool IsConnectionFailure(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 10 or 13 or 14 or 26 } // IOERR, FULL, CANTOPEN, NOTADB
        || exception is IOException;

    /// <summary>
    /// sqlite_schema with pragma_table_info: tables only (views and SQLite's own sqlite_* tables left out), of the main
    /// database or of the attached one <paramref name="schema"/> names. Names compare as SQLite compares them: without case.
    /// </summary>
    public override IReadOnlyList<CatalogColumn> TextColumns(DbConnection connection, string? schema, string? table)
    {
        using var command = connection.CreateCommand();
        var catalog = schema is null ? "sqlite_schema" : Quote(schema) + ".sqlite_schema";
        var info = schema is null ? "pragma_table_info(m.name)" : "pragma_table_info(m.name, @schema)";
        var where = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";
        if (schema is not null) AddParameter(command, "@schema", schema);
        if (table is not null) { where += " AND m.name = @table COLLATE NOCASE"; AddParameter(command, "@table", table); }
        command.CommandText = $"SELECT m.name, p.name, p.type FROM {catalog} AS m JOIN {info} AS p WHERE {where} ORDER BY m.name, p.cid";
        var result = new List<CatalogColumn>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var declared = reader.IsDBNull(2) ? "" : reader.GetString(2);
            var type = new ColumnType(declared, Affinity(declared));
            if (!HoldsText(type)) continue;
            result.Add(new CatalogColumn(new TableName(schema, reader.GetString(0)), reader.GetString(1), type,
                schema is null || string.Equals(schema, "main", StringComparison.OrdinalIgnoreCase)));
        }
        return result;
    }

    /// <summary>
    /// Nothing: SQLite's "connection failures" are the file's own (an I/O error, a full disk, a file that is not a
    /// database), which do not pass by waiting; a run stops on them at once, to be resumed once they are fixed.
    /// </summary>
    public override bool IsTransient(Exception exception) => false;

    public override string CreateChunkTable(TableName chunks) =>
        $"CREATE TABLE IF NOT EXISTS {QuoteTable(chunks)} (job_id INTEGER NOT NULL, chunk INTEGER NOT NULL, low_key TEXT, high_key TEXT, last_key TEXT, " +
        "status TEXT NOT NULL, processed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, owner TEXT, " +
        "updated_at TEXT, PRIMARY KEY (job_id, chunk))";

    protected override string? RandomFilter(double fraction) => $"(abs(random()) % 1000000) < {(long)Math.Ceiling(fraction * 1_000_000)}";

    /// <summary>No row locks: BEGIN IMMEDIATE already gives the claim the database's one write lock.</summary>
    public override string SelectForClaim(TableName table, string columns, string where, string orderBy, bool skipLocked) =>
        $"SELECT {columns} FROM {QuoteTable(table)} WHERE {where} ORDER BY {orderBy}";
}
