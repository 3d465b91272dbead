using System.Data.Common;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Data;

/// <summary>Counts a column's values by version prefix in the database (one GROUP BY), never reading the values into the process.</summary>
public static class ColumnStatusReader
{
    public static EncryptedColumnStatus Read(ISqlDialect dialect, DbConnection connection, string table, string column, KeyRing ring,
        CancellationToken cancellation = default) =>
        Read(dialect, connection, Identifier.ParseTable(table), column, ring, cancellation);

    public static EncryptedColumnStatus Read(ISqlDialect dialect, DbConnection connection, TableName tableName, string column, KeyRing ring,
        CancellationToken cancellation = default)
    {
        ColumnTarget.RequireColumn(dialect, connection, tableName, column);

        long total = 0, nulls = 0, notCiphertext = 0, unknown = 0;
        var byVersion = new SortedDictionary<string, long>(StringComparer.Ordinal);
        using var command = connection.CreateCommand();
        command.CommandText = dialect.CountByPrefix(tableName, column);
        // A full read of the column: on a table of hundreds of millions of rows it takes longer than any default command
        // timeout (30 s), and a count that always times out would leave every job there unfinished. Ctrl+C cancels it.
        command.CommandTimeout = 0;
        using var stop = cancellation.Register(command.Cancel);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            long count = Convert.ToInt64(reader.GetValue(1));
            total += count;
            if (reader.IsDBNull(0)) { nulls += count; continue; }
            var prefix = reader.GetString(0);
            if (!VersionName.IsValid(prefix)) { notCiphertext += count; continue; }
            byVersion[prefix] = byVersion.GetValueOrDefault(prefix) + count;
            if (!ring.TryGet(prefix, out _)) unknown += count;
        }
        return new EncryptedColumnStatus(tableName.ToString(), column, ring.Active.Name, total, nulls, notCiphertext, unknown,
            byVersion.GetValueOrDefault(ring.Active.Name), byVersion);
    }
}
