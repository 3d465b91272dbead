using System.Data;
using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>Standard SQL shared by the dialects; each database overrides only where it differs.</summary>
public abstract class SqlDialect : ISqlDialect
{
    public abstract DatabaseProvider Provider { get; }

    public abstract DbConnection CreateConnection(string connectionString, DatabaseSignIn signIn, bool readOnly);

    public abstract string Describe(string connectionString);

    /// <summary>Double quotes, with embedded quotes doubled (SQL standard; PostgreSQL and SQLite).</summary>
    public virtual string Quote(string identifier) => "\"" + CheckLength(Identifier.Validate(identifier, "column")).Replace("\"", "\"\"") + "\"";

    /// <summary>A name longer than the database keeps would be cut silently, and could then name another object.</summary>
    protected virtual string CheckLength(string identifier) => identifier;

    public string QuoteTable(TableName table) => table.Schema is null ? Quote(table.Name) : Quote(table.Schema) + "." + Quote(table.Name);

    public virtual string SelectPage(ColumnTarget target, int limit, bool fromStart)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        var after = fromStart ? "" : $" AND {k} > {KeyParameter("@after", target.KeyType)}";
        // ORDER BY names the table's column with its table: a bare name would be the output column (the key's text, in
        // text order) wherever the database names an expression's output column after the column inside it.
        return $"SELECT {KeyAsText(k, target.KeyType)}, {ValueAsText(c)} FROM {QuoteTable(target.Table)} WHERE {c} IS NOT NULL{after} " +
               $"ORDER BY {QuoteTable(target.Table)}.{k} LIMIT {limit}";
    }

    /// <summary>
    /// The key as the page returns it. Here, the database's own text of it (the cursor), cast back with
    /// <see cref="KeyParameter"/> in the key's declared type: exact for every type the dialect accepts, whatever the
    /// client library would have made of the value (seconds cut, zone dropped, digits lost, padding trimmed).
    /// </summary>
    protected virtual string KeyAsText(string quotedKey, ColumnType type) => $"CAST({quotedKey} AS text)";

    /// <summary>A key parameter (a cursor text) compared in the key column's own type.</summary>
    protected virtual string KeyParameter(string parameter, ColumnType type) => $"CAST({parameter} AS {type.Declared})";

    /// <summary>The encrypted column as text (fixed-width types as the application reads them).</summary>
    protected virtual string ValueAsText(string quotedColumn) => quotedColumn;

    /// <summary>The guard: the column still holds exactly the text that was read, whatever its collation says is equal.</summary>
    protected abstract string ExactlyEquals(string quotedColumn, string parameter);

    public virtual object ReadKey(DbDataReader reader, int ordinal) => reader.GetString(ordinal);

    public virtual string CursorText(object key) => (string)key;

    public virtual object KeyFromCursor(string cursor) => cursor;

    public abstract ColumnType DescribeColumn(DbConnection connection, TableName table, string column);

    public abstract bool HoldsText(ColumnType type);

    public abstract bool PagesExactly(ColumnType type);

    /// <summary>Case-insensitively by default (SQLite's rule, and SQL Server's under its usual collations): refusing a same-named pair is the safe mistake.</summary>
    public virtual bool SameIdentifier(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    public virtual string Probe(TableName table, string keyColumn, string column) =>
        $"SELECT {Quote(keyColumn)}, {Quote(column)} FROM {QuoteTable(table)} WHERE 1 = 0";

    public virtual string SelectSample(TableName table, string column, int limit) =>
        $"SELECT {Quote(column)} FROM {QuoteTable(table)} WHERE {Quote(column)} IS NOT NULL LIMIT {limit}";

    public string ProbeColumn(TableName table, string column) => $"SELECT {Quote(column)} FROM {QuoteTable(table)} WHERE 1 = 0";

    /// <summary>Rows, non-NULL keys, distinct keys: a key column is usable for paging only if all three are equal.</summary>
    public string KeyStatistics(TableName table, string keyColumn) =>
        $"SELECT COUNT(*), COUNT({Quote(keyColumn)}), COUNT(DISTINCT {Quote(keyColumn)}) FROM {QuoteTable(table)}";

    public string CountNonNull(TableName table, string column) =>
        $"SELECT COUNT(*) FROM {QuoteTable(table)} WHERE {Quote(column)} IS NOT NULL";

    /// <summary>
    /// A value counts under its prefix only when the text after the colon starts as every stored token does
    /// (base64url of "gAAAAA"); "https://…" or "user:secret" are not ciphertext, whatever precedes their colon. Leading
    /// whitespace is skipped first, as the application's reading of a value skips it (FORMATS.md §4).
    /// </summary>
    public virtual string CountByPrefix(TableName table, string column)
    {
        var c = Quote(column);
        // Only a value that starts with whitespace pays for the trim (the count runs over the whole column at a job's end).
        var group = VersionPrefixOf(c);
        return $"SELECT grouped.prefix, COUNT(*) FROM (SELECT {group} AS prefix FROM {QuoteTable(table)}) AS grouped GROUP BY grouped.prefix";
    }

    /// <summary>The version prefix of a value that has the shape of a stored value, else ''.</summary>
    private string Classify(string value) =>
        $"CASE WHEN {Position(value)} > 1 AND {TokenStart(value)} = '{StoredTokenStart}' THEN {Prefix(value)} ELSE '' END";

    /// <summary>The column without the leading whitespace the application's reading (Python's str.strip) skips.</summary>
    protected abstract string TrimLeading(string quotedColumn);

    /// <summary>The code point of the first character (NULL or 0 for an empty value).</summary>
    protected abstract string FirstCodePoint(string quotedColumn);

    /// <summary>The code points the application's strip() removes (<see cref="Crypto.ApplicationWhitespace"/>), for SQL that names them by number.</summary>
    protected static readonly int[] ApplicationWhitespace = Crypto.ApplicationWhitespace.Characters.Select(c => (int)c).ToArray();

    private static readonly string WhitespaceCodePoints = string.Join(", ", ApplicationWhitespace);

    /// <summary>Base64url of the first six characters of every Fernet token ("gAAAAA").</summary>
    public const string StoredTokenStart = "Z0FBQUFB";

    // Position, Prefix and TokenStart are what a value is classified, grouped and counted by (the proof of completion, the
    // cleanup): each dialect makes them compare byte for byte whatever the column's collation says is equal. Under a
    // case-insensitive collation "V1" and "v1" would be one group, counted under either spelling.

    protected abstract string Position(string quotedColumn);

    protected abstract string Prefix(string quotedColumn);

    /// <summary>The eight characters after the first colon.</summary>
    protected abstract string TokenStart(string quotedColumn);

    public string SelectOne(ColumnTarget target) =>
        $"SELECT {ValueAsText(Quote(target.Column))} FROM {QuoteTable(target.Table)} WHERE {Quote(target.KeyColumn)} = {KeyParameter("@key", target.KeyType)}";

    /// <summary>The statement of the one-row-at-a-time guarded update.</summary>
    public string UpdateOneStatement(ColumnTarget target) =>
        $"UPDATE {QuoteTable(target.Table)} SET {Quote(target.Column)} = @new WHERE {Quote(target.KeyColumn)} = {KeyParameter("@key", target.KeyType)} AND {ExactlyEquals(Quote(target.Column), "@old")}";

    /// <summary>One prepared statement per row inside the transaction: right for an embedded database, a fallback elsewhere.</summary>
    public virtual IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows)
    {
        var written = new List<object>(rows.Count);
        if (rows.Count == 0) return written;
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = UpdateOneStatement(target);
        var key = AddParameter(command, "@key", rows[0].Key);
        var old = AddParameter(command, "@old", "");
        var value = AddParameter(command, "@new", "");
        command.Prepare();
        foreach (var row in rows)
        {
            key.Value = row.Key;
            old.Value = row.OldValue;
            value.Value = row.NewValue;
            if (command.ExecuteNonQuery() == 1) written.Add(row.Key);
        }
        return written;
    }

    public abstract IReadOnlyList<string> PrimaryKeyColumns(DbConnection connection, TableName table);

    public abstract int? ColumnMaxLength(DbConnection connection, TableName table, string column);

    public abstract IEnumerable<string> CreateJobTables(TableName jobs, TableName errors);

    public virtual string InsertReturningId(TableName table, IReadOnlyList<string> columns) =>
        $"INSERT INTO {QuoteTable(table)} ({string.Join(", ", columns.Select(Quote))}) VALUES ({string.Join(", ", columns.Select(c => "@" + c))}) RETURNING {Quote("id")}";

    public virtual string SelectTop(TableName table, string columns, string where, string orderBy) =>
        $"SELECT {columns} FROM {QuoteTable(table)}{(where.Length > 0 ? " WHERE " + where : "")} ORDER BY {orderBy} LIMIT @limit";

    public abstract void LockTarget(DbConnection connection, DbTransaction transaction, string target);

    public virtual DbTransaction BeginWrite(DbConnection connection) => connection.BeginTransaction(IsolationLevel.ReadCommitted);

    public virtual DbTransaction BeginRead(DbConnection connection) => connection.BeginTransaction(IsolationLevel.ReadCommitted);

    public abstract bool IsConnectionFailure(Exception exception);

    /// <summary>The generic kinds every driver shows the same way; a dialect adds its server's own error codes.</summary>
    public virtual ConnectionFailureKind ClassifyConnectionFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is System.Security.Authentication.AuthenticationException) return ConnectionFailureKind.Tls;
            if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
                return ConnectionFailureKind.Refused;
        }
        return ConnectionFailureKind.Unreachable;
    }

    public virtual DateTime? ServerStartTime(DbConnection connection, DbTransaction? transaction) => null;

    protected static DateTime? QueryTime(DbConnection connection, DbTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command.ExecuteScalar() is DateTime t ? (t.Kind == DateTimeKind.Utc ? t : DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;
    }

    public static DbParameter AddParameter(DbCommand command, string name, object? value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        command.Parameters.Add(p);
        return p;
    }

    /// <summary>The max length from a declared type such as VARCHAR(500) or NVARCHAR(255); null when unbounded.</summary>
    protected static int? LengthFromDeclaredType(string? declared)
    {
        if (string.IsNullOrEmpty(declared)) return null;
        int open = declared.IndexOf('('), close = declared.IndexOf(')');
        if (open < 0 || close < open) return null;
        var inner = declared[(open + 1)..close].Split(',')[0].Trim();
        return int.TryParse(inner, out var n) && n > 0 ? n : null;
    }


    public static ISqlDialect For(DatabaseProvider provider) => provider switch
    {
        DatabaseProvider.Sqlite => new SqliteDialect(),
        DatabaseProvider.PostgreSql => new PostgreSqlDialect(),
        DatabaseProvider.SqlServer => new SqlServerDialect(),
        DatabaseProvider.MySql => new MySqlDialect(),
        _ => throw new ArgumentOutOfRangeException(nameof(provider)),
    };

    /// <summary>The version prefix <see cref="CountByPrefix"/> groups a value under: NULL for NULL, '' for a value that is not ciphertext.</summary>
    protected string VersionPrefixOf(string quotedColumn) =>
        $"CASE WHEN {quotedColumn} IS NULL THEN NULL WHEN {FirstCodePoint(quotedColumn)} IN ({WhitespaceCodePoints}) THEN {Classify(TrimLeading(quotedColumn))} ELSE {Classify(quotedColumn)} END";

    public virtual string SelectWithPrefix(TableName table, string column, int limit) =>
        $"SELECT {ValueAsText(Quote(column))} FROM {QuoteTable(table)} WHERE {VersionPrefixOf(Quote(column))} = @prefix LIMIT {limit}";

    /// <summary>The schema an unqualified name resolves to, as SQL: DATABASE() on MySQL and MariaDB, whose schema is the database; SQL Server overrides.</summary>
    protected virtual string CurrentSchemaSql => "DATABASE()";

    /// <summary>
    /// Without -Schema, search only the schema an unqualified name resolves to: on MySQL and MariaDB the other schemas are
    /// other databases of the server, never this application's. SQL Server searches every schema of its database.
    /// </summary>
    protected virtual bool SearchesCurrentSchemaOnly => true;

    /// <summary>Schemas that hold the database's own catalog, never an application's table.</summary>
    protected virtual IReadOnlyList<string> SystemSchemas => new[] { "information_schema", "INFORMATION_SCHEMA", "pg_catalog", "sys", "mysql", "performance_schema" };

    /// <summary>
    /// INFORMATION_SCHEMA.COLUMNS joined to the base tables (SQL Server and MySQL use it; PostgreSQL overrides it; names in upper
    /// case, which each of them resolves, even under a case-sensitive catalog collation). The type is judged by DATA_TYPE,
    /// where both resolve alias types to their base type.
    /// </summary>
    public virtual IReadOnlyList<CatalogColumn> TextColumns(DbConnection connection, string? schema, string? table)
    {
        using var command = connection.CreateCommand();
        var system = string.Join(", ", SystemSchemas.Select((_, i) => "@sys" + i));
        for (int i = 0; i < SystemSchemas.Count; i++) AddParameter(command, "@sys" + i, SystemSchemas[i]);
        var where = $"T.TABLE_TYPE = 'BASE TABLE' AND C.TABLE_SCHEMA NOT IN ({system})";
        if (schema is not null) { where += " AND C.TABLE_SCHEMA = @schema"; AddParameter(command, "@schema", schema); }
        else if (SearchesCurrentSchemaOnly) where += $" AND C.TABLE_SCHEMA = {CurrentSchemaSql}";
        if (table is not null) { where += " AND C.TABLE_NAME = @table"; AddParameter(command, "@table", table); }
        command.CommandText =
            "SELECT C.TABLE_SCHEMA, C.TABLE_NAME, C.COLUMN_NAME, C.DATA_TYPE, C.CHARACTER_MAXIMUM_LENGTH, " +
            $"CASE WHEN C.TABLE_SCHEMA = {CurrentSchemaSql} THEN 1 ELSE 0 END " +
            "FROM INFORMATION_SCHEMA.COLUMNS C JOIN INFORMATION_SCHEMA.TABLES T " +
            "ON T.TABLE_CATALOG = C.TABLE_CATALOG AND T.TABLE_SCHEMA = C.TABLE_SCHEMA AND T.TABLE_NAME = C.TABLE_NAME " +
            $"WHERE {where} ORDER BY C.TABLE_SCHEMA, C.TABLE_NAME, C.ORDINAL_POSITION";
        var result = new List<CatalogColumn>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var dataType = Convert.ToString(reader.GetValue(3), System.Globalization.CultureInfo.InvariantCulture) ?? "";
            var length = reader.IsDBNull(4) ? (long?)null : Convert.ToInt64(reader.GetValue(4), System.Globalization.CultureInfo.InvariantCulture);
            var declared = length is null ? dataType : $"{dataType}({(length < 0 ? "max" : length.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))})";
            var type = new ColumnType(declared, dataType.ToLowerInvariant());
            if (!HoldsText(type)) continue;
            result.Add(new CatalogColumn(new TableName(reader.GetString(0), reader.GetString(1)), reader.GetString(2), type,
                Convert.ToInt64(reader.GetValue(5), System.Globalization.CultureInfo.InvariantCulture) == 1));
        }
        return result;
    }

    /// <summary>The key as the page read it; a dialect that types parameters after their column overrides this.</summary>
    public virtual DbParameter AddKeyParameter(DbCommand command, string name, object key, ColumnTarget target) => AddParameter(command, name, key);

    /// <summary>A lost connection; a dialect adds its server's own transient errors.</summary>
    public virtual bool IsTransient(Exception exception) => IsConnectionFailure(exception);

    /// <summary>Nothing where a failed statement leaves the transaction usable (SQLite, SQL Server, MySQL).</summary>
    public virtual void ReadAgainAfterFailure(DbConnection connection)
    {
    }

    public abstract string CreateChunkTable(TableName chunks);

    public virtual string SelectChunkPage(ColumnTarget target, int limit, bool fromStart, bool toEnd)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        return $"SELECT {KeyAsText(k, target.KeyType)}, {ValueAsText(c)} FROM {QuoteTable(target.Table)} WHERE {c} IS NOT NULL{ChunkBounds(target, fromStart, toEnd)} " +
               $"ORDER BY {QuoteTable(target.Table)}.{k} LIMIT {limit}";
    }

    /// <summary>The chunk's range as conditions on the key: after @after, up to and including @high.</summary>
    protected string ChunkBounds(ColumnTarget target, bool fromStart, bool toEnd)
    {
        var k = Quote(target.KeyColumn);
        return (fromStart ? "" : $" AND {k} > {KeyParameter("@after", target.KeyType)}") + (toEnd ? "" : $" AND {k} <= {KeyParameter("@high", target.KeyType)}");
    }

    public virtual string SelectKeySample(ColumnTarget target, double fraction)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        var sampled = fraction < 1;
        var filter = sampled && RandomFilter(fraction) is { } f ? " AND " + f : "";
        return $"SELECT {KeyAsText(k, target.KeyType)} FROM {QuoteTable(target.Table)}{(sampled ? TableSample(fraction) : "")} WHERE {c} IS NOT NULL{filter} " +
               $"ORDER BY {QuoteTable(target.Table)}.{k}";
    }

    /// <summary>A sampling clause after the table's name (TABLESAMPLE), reading only some of its pages; none by default.</summary>
    protected virtual string TableSample(double fraction) => "";

    /// <summary>A row filter keeping about <paramref name="fraction"/> of the rows, where the database has no TABLESAMPLE.</summary>
    protected virtual string? RandomFilter(double fraction) => null;

    /// <summary>A sample's fraction as a SQL number literal, whatever the culture.</summary>
    protected static string Number(double value) => value.ToString("0.##########", System.Globalization.CultureInfo.InvariantCulture);

    public virtual string SelectForClaim(TableName table, string columns, string where, string orderBy, bool skipLocked) =>
        $"SELECT {columns} FROM {QuoteTable(table)} WHERE {where} ORDER BY {orderBy} FOR UPDATE{(skipLocked ? " SKIP LOCKED" : "")}";

    public virtual bool SkipsLockedRows(DbConnection connection) => true;
}
