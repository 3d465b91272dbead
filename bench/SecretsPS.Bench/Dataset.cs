using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Bench;

/// <summary>
/// The table the benchmark re-encrypts, shaped like a column of OTP secrets: base32 secrets of 16–32
/// characters, 10% NULL, 8% with a few non-ASCII characters (so 2–3 UTF-8 bytes each), encrypted under v1
/// while v2 is the active version (the state right after a rotation). Row i's plaintext depends only on i.
/// </summary>
public static class Dataset
{
    public const string Table = "otp_secrets";
    public const string Column = "secret";
    private const int Chunk = 20_000;
    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const string NonAscii = "éñüçßøåЖж密码ü€";

    /// <summary>A key file with v1 and v2 (active) in <paramref name="folder"/>.</summary>
    public static string CreateKeyFile(string folder)
    {
        var path = Path.Combine(folder, ".env.crypto");
        KeyFileOperations.Create(path, "v1", KeyVersion.DefaultKeyBytes, KeyVersion.DefaultSaltBytes, kdf: null, overwrite: false);
        KeyFileOperations.Rotate(path, new RotationOptions { NewVersion = "v2" }, NoEnvironment);
        return path;
    }

    /// <summary>Key files are read without the process environment: an ACTIVE_ENCRYPTION_VERSION in it must not change the run.</summary>
    public static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();

    public static KeyConfiguration LoadKeys(string keyFile) => KeyConfiguration.Load(keyFile, NoEnvironment);

    public static string? Plaintext(long i)
    {
        var r = new SplitMix(i);
        if (r.Next(100) < 10) return null;
        int length = 16 + r.Next(17);
        var chars = new char[length];
        for (int k = 0; k < length; k++) chars[k] = Base32[r.Next(32)];
        if (r.Next(100) < 8)
        {
            int n = 1 + r.Next(4);
            for (int k = 0; k < n; k++) chars[r.Next(length)] = NonAscii[r.Next(NonAscii.Length)];
        }
        return new string(chars);
    }

    /// <summary>Non-NULL values among rows 1..rows: what the engine re-encrypts and the floor rewrites.</summary>
    public static long NonNullCount(long rows)
    {
        long n = 0;
        for (long i = 1; i <= rows; i++) if (Plaintext(i) is not null) n++;
        return n;
    }

    private static string?[] Values(KeyRing ring, long first, int count)
    {
        var values = new string?[count];
        Parallel.For(0, count, k =>
        {
            var p = Plaintext(first + k);
            values[k] = p is null ? null : ring.Protect(p, "v1");
        });
        return values;
    }

    private static string UserName(long id) => $"user{id:D7}@example.com";

    public static void FillPostgres(string connectionString, KeyRing ring, long rows, params string[] copies)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        Exec(connection, $"CREATE TABLE {Table} (id bigint PRIMARY KEY, user_name text NOT NULL, {Column} varchar(512))");
        using (var writer = connection.BeginBinaryImport($"COPY {Table} (id, user_name, {Column}) FROM STDIN (FORMAT BINARY)"))
        {
            for (long first = 1; first <= rows; first += Chunk)
            {
                int count = (int)Math.Min(Chunk, rows - first + 1);
                var values = Values(ring, first, count);
                for (int k = 0; k < count; k++)
                {
                    writer.StartRow();
                    writer.Write(first + k, NpgsqlDbType.Bigint);
                    writer.Write(UserName(first + k), NpgsqlDbType.Text);
                    if (values[k] is { } v) writer.Write(v, NpgsqlDbType.Varchar);
                    else writer.WriteNull();
                }
            }
            writer.Complete();
        }
        // Identical physical copies for the floor and the profile: each measurement starts from a freshly loaded table.
        foreach (var copy in copies)
        {
            Exec(connection, $"CREATE TABLE {copy} (LIKE {Table} INCLUDING ALL)");
            Exec(connection, $"INSERT INTO {copy} SELECT * FROM {Table} ORDER BY id");
        }
        // Background vacuum off on the measured tables: it would run at an arbitrary moment of one measurement and not the other.
        foreach (var t in copies.Prepend(Table))
        {
            Exec(connection, $"ALTER TABLE {t} SET (autovacuum_enabled = false)");
            Exec(connection, $"VACUUM (ANALYZE) {t}");
        }
        Exec(connection, "CHECKPOINT");
    }

    /// <summary>Multi-row INSERTs of 1,000 rows, in one transaction; identical copies by INSERT … SELECT.</summary>
    public static void FillMySql(string connectionString, KeyRing ring, long rows, params string[] copies)
    {
        using var connection = new MySqlConnector.MySqlConnection(connectionString);
        connection.Open();
        Exec(connection, $"CREATE TABLE {Table} (id bigint PRIMARY KEY, user_name varchar(100) NOT NULL, {Column} varchar(512)) ENGINE=InnoDB");
        using (var transaction = connection.BeginTransaction())
        {
            const int perStatement = 1000;
            for (long first = 1; first <= rows; first += Chunk)
            {
                int count = (int)Math.Min(Chunk, rows - first + 1);
                var values = Values(ring, first, count);
                for (int start = 0; start < count; start += perStatement)
                {
                    using var insert = connection.CreateCommand();
                    insert.Transaction = transaction;
                    var sql = new System.Text.StringBuilder($"INSERT INTO {Table} (id, user_name, {Column}) VALUES ");
                    for (int k = start; k < Math.Min(count, start + perStatement); k++)
                    {
                        sql.Append(k == start ? "" : ", ").Append($"({first + k}, '{UserName(first + k)}', ")
                            .Append(values[k] is { } v ? "'" + v + "'" : "NULL").Append(')');
                    }
                    insert.CommandText = sql.ToString();
                    insert.ExecuteNonQuery();
                }
            }
            transaction.Commit();
        }
        foreach (var copy in copies)
        {
            Exec(connection, $"CREATE TABLE {copy} LIKE {Table}");
            Exec(connection, $"INSERT INTO {copy} SELECT * FROM {Table} ORDER BY id");
        }
        foreach (var t in copies.Prepend(Table)) Exec(connection, $"ANALYZE TABLE {t}");
    }

    public static void FillSqlite(string path, KeyRing ring, long rows)
    {
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            connection.Open();
            Exec(connection, "PRAGMA journal_mode=WAL");
            Exec(connection, $"CREATE TABLE {Table} (id INTEGER PRIMARY KEY, user_name TEXT NOT NULL, {Column} VARCHAR(512))");
            using var transaction = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = $"INSERT INTO {Table} (id, user_name, {Column}) VALUES ($id, $user, $value)";
            var id = insert.Parameters.Add("$id", SqliteType.Integer);
            var user = insert.Parameters.Add("$user", SqliteType.Text);
            var value = insert.Parameters.Add("$value", SqliteType.Text);
            insert.Prepare();
            for (long first = 1; first <= rows; first += Chunk)
            {
                int count = (int)Math.Min(Chunk, rows - first + 1);
                var values = Values(ring, first, count);
                for (int k = 0; k < count; k++)
                {
                    id.Value = first + k;
                    user.Value = UserName(first + k);
                    value.Value = (object?)values[k] ?? DBNull.Value;
                    insert.ExecuteNonQuery();
                }
            }
            transaction.Commit();
            Exec(connection, "ANALYZE");
            Exec(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        }
    }

    public static void Exec(System.Data.Common.DbConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 0;
        command.ExecuteNonQuery();
    }

    /// <summary>SplitMix64: a tiny deterministic generator, so row i always holds the same plaintext.</summary>
    private struct SplitMix
    {
        private ulong _state;
        public SplitMix(long seed) => _state = (ulong)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;

        public int Next(int bound)
        {
            _state += 0x9E3779B97F4A7C15UL;
            ulong z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z % (ulong)bound);
        }
    }
}
