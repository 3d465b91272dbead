using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>One row's change: the key, the value that was read (the guard), the value to write.</summary>
public readonly record struct RowUpdate(object Key, string OldValue, string NewValue);

/// <summary>
/// Everything that differs between databases, and nothing else: identifier quoting, keyset paging, the
/// guarded batch update, column-length and primary-key lookup, the job tables' DDL and the run lock.
/// </summary>
public interface ISqlDialect
{
    DatabaseProvider Provider { get; }

    /// <summary>A connection with the credential applied; never opened here.</summary>
    DbConnection CreateConnection(string connectionString, DatabaseSignIn signIn, bool readOnly);

    /// <summary>Where a connection string points, for messages: never the password.</summary>
    string Describe(string connectionString);

    string Quote(string identifier);

    string QuoteTable(TableName table);

    /// <summary>
    /// SELECT key, column of the non-NULL rows after the cursor parameter @after (or from the start), in key order. The key
    /// comes back as <see cref="ReadKey"/> reads it, and @after is compared in the key column's own type and collation.
    /// </summary>
    string SelectPage(ColumnTarget target, int limit, bool fromStart);

    /// <summary>A page's key as the engine holds it: exact, so that it finds its row again and its cursor text compares back exactly.</summary>
    object ReadKey(System.Data.Common.DbDataReader reader, int ordinal);

    /// <summary>The job row's cursor (and a row error's key): text that <see cref="KeyFromCursor"/> turns back into the same key.</summary>
    string CursorText(object key);

    /// <summary>The key a cursor text stands for, to bind as @after or @key.</summary>
    object KeyFromCursor(string cursor);

    /// <summary>The column's declared type (domains and alias types resolved), read from the catalog.</summary>
    ColumnType DescribeColumn(DbConnection connection, TableName table, string column);

    /// <summary>True for the text types a stored value can live in (never binary, numeric, JSON…).</summary>
    bool HoldsText(ColumnType type);

    /// <summary>True for key types whose cursor compares back exactly, in the database's own type and collation.</summary>
    bool PagesExactly(ColumnType type);

    /// <summary>True when the database would take both names for the same column.</summary>
    bool SameIdentifier(string a, string b);

    /// <summary>SELECT key, column FROM t WHERE 1 = 0: proves the table and columns exist and tells the key's type.</summary>
    string Probe(TableName table, string keyColumn, string column);

    string CountNonNull(TableName table, string column);

    /// <summary>SELECT COUNT(*), COUNT(key), COUNT(DISTINCT key): proves a key column unique and non-NULL.</summary>
    string KeyStatistics(TableName table, string keyColumn);

    /// <summary>
    /// Rows per version prefix, counted in the database: (prefix or NULL, count); '' for a value that is not ciphertext.
    /// Leading whitespace is skipped as the application's own reading skips it.
    /// </summary>
    string CountByPrefix(TableName table, string column);

    /// <summary>Up to @limit non-NULL values of the column, any order: a sample to prove a key file still reads the data.</summary>
    string SelectSample(TableName table, string column, int limit);

    /// <summary>SELECT column FROM t WHERE 1 = 0: proves the table and column exist.</summary>
    string ProbeColumn(TableName table, string column);

    /// <summary>The current value of one row (@key), for a row changed by someone else since it was read.</summary>
    string SelectOne(ColumnTarget target);

    /// <summary>
    /// Writes each row only if it still holds exactly the value that was read (compared byte for byte, whatever the
    /// column's collation); returns the keys that were written, as <see cref="ReadKey"/> reads them.
    /// </summary>
    IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows);

    IReadOnlyList<string> PrimaryKeyColumns(DbConnection connection, TableName table);

    /// <summary>The declared maximum length in characters, or null for unbounded.</summary>
    int? ColumnMaxLength(DbConnection connection, TableName table, string column);

    IEnumerable<string> CreateJobTables(TableName jobs, TableName errors);

    /// <summary>INSERT INTO jobs (...) VALUES (...) returning the new id, given the column list and parameter names.</summary>
    string InsertReturningId(TableName table, IReadOnlyList<string> columns);

    /// <summary>ORDER BY … with a row limit of @limit applied (dialects spell it differently).</summary>
    string SelectTop(TableName table, string columns, string where, string orderBy);

    /// <summary>Serialises job claims for one target across processes, for the rest of the transaction.</summary>
    void LockTarget(DbConnection connection, DbTransaction transaction, string target);

    /// <summary>A transaction that is allowed to write (SQLite: BEGIN IMMEDIATE, so two writers queue instead of deadlocking).</summary>
    DbTransaction BeginWrite(DbConnection connection);

    /// <summary>A transaction that only reads (-WhatIf), with the same settings for key texts as <see cref="BeginWrite"/>.</summary>
    DbTransaction BeginRead(DbConnection connection);

    /// <summary>What kind of failure an exception thrown while opening a connection is, for a message that sends the operator the right way.</summary>
    ConnectionFailureKind ClassifyConnectionFailure(Exception exception);

    /// <summary>True when the exception means the database cannot be reached (gone, restarting, refused).</summary>
    bool IsConnectionFailure(Exception exception);

    /// <summary>When the server last started (UTC), or null where that cannot be known (SQLite): a job whose heartbeat is older cannot still be running.</summary>
    DateTime? ServerStartTime(DbConnection connection, DbTransaction? transaction);

    /// <summary>
    /// Every column of the base tables (views left out) whose type <see cref="HoldsText"/>, in catalog order, optionally
    /// only in one schema and one table: the columns a stored value can live in, read from the catalog alone.
    /// </summary>
    IReadOnlyList<CatalogColumn> TextColumns(DbConnection connection, string? schema, string? table);

    /// <summary>Up to <paramref name="limit"/> values whose version prefix (as <see cref="CountByPrefix"/> reads it) is @prefix.</summary>
    string SelectWithPrefix(TableName table, string column, int limit);

    /// <summary>Adds a key (a page's cursor @after, a row's @key) as a parameter of the type the key column is compared in.</summary>
    System.Data.Common.DbParameter AddKeyParameter(DbCommand command, string name, object key, ColumnTarget target);

    /// <summary>
    /// True when a run stopped by this failure may continue from its last committed row in the same invocation: a lost
    /// connection, a failover, a throttled or deadlocked batch. Never for an error that would recur (a bad value, a
    /// permission, a constraint).
    /// </summary>
    bool IsTransient(Exception exception);

    /// <summary>
    /// After a statement failed on a read-only connection: lets the connection read again (PostgreSQL ends a transaction at
    /// its first error, and a read-only connection lives in one), so that the failure can still be explained from the catalog.
    /// </summary>
    void ReadAgainAfterFailure(DbConnection connection);

    /// <summary>The chunk table of a job table (FORMATS.md §5): one row per key range of a job, created when missing.</summary>
    string CreateChunkTable(TableName chunks);

    /// <summary>
    /// <see cref="SelectPage"/> within one chunk: after @after (unless <paramref name="fromStart"/>) and, unless
    /// <paramref name="toEnd"/>, up to and including @high, compared in the key column's own type and collation.
    /// </summary>
    string SelectChunkPage(ColumnTarget target, int limit, bool fromStart, bool toEnd);

    /// <summary>
    /// Keys of the non-NULL rows in key order (as <see cref="ReadKey"/> reads them), about <paramref name="fraction"/> of
    /// them sampled without a full sort (1: every key): the candidates for a job's chunk boundaries.
    /// </summary>
    string SelectKeySample(ColumnTarget target, double fraction);

    /// <summary>
    /// SELECT <paramref name="columns"/> of the rows matching <paramref name="where"/> in <paramref name="orderBy"/> order,
    /// each locked for the rest of the transaction, rows another transaction holds skipped (SKIP LOCKED, READPAST) when
    /// <paramref name="skipLocked"/> (otherwise waited for).
    /// </summary>
    string SelectForClaim(TableName table, string columns, string where, string orderBy, bool skipLocked);

    /// <summary>Whether the server behind the connection can skip locked rows (MySQL before 8, MariaDB before 10.6 cannot).</summary>
    bool SkipsLockedRows(DbConnection connection);
}
