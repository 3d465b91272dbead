using System.Data.Common;
using System.Globalization;

namespace SecretsPS.Core.Data;

/// <summary>
/// An encrypted column, checked against the database before anything is read: the table and columns exist, the key
/// column is known (given, or the table's single-column primary key), unique, not the encrypted column itself, and of a
/// type the dialect can page exactly; the encrypted column holds text; its declared length.
/// </summary>
public sealed class ColumnTarget
{
    private ColumnTarget(TableName table, string column, string keyColumn, ColumnType keyType, ColumnType columnType, int? maxLength)
    {
        Table = table;
        Column = column;
        KeyColumn = keyColumn;
        KeyType = keyType;
        ColumnType = columnType;
        MaxLength = maxLength;
    }

    public TableName Table { get; }
    public string Column { get; }
    public string KeyColumn { get; }
    /// <summary>The key column's type: the cursor is compared back in it, never through a client-side conversion.</summary>
    public ColumnType KeyType { get; }
    public ColumnType ColumnType { get; }
    public int? MaxLength { get; }
    public string Name => $"{Table}.{Column}";

    /// <summary>A target whose checks were made elsewhere (tests of emitted SQL, tools that know their schema).</summary>
    public static ColumnTarget Declared(TableName table, string column, string keyColumn, ColumnType keyType, ColumnType columnType, int? maxLength = null) =>
        new(table, column, keyColumn, keyType, columnType, maxLength);

    public static ColumnTarget Resolve(ISqlDialect dialect, DbConnection connection, string table, string column, string? keyColumn)
    {
        var tableName = Identifier.ParseTable(table);
        RequireColumn(dialect, connection, tableName, column);
        string key;
        if (keyColumn is not null)
        {
            key = Identifier.Validate(keyColumn, "key column");
        }
        else
        {
            IReadOnlyList<string> pk;
            try { pk = dialect.PrimaryKeyColumns(connection, tableName); }
            catch (DbException e) when (!dialect.IsConnectionFailure(e))
            {
                throw TableNotFound(tableName, e);
            }
            key = pk.Count switch
            {
                1 => pk[0],
                0 => throw new SecretsPSException(ErrorIds.KeyColumnRequired, ErrorKind.InvalidArgument,
                    Localized.Format(Messages.KeyColumnRequiredNoPrimaryKey, tableName), target: tableName.ToString()),
                _ => throw new SecretsPSException(ErrorIds.KeyColumnRequired, ErrorKind.InvalidArgument,
                    Localized.Format(Messages.KeyColumnRequiredCompositeKey, tableName, pk.Count, string.Join(", ", pk)), target: tableName.ToString()),
            };
        }

        // The cursor, the job row and every row-error line hold the key: a key that is the secret itself would put the
        // secret there.
        if (dialect.SameIdentifier(key, column))
            throw new SecretsPSException(ErrorIds.KeyColumnIsEncryptedColumn, ErrorKind.InvalidArgument,
                Localized.Format(Messages.KeyColumnIsEncryptedColumn, key, tableName), target: tableName.ToString());

        try
        {
            using var command = connection.CreateCommand();
            command.CommandText = dialect.Probe(tableName, key, column);
            using var reader = command.ExecuteReader();
        }
        catch (DbException e) when (!dialect.IsConnectionFailure(e))
        {
            throw Diagnose(dialect, connection, tableName, new[] { column, key }, e) ?? TableNotFound(tableName, e, Localized.Format(Messages.TargetNoColumns, column, key));
        }

        var columnType = dialect.DescribeColumn(connection, tableName, column);
        if (!dialect.HoldsText(columnType))
            throw new SecretsPSException(ErrorIds.ColumnTypeUnsupported, ErrorKind.InvalidArgument,
                Localized.Format(Messages.ColumnTypeUnsupported, column, tableName, columnType), target: tableName.ToString());
        var keyType = dialect.DescribeColumn(connection, tableName, key);
        if (!dialect.PagesExactly(keyType))
            throw new SecretsPSException(ErrorIds.KeyColumnTypeUnsupported, ErrorKind.InvalidArgument,
                Localized.Format(Messages.KeyColumnTypeUnsupported, key, tableName, keyType), target: tableName.ToString());
        RequireUniqueKey(dialect, connection, tableName, key);
        return new ColumnTarget(tableName, column, key, keyType, columnType, dialect.ColumnMaxLength(connection, tableName, column));
    }

    /// <summary>Keyset paging skips rows whose key repeats or is NULL: such a column is refused, not half processed.</summary>
    private static void RequireUniqueKey(ISqlDialect dialect, DbConnection connection, TableName table, string key)
    {
        using var command = connection.CreateCommand();
        command.CommandText = dialect.KeyStatistics(table, key);
        command.CommandTimeout = 0; // COUNT(DISTINCT key) reads the whole table: longer than a default timeout on a large one
        using var reader = command.ExecuteReader();
        reader.Read();
        long rows = Convert.ToInt64(reader.GetValue(0)), nonNull = Convert.ToInt64(reader.GetValue(1)), distinct = Convert.ToInt64(reader.GetValue(2));
        if (nonNull != rows)
            throw new SecretsPSException(ErrorIds.KeyColumnNotUnique, ErrorKind.InvalidArgument,
                Localized.Format(Messages.KeyColumnHasNulls, key, table, rows - nonNull), target: table.ToString());
        if (distinct != nonNull)
            throw new SecretsPSException(ErrorIds.KeyColumnNotUnique, ErrorKind.InvalidArgument,
                Localized.Format(Messages.KeyColumnRepeats, key, table, nonNull - distinct), target: table.ToString());
    }

    /// <summary>Fails with TargetNotFound unless the table and column exist (checked with a query that reads no row).</summary>
    public static void RequireColumn(ISqlDialect dialect, DbConnection connection, TableName table, string column)
    {
        Identifier.Validate(column, "column");
        try
        {
            using var probe = connection.CreateCommand();
            probe.CommandText = dialect.ProbeColumn(table, column);
            probe.ExecuteNonQuery();
        }
        catch (DbException e) when (!dialect.IsConnectionFailure(e))
        {
            throw Diagnose(dialect, connection, table, new[] { column }, e) ?? TableNotFound(table, e, Localized.Format(Messages.TargetNoColumn, column));
        }
    }

    /// <summary>A key value as a person reads it (tests, tools); the engine's cursor is the dialect's exact text instead.</summary>
    public static string KeyToText(object key) => key switch
    {
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => key.ToString() ?? "",
    };

    /// <summary>
    /// Which of the two it is, a missing table or a missing column, with the nearest names the database holds; null when
    /// the catalog cannot tell (inside a failed transaction, no right to read it), and the generic message stands.
    /// </summary>
    private static SecretsPSException? Diagnose(ISqlDialect dialect, DbConnection connection, TableName table, IReadOnlyList<string> columns, Exception inner)
    {
        try
        {
            dialect.ReadAgainAfterFailure(connection);
            if (CatalogNames.Columns(dialect, connection, table) is { } present)
            {
                var missing = columns.FirstOrDefault(c => !present.Any(p => dialect.SameIdentifier(p, c)));
                if (missing is null) return null;
                return new SecretsPSException(ErrorIds.TargetNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.TargetColumnNotFound, table, MessageText.Shorten(missing), NearestText(missing, present)),
                    inner, table.ToString());
            }
            var tables = CatalogNames.Tables(dialect, connection);
            // Listed but not readable (no right to it): not a missing table, and the generic message stands.
            if (tables.Contains(table.ToString(), StringComparer.Ordinal)) return null;
            return new SecretsPSException(ErrorIds.TargetNotFound, ErrorKind.ObjectNotFound,
                Localized.Format(Messages.TargetTableNotFound, table, NearestText(table.ToString(), tables)),
                inner, table.ToString());
        }
        catch (DbException e) when (!dialect.IsConnectionFailure(e))
        {
            return null;
        }
    }

    private static string NearestText(string typed, IEnumerable<string> names)
    {
        var nearest = CatalogNames.Nearest(typed, names);
        return nearest.Count == 0 ? "" : Localized.Format(Messages.NearestNames, string.Join(", ", nearest.Select(n => $"'{MessageText.Shorten(n)}'")));
    }

    private static SecretsPSException TableNotFound(TableName table, Exception inner, string? more = null) =>
        new(ErrorIds.TargetNotFound, ErrorKind.ObjectNotFound,
            Localized.Format(Messages.TargetNotFound, table, more is null ? "" : Localized.Format(Messages.CommaSuffix, more)),
            inner, table.ToString());
}
