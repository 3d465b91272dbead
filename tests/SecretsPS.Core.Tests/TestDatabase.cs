using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A real key file made by <see cref="KeyFileOperations.Create"/> and <see cref="KeyFileOperations.Rotate"/>
/// in a temporary folder (default hkdf), loaded without the process environment: the last version is active.
/// </summary>
internal sealed class TestKeys : IDisposable
{
    private TestKeys(string folder, string path)
    {
        Folder = folder;
        Path = path;
        Config = KeyConfiguration.Load(path, KeyFileFixture.NoEnvironment);
    }

    public string Folder { get; }
    public string Path { get; }
    public KeyConfiguration Config { get; }
    public KeyRing Ring => Config.Ring;

    /// <summary>Creates the file with the first version and rotates to each of the others in turn.</summary>
    public static TestKeys Create(params string[] versions)
    {
        var folder = Directory.CreateTempSubdirectory("secretsps-keys-").FullName;
        var path = System.IO.Path.Combine(folder, ".env.crypto");
        KeyFileOperations.Create(path, versions[0], KeyVersion.DefaultKeyBytes, KeyVersion.DefaultSaltBytes, kdf: null, overwrite: false);
        foreach (var v in versions.Skip(1))
            KeyFileOperations.Rotate(path, new RotationOptions { NewVersion = v }, KeyFileFixture.NoEnvironment);
        return new TestKeys(folder, path);
    }

    /// <summary>The stored value of a plaintext under a version, with a chosen token timestamp (the age the application sees).</summary>
    public string ProtectAt(string plaintext, string version, DateTimeOffset time)
    {
        var token = Ring.Get(version).FernetKey.Encrypt(Encoding.UTF8.GetBytes(plaintext), time.ToUnixTimeSeconds(), RandomNumberGenerator.GetBytes(16));
        return StoredValue.Create(version, token).ToString();
    }

    public void Dispose()
    {
        Config.Dispose();
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>A table with a key column and an encrypted column; names are raw (the test quotes them itself).</summary>
internal sealed record TestTable(string? Schema, string Name, string Key, string Column)
{
    /// <summary>What a user passes as -Table: the name as is, or the documented quoted form when it holds a quote or a dot.</summary>
    public string Option
    {
        get
        {
            static string Part(string p) => p.Contains('"') || p.Contains('.') ? "\"" + p.Replace("\"", "\"\"") + "\"" : p;
            return Schema is null ? Part(Name) : Part(Schema) + "." + Part(Name);
        }
    }

    /// <summary>How the job row names the target (TableName.ToString()).</summary>
    public string JobName => Schema is null ? Name : Schema + "." + Name;
}

/// <summary>
/// A fresh database on SQLite (a file in its own temporary folder) or PostgreSQL (a new database on the
/// collection's server), with the few helpers the re-encryption tests need. Identifiers are quoted here
/// by hand (double quotes, embedded quotes doubled), independently of the dialects under test.
/// </summary>
internal abstract class TestDatabase : IDisposable
{
    public abstract DatabaseProvider Provider { get; }
    public ISqlDialect Dialect => SqlDialect.For(Provider);
    public abstract string ConnectionString { get; }

    /// <summary>Column type of the standard integer key (a primary key).</summary>
    public abstract string IntegerKeyType { get; }

    public abstract DbConnection Open();

    /// <summary>A connection as the application would hold one: SQLite waits at most this long for the write lock.</summary>
    public abstract DbConnection OpenApplication(int busyTimeoutSeconds);

    public ReencryptionEngine Engine(KeyRing ring, string? connectionString = null) =>
        new(Dialect, connectionString ?? ConnectionString, DatabaseSignIn.None, ring);

    public static string Q(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

    public static string Q(TestTable table) => table.Schema is null ? Q(table.Name) : Q(table.Schema) + "." + Q(table.Name);

    public int Execute(string sql, params object?[] args)
    {
        using var connection = Open();
        return Execute(connection, null, sql, args);
    }

    public static int Execute(DbConnection connection, DbTransaction? transaction, string sql, params object?[] args)
    {
        using var command = Command(connection, transaction, sql, args);
        return command.ExecuteNonQuery();
    }

    public object? Scalar(string sql, params object?[] args)
    {
        using var connection = Open();
        using var command = Command(connection, null, sql, args);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public long Count(string sql, params object?[] args) => Convert.ToInt64(Scalar(sql, args));

    /// <summary>A command with positional parameters @p0, @p1, …</summary>
    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params object?[] args)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        for (int i = 0; i < args.Length; i++) SqlDialect.AddParameter(command, "@p" + i, args[i]);
        return command;
    }

    /// <summary>CREATE TABLE with the key column (type given, or the standard integer primary key) and the value column.</summary>
    public void CreateTable(TestTable table, string? keyType = null, string columnType = "TEXT")
    {
        if (table.Schema is not null && Provider == DatabaseProvider.PostgreSql) Execute($"CREATE SCHEMA IF NOT EXISTS {Q(table.Schema)}");
        Execute($"CREATE TABLE {Q(table)} ({Q(table.Key)} {keyType ?? IntegerKeyType}, {Q(table.Column)} {columnType})");
    }

    /// <summary>Inserts the rows in one transaction.</summary>
    public virtual void Insert(TestTable table, IEnumerable<(object Key, string? Value)> rows)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using var command = Command(connection, transaction, $"INSERT INTO {Q(table)} ({Q(table.Key)}, {Q(table.Column)}) VALUES (@p0, @p1)", 0L, "");
        foreach (var (key, value) in rows)
        {
            command.Parameters[0].Value = key;
            command.Parameters[1].Value = (object?)value ?? DBNull.Value;
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>Every row: key (as the job row writes it) → stored value or null, in key order of the text.</summary>
    public SortedDictionary<string, string?> Read(TestTable table)
    {
        using var connection = Open();
        using var command = Command(connection, null, $"SELECT {Q(table.Key)}, {Q(table.Column)} FROM {Q(table)}");
        var rows = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        using var reader = command.ExecuteReader();
        while (reader.Read()) rows.Add(ColumnTarget.KeyToText(reader.GetValue(0)), reader.IsDBNull(1) ? null : reader.GetString(1));
        return rows;
    }

    public ReencryptJob? Job(long id, string jobTable = JobStore.DefaultTable)
    {
        using var connection = Open();
        return new JobStore(Dialect, jobTable).Get(connection, null, id);
    }

    public IReadOnlyList<ReencryptJob> Jobs(string jobTable = JobStore.DefaultTable)
    {
        using var connection = Open();
        return new JobStore(Dialect, jobTable).List(connection, null, null, null, 1000);
    }

    /// <summary>reencrypt_job_errors: (job_id, row_key, reason).</summary>
    public List<(long JobId, string RowKey, string Reason)> JobErrors()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT job_id, row_key, reason FROM reencrypt_job_errors ORDER BY job_id");
        var list = new List<(long, string, string)>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add((Convert.ToInt64(reader.GetValue(0)), reader.GetString(1), reader.GetString(2)));
        return list;
    }

    /// <summary>The tables of the database (schema-qualified on PostgreSQL).</summary>
    public abstract IReadOnlyList<string> TableNames();

    /// <summary>Everything a read-only run must leave as it was: the file bytes on SQLite; tables and their contents on PostgreSQL.</summary>
    public abstract string Fingerprint(TestTable table);

    public abstract void Dispose();
}

internal sealed class SqliteTestDatabase : TestDatabase
{
    private readonly string _folder;

    public SqliteTestDatabase()
    {
        // A RAM file system where there is one (Linux): real files, but a commit's fsync costs nothing, so the
        // many small transactions of these tests do not depend on the disk's latency.
        var shm = OperatingSystem.IsLinux() && Directory.Exists("/dev/shm") ? "/dev/shm" : null;
        _folder = shm is null
            ? Directory.CreateTempSubdirectory("secretsps-sqlite-").FullName
            : Directory.CreateDirectory(Path.Combine(shm, "secretsps-sqlite-" + Guid.NewGuid().ToString("N"))).FullName;
        FilePath = Path.Combine(_folder, "app.db");
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false }.ToString()))
        {
            connection.Open(); // creates the file
        }
        ConnectionString = "Data Source=" + FilePath;
    }

    public string FilePath { get; }
    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;
    public override string ConnectionString { get; }
    public override string IntegerKeyType => "INTEGER PRIMARY KEY";

    /// <summary>The test's own connections: not pooled, a generous busy timeout (a concurrent engine holds the write lock per batch).</summary>
    public override DbConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false, DefaultTimeout = 60 }.ToString());
        connection.Open();
        return connection;
    }

    public override DbConnection OpenApplication(int busyTimeoutSeconds)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false, DefaultTimeout = busyTimeoutSeconds }.ToString());
        connection.Open();
        return connection;
    }

    public override IReadOnlyList<string> TableNames()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
        var list = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add(reader.GetString(0));
        return list;
    }

    /// <summary>SHA-256 of every file in the database's folder (the .db and any journal or WAL file).</summary>
    public override string Fingerprint(TestTable table)
    {
        var text = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(_folder).Order(StringComparer.Ordinal))
            text.Append(Path.GetFileName(file)).Append(' ').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)))).Append('\n');
        return text.ToString();
    }

    public override void Dispose()
    {
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { }
    }
}

internal sealed class PostgreSqlTestDatabase : TestDatabase
{
    public PostgreSqlTestDatabase(PostgresServer server)
    {
        ConnectionString = server.CreateDatabase();
    }

    public override DatabaseProvider Provider => DatabaseProvider.PostgreSql;
    public override string ConnectionString { get; }
    public override string IntegerKeyType => "bigint PRIMARY KEY";

    public override DbConnection Open()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        return connection;
    }

    public override DbConnection OpenApplication(int busyTimeoutSeconds)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false, ApplicationName = "the-application" }.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>One statement over arrays: 20,000 rows in well under a second.</summary>
    public override void Insert(TestTable table, IEnumerable<(object Key, string? Value)> rows)
    {
        var list = rows.ToList();
        if (list.Count == 0) return;
        Array keys = list[0].Key switch
        {
            long => list.Select(r => (long)r.Key).ToArray(),
            int => list.Select(r => (int)r.Key).ToArray(),
            short => list.Select(r => (short)r.Key).ToArray(),
            decimal => list.Select(r => (decimal)r.Key).ToArray(),
            string => list.Select(r => (string)r.Key).ToArray(),
            Guid => list.Select(r => (Guid)r.Key).ToArray(),
            DateTime => list.Select(r => (DateTime)r.Key).ToArray(),
            _ => throw new ArgumentException("key type"),
        };
        using var connection = Open();
        using var command = Command(connection, null,
            $"INSERT INTO {Q(table)} ({Q(table.Key)}, {Q(table.Column)}) SELECT * FROM unnest(@p0, @p1)", keys, list.Select(r => r.Value).ToArray());
        command.ExecuteNonQuery();
    }

    public override IReadOnlyList<string> TableNames()
    {
        using var connection = Open();
        using var command = Command(connection, null,
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1");
        var list = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add(reader.GetString(0));
        return list;
    }

    /// <summary>The list of tables, and every row of the table with its system columns (xmin changes on any write, even a same-value update).</summary>
    public override string Fingerprint(TestTable table)
    {
        var text = new StringBuilder(string.Join("\n", TableNames())).Append("\n--\n");
        using var connection = Open();
        using var command = Command(connection, null,
            $"SELECT {Q(table.Key)}::text, {Q(table.Column)}, xmin::text, ctid::text FROM {Q(table)} ORDER BY 1");
        using var reader = command.ExecuteReader();
        while (reader.Read())
            text.Append(reader.GetString(0)).Append('\t').Append(reader.IsDBNull(1) ? "\\N" : reader.GetString(1))
                .Append('\t').Append(reader.GetString(2)).Append('\t').Append(reader.GetString(3)).Append('\n');
        return text.ToString();
    }

    /// <summary>
    /// Closes the idle connections the engine's pools keep (one pool per connection string, each database its own): left
    /// for Npgsql's five idle minutes, a few dozen tests' pools reach the server's max_connections.
    /// </summary>
    public override void Dispose() => NpgsqlConnection.ClearAllPools();
}

/// <summary>What the engine reported: progress snapshots, row failures, info lines; an optional hook on each progress.</summary>
internal sealed class RecordingObserver : IReencryptionObserver
{
    private readonly object _gate = new();

    public Action<ReencryptionProgress, int>? OnProgress { get; init; }
    public List<ReencryptionProgress> Progresses { get; } = new();
    public List<(string Target, string RowKey, string Reason)> Failures { get; } = new();
    public List<string> Infos { get; } = new();

    public void Progress(ReencryptionProgress progress)
    {
        int n;
        lock (_gate)
        {
            Progresses.Add(progress);
            n = Progresses.Count;
        }
        OnProgress?.Invoke(progress, n);
    }

    public void RowFailed(string target, string rowKey, RowError error)
    {
        lock (_gate) Failures.Add((target, rowKey, error.ToString()));
    }

    public void Info(string message)
    {
        lock (_gate) Infos.Add(message);
        OnInfo?.Invoke(message);
    }

    public Action<string>? OnInfo { get; init; }
}
