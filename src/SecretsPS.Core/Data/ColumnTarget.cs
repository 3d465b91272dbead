using System.Data.Common;
using System.Globalization;

namespace SecretsPS.Core.Data;

/// <summary>
/// An encrypted column, checked against the database: the table and columns exist, the key column is
/// known (given, or the table's single-column primary key), with its type and the column's length.
/// </summary>
public sealed class ColumnTarget
{
    private ColumnTarget(TableName table, string column, string keyColumn, Type keyType, int? maxLength)
    {
        Table = table;
        Column = column;
        KeyColumn = keyColumn;
        KeyType = keyType;
        MaxLength = maxLength;
    }

    public TableName Table { get; }
    public string Column { get; }
    public string KeyColumn { get; }
    public Type KeyType { get; }
    public int? MaxLength { get; }
    public string Name => $"{Table}.{Column}";

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
                0 => throw new SecretsPSException("KeyColumnRequired", ErrorKind.InvalidArgument,
                    Localized.Format(Messages.KeyColumnRequiredNoPrimaryKey, tableName), target: tableName.ToString()),
                _ => throw new SecretsPSException("KeyColumnRequired", ErrorKind.InvalidArgument,
                    Localized.Format(Messages.KeyColumnRequiredCompositeKey, tableName, pk.Count, string.Join(", ", pk)), target: tableName.ToString()),
            };
        }

        Type keyType;
        try
        {
            using var command = connection.CreateCommand();
            command.CommandText = dialect.Probe(tableName, key, column);
            using var reader = command.ExecuteReader();
            keyType = reader.GetFieldType(0);
        }
        catch (DbException e) when (!dialect.IsConnectionFailure(e))
        {
            throw TableNotFound(tableName, e, Localized.Format(Messages.TargetNoColumns, column, key));
        }
        RequireUniqueKey(dialect, connection, tableName, key);
        // SQLite reports no type for a column declared without one: take it from a value.
        if (keyType == typeof(byte[]) || keyType == typeof(object))
        {
            using var sample = connection.CreateCommand();
            sample.CommandText = dialect.SelectSample(tableName, key, 1);
            if (sample.ExecuteScalar() is { } value and not DBNull) keyType = value.GetType();
        }
        return new ColumnTarget(tableName, column, key, keyType, dialect.ColumnMaxLength(connection, tableName, column));
    }

    /// <summary>Keyset paging skips rows whose key repeats or is NULL: such a column is refused, not half processed.</summary>
    private static void RequireUniqueKey(ISqlDialect dialect, DbConnection connection, TableName table, string key)
    {
        using var command = connection.CreateCommand();
        command.CommandText = dialect.KeyStatistics(table, key);
        using var reader = command.ExecuteReader();
        reader.Read();
        long rows = Convert.ToInt64(reader.GetValue(0)), nonNull = Convert.ToInt64(reader.GetValue(1)), distinct = Convert.ToInt64(reader.GetValue(2));
        if (nonNull != rows)
            throw new SecretsPSException("KeyColumnNotUnique", ErrorKind.InvalidArgument,
                Localized.Format(Messages.KeyColumnHasNulls, key, table, rows - nonNull), target: table.ToString());
        if (distinct != nonNull)
            throw new SecretsPSException("KeyColumnNotUnique", ErrorKind.InvalidArgument,
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
            throw TableNotFound(table, e, Localized.Format(Messages.TargetNoColumn, column));
        }
    }

    /// <summary>The cursor as text (the job row's last_key) and back, in the key column's own type.</summary>
    public static string KeyToText(object key) => key switch
    {
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => key.ToString() ?? "",
    };

    public object KeyFromText(string text)
    {
        try
        {
            if (KeyType == typeof(string)) return text;
            if (KeyType == typeof(Guid)) return Guid.Parse(text);
            return Convert.ChangeType(text, KeyType, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new SecretsPSException("CursorInvalid", ErrorKind.InvalidData,
                Localized.Format(Messages.CursorInvalid, text, KeyColumn, KeyType.Name), e);
        }
    }

    private static SecretsPSException TableNotFound(TableName table, Exception inner, string? more = null) =>
        new("TargetNotFound", ErrorKind.ObjectNotFound,
            Localized.Format(Messages.TargetNotFound, table, more is null ? "" : Localized.Format(Messages.CommaSuffix, more)),
            inner, table.ToString());
}
