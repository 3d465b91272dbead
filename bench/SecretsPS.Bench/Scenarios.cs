using System.Data.Common;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Bench;

/// <summary>
/// The measured scenarios. Each runs alone in a child process (`dotnet SecretsPS.Bench.dll &lt;scenario&gt; …`), so the peak
/// memory it reports is its own, and ends by printing one <see cref="ScenarioResult"/> line.
/// </summary>
public static class Scenarios
{
    public static ScenarioResult Dispatch(string scenario, Args a) => scenario switch
    {
        "baseline" => Baseline(),
        "fernet" => Fernet(a.Int("iterations", 100_000), a.Str("only", "")),
        "engine" => Engine(a),
        "floor" => Floor(a),
        "profile" => Profile(a),
        "statements" => Statements(a),
        "fill" => Fill(a),
        _ => throw new ArgumentException($"Unknown scenario '{scenario}'."),
    };

    private static ISqlDialect Dialect(string provider) =>
        SqlDialect.For(provider switch { "postgres" => DatabaseProvider.PostgreSql, "mysql" => DatabaseProvider.MySql, _ => DatabaseProvider.Sqlite });

    /// <summary>A process that loaded the library, both providers and a key ring, and did nothing: what every scenario starts from.</summary>
    private static ScenarioResult Baseline()
    {
        using var folder = new TempFolder("secretsps-bench-base-");
        using var keys = Dataset.LoadKeys(Dataset.CreateKeyFile(folder.Path));
        _ = keys.Ring.Protect("JBSWY3DPEHPK3PXP");
        using (new NpgsqlConnection()) { }
        using (var c = new SqliteConnection("Data Source=:memory:")) { c.Open(); }
        return new ScenarioResult { Scenario = "baseline", PeakBytes = Probe.PeakBytes() };
    }

    // ---------------------------------------------------------------- Fernet, in-process, per core

    /// <summary>
    /// Single-thread rates, each as operations per second of wall time and per second of this thread's CPU time: on a
    /// shared machine another process can take the core mid-run, and "per core" means per CPU-second of one core.
    /// </summary>
    private static ScenarioResult Fernet(int n, string only)
    {
        var extra = new Dictionary<string, double>();
        using var source = new FernetKey(RandomNumberGenerator.GetBytes(FernetKey.Size));
        using var target = new FernetKey(RandomNumberGenerator.GetBytes(FernetKey.Size));
        var plaintext = Encoding.ASCII.GetBytes("JBSWY3DPEHPK3PXP"); // a 16-byte OTP secret
        var tokens = Enumerable.Range(0, 1024).Select(_ => source.Encrypt(plaintext)).ToArray();

        void Rate(string name, int count, Action<int> op)
        {
            if (only.Length > 0 && name != only) return; // --only <name>: one loop alone, for a profiler
            for (int i = 0; i < Math.Min(count, 20_000); i++) op(i); // warm-up: JIT tiers, thread-local AES/HMAC objects
            // Best of three rounds, the usual guard against a round that shared its core with another process.
            for (int round = 0; round < 3; round++)
            {
                var cpu = ThreadCpu.Seconds();
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < count; i++) op(i);
                var wall = clock.Elapsed.TotalSeconds;
                extra[name + "/s"] = Math.Max(extra.GetValueOrDefault(name + "/s"), count / wall);
                extra[name + "/cpu-s"] = Math.Max(extra.GetValueOrDefault(name + "/cpu-s"), count / Math.Max(1e-9, ThreadCpu.Seconds() - cpu));
            }
        }

        Rate("reencrypt", n, i => source.Reencrypt(tokens[i & 1023], target));
        Rate("encrypt", n, _ => target.Encrypt(plaintext));
        Rate("decrypt", n, i => source.Decrypt(tokens[i & 1023]));

        // The engine's whole per-row CPU work: parse "<version>:<base64url(token)>", re-encrypt, format the new stored value.
        using var folder = new TempFolder("secretsps-bench-fernet-");
        using var keys = Dataset.LoadKeys(Dataset.CreateKeyFile(folder.Path));
        var stored = Enumerable.Range(0, 1024).Select(_ => keys.Ring.Protect("JBSWY3DPEHPK3PXP", "v1")).ToArray();
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Active, false, 512);
        Rate("transform", n, i => transformer.Transform(stored[i & 1023], out _, out _));

        // All cores at once, as the engine's Parallel.For runs a page.
        if (only.Length == 0)
        {
            var all = Stopwatch.StartNew();
            Parallel.For(0, n, i => transformer.Transform(stored[i & 1023], out _, out _));
            extra["transform-all-cores/s"] = n / all.Elapsed.TotalSeconds;
        }
        extra["cores"] = Environment.ProcessorCount;

        // The pieces one re-encryption is made of (FernetKey.Reencrypt = decode + MAC + AES decrypt, IV + AES encrypt +
        // MAC + encode; the transform adds the stored value's outer base64url both ways): what each costs alone. FernetKey's
        // own AES (AesCbc: a per-thread ECB transform, CBC and PKCS7 in C#) and IVs (IvSource: a per-thread buffer) are
        // internal; the one-shot Aes calls and the 16-byte RandomNumberGenerator.Fill timed here are what they replaced.
        int m = Math.Max(20_000, n / 4);
        using var aes = Aes.Create();
        aes.Key = RandomNumberGenerator.GetBytes(16);
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, RandomNumberGenerator.GetBytes(16));
        var iv = RandomNumberGenerator.GetBytes(16);
        var block = new byte[32];
        var cipher = aes.EncryptCbc(plaintext, iv);
        var macInput = new byte[57];
        var mac = new byte[32];
        var tokenBytes = new byte[89];
        Rate("piece.aes-encrypt", m, _ => aes.TryEncryptCbc(plaintext, iv, block, out _));
        Rate("piece.aes-decrypt", m, _ => aes.TryDecryptCbc(cipher, iv, block, out _));
        Rate("piece.hmac", m, _ => { hmac.AppendData(macInput); hmac.TryGetHashAndReset(mac, out _); });
        Rate("piece.rng16", m, _ => RandomNumberGenerator.Fill(iv));
        Rate("piece.b64-decode-token", m, i => Base64Url.TryDecode(tokens[i & 1023], false, out _));
        Rate("piece.b64-encode-token", m, _ => Base64Url.Encode(tokenBytes));
        Rate("piece.stored-parse", m, i => StoredValue.TryParse(stored[i & 1023], out _));
        var tokenText = tokens[0];
        Rate("piece.stored-format", m, _ => StoredValue.Create("v2", tokenText).ToString());

        return new ScenarioResult { Scenario = "fernet", Rows = n, PeakBytes = Probe.PeakBytes(), Extra = extra };
    }

    // ---------------------------------------------------------------- the engine, as Start-Reencryption runs it

    private static ScenarioResult Engine(Args a)
    {
        var provider = a.Str("provider");
        var dialect = Dialect(provider);
        using var keys = Dataset.LoadKeys(a.Str("keys"));
        var options = new ReencryptionOptions { Table = a.Str("table"), Column = Dataset.Column };
        if (a.Has("batch")) options = options with { BatchSize = a.Int("batch", 500), CommitEvery = a.Int("commit", 1000) };
        if (a.Has("throttle")) options = options with { ThrottleLimit = a.Int("throttle", 1) };
        var cs = a.Str("cs");
        var whatIf = a.Str("whatif", "");
        if (whatIf == "sync")
        {
            // WHAT-IF (--explore only, never a target): commits that do not wait for the disk. PostgreSQL's
            // synchronous_commit=off, given to every connection of the engine through the connection string; a crash may
            // lose the last commits (rows and cursor together) but leaves the database consistent. SQLite's equivalent,
            // PRAGMA synchronous=NORMAL, is per connection and cannot reach the engine's connection from outside the library.
            if (provider != "postgres") throw new ArgumentException("--whatif sync is measured on PostgreSQL only.");
            var builder = new NpgsqlConnectionStringBuilder(cs);
            builder.Options = (builder.Options is { Length: > 0 } o ? o + " " : "") + "-c synchronous_commit=off";
            cs = builder.ConnectionString;
        }
        else if (whatIf.Length > 0) throw new ArgumentException($"Unknown what-if '{whatIf}' (the engine knows 'sync').");
        var engine = new ReencryptionEngine(dialect, cs, DatabaseSignIn.None, keys.Ring);
        int pm = a.Int("pm", 0);

        var server = pm > 0 ? Probe.ServerCpu(pm) : null;
        // The engine's transactions as the server sees them (PostgreSQL: pg_stat_activity.xact_start of its connections).
        using var transactions = provider == "postgres" ? new TransactionSampler(cs) : null;
        int port = provider switch
        {
            "postgres" => new NpgsqlConnectionStringBuilder(cs).Port,
            "mysql" => (int)new MySqlConnector.MySqlConnectionStringBuilder(cs).Port,
            _ => 0,
        };
        var sockets = port > 0 ? Probe.Sockets(port) : null;
        // The server's log written during the run (PostgreSQL's WAL, InnoDB's redo log): the write bandwidth a row costs.
        double? logBefore = LogPosition(provider, cs);
        var (gen0, gen1, gen2, allocated, cpu) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalAllocatedBytes(true), Probe.OwnCpuSeconds());
        var clock = Stopwatch.StartNew();
        var job = engine.Run(options, NullObserver.Instance, CancellationToken.None);
        clock.Stop();
        var extra = new Dictionary<string, double> { ["batch"] = options.BatchSize, ["commit-every"] = options.CommitEvery, ["throttle"] = options.ThrottleLimit };
        if (logBefore is { } lb && LogPosition(provider, cs) is { } la) extra["log.bytes"] = la - lb;
        if (sockets is not null)
        {
            // Read while the engine's connection is still open in the pool, before Verify below uses it.
            var (sent, received, segments) = Probe.SocketsDelta(sockets, Probe.Sockets(port));
            extra["net.sent-bytes"] = sent;
            extra["net.received-bytes"] = received;
            extra["net.segments-sent"] = segments;
        }
        transactions?.StopInto(extra);
        var result = new ScenarioResult
        {
            Scenario = "engine-" + provider,
            Rows = job.Processed,
            Seconds = clock.Elapsed.TotalSeconds,
            ClientCpuSeconds = Probe.OwnCpuSeconds() - cpu,
            ServerCpuSeconds = server is null ? null : Probe.ServerCpuDelta(server, Probe.ServerCpu(pm)),
            AllocatedBytes = GC.GetTotalAllocatedBytes(true) - allocated,
            Gen0 = GC.CollectionCount(0) - gen0,
            Gen1 = GC.CollectionCount(1) - gen1,
            Gen2 = GC.CollectionCount(2) - gen2,
            PeakBytes = Probe.PeakBytes(),
            Extra = extra,
            Note = $"job {job.Id} {job.Status}: processed {job.Processed}, skipped {job.Skipped}, errors {job.Errors}; batch {options.BatchSize}, commit every {options.CommitEvery}, throttle {options.ThrottleLimit}" +
                   (whatIf.Length > 0 ? $"; what-if {whatIf}" : ""),
        };
        if (job.StatusKind != JobStatus.Finished || job.Errors != 0 || job.Processed != a.Long("expect", job.Processed))
            throw new InvalidOperationException($"The engine did not re-encrypt every row: {result.Note}; expected {a.Str("expect")}.");
        Verify(dialect, cs, a.Str("table"), keys.Ring, job.Processed);
        return result;
    }

    /// <summary>Bytes of log the server has written so far (PostgreSQL: WAL position; MariaDB: Innodb_os_log_written), or null.</summary>
    private static double? LogPosition(string provider, string cs)
    {
        string? sql = provider switch
        {
            "postgres" => "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')",
            "mysql" => "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_OS_LOG_WRITTEN'",
            _ => null,
        };
        if (sql is null) return null;
        using System.Data.Common.DbConnection connection = provider == "postgres"
            ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString)
            : new MySqlConnector.MySqlConnection(new MySqlConnector.MySqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToDouble(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>After the run (not timed): every non-NULL value is at v2, and a sample decrypts with the ring to the row's plaintext.</summary>
    private static void Verify(ISqlDialect dialect, string cs, string table, KeyRing ring, long expected)
    {
        using var connection = dialect.CreateConnection(cs, DatabaseSignIn.None, readOnly: true);
        connection.Open();
        using (var count = connection.CreateCommand())
        {
            count.CommandText = $"SELECT COUNT(*) FROM {table} WHERE {Dataset.Column} LIKE 'v2:%'";
            var atTarget = Convert.ToInt64(count.ExecuteScalar());
            if (atTarget != expected) throw new InvalidOperationException($"{atTarget} values are at v2 after the run; expected {expected}.");
        }
        using var sample = connection.CreateCommand();
        sample.CommandText = $"SELECT id, {Dataset.Column} FROM {table} WHERE id % 997 = 1 ORDER BY id";
        using var reader = sample.ExecuteReader();
        while (reader.Read())
        {
            var id = Convert.ToInt64(reader.GetValue(0));
            var value = reader.IsDBNull(1) ? null : reader.GetString(1);
            var plain = Dataset.Plaintext(id);
            if ((value is null) != (plain is null) || (value is not null && ring.UnprotectToString(value) != plain))
                throw new InvalidOperationException($"Row {id} does not decrypt to its plaintext after the run.");
        }
    }

    /// <summary>
    /// For experiments against a server of one's own: `fill --provider postgres|mysql --cs CS --keys FILE --rows N [--copies a,b]`
    /// creates the key file when it is missing and fills the benchmark's table (and its copies) as the orchestrator does.
    /// </summary>
    private static ScenarioResult Fill(Args a)
    {
        var keyFile = a.Str("keys");
        if (!File.Exists(keyFile)) Dataset.CreateKeyFile(Path.GetDirectoryName(Path.GetFullPath(keyFile))!);
        using var keys = Dataset.LoadKeys(keyFile);
        var copies = a.Str("copies", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        long rows = a.Long("rows", 100_000);
        if (a.Str("provider") == "mysql") Dataset.FillMySql(a.Str("cs"), keys.Ring, rows, copies);
        else Dataset.FillPostgres(a.Str("cs"), keys.Ring, rows, copies);
        return new ScenarioResult { Scenario = "fill", Rows = Dataset.NonNullCount(rows) };
    }

    // ---------------------------------------------------------------- the floor: the database rewriting the same rows itself

    private static ScenarioResult Floor(Args a)
    {
        var provider = a.Str("provider");
        var dialect = Dialect(provider);
        var table = a.Str("table");
        int pm = a.Int("pm", 0);
        using var connection = dialect.CreateConnection(a.Str("cs"), DatabaseSignIn.None, readOnly: false);
        connection.Open();
        WaitSampler? sampler = null;
        if (provider == "postgres")
        {
            using var pid = connection.CreateCommand();
            pid.CommandText = "SELECT pg_backend_pid()";
            sampler = new WaitSampler(a.Str("cs"), Convert.ToInt32(pid.ExecuteScalar()));
        }
        var server = pm > 0 ? Probe.ServerCpu(pm) : null;
        double? logBefore = LogPosition(provider, a.Str("cs"));
        var cpu = Probe.OwnCpuSeconds();
        var clock = Stopwatch.StartNew();
        long rows;
        using (var transaction = dialect.BeginWrite(connection))
        {
            using var update = connection.CreateCommand();
            update.Transaction = transaction;
            update.CommandTimeout = 0;
            // PostgreSQL writes a new row version for SET c = c. SQLite does not: its b-tree skips an overwrite with identical
            // bytes and no page is written, so its floor changes the prefix (v1 → v2, same length: what the engine changes too).
            // InnoDB skips SET c = c as well (an unchanged row is matched, not written): MySQL's floor changes the prefix too.
            update.CommandText = provider switch
            {
                "postgres" => $"UPDATE {table} SET {Dataset.Column} = {Dataset.Column} WHERE {Dataset.Column} IS NOT NULL",
                "mysql" => $"UPDATE {table} SET {Dataset.Column} = CONCAT('v2', SUBSTRING({Dataset.Column}, 3)) WHERE {Dataset.Column} IS NOT NULL",
                _ => $"UPDATE {table} SET {Dataset.Column} = 'v2' || substr({Dataset.Column}, 3) WHERE {Dataset.Column} IS NOT NULL",
            };
            rows = update.ExecuteNonQuery();
            transaction.Commit();
        }
        clock.Stop();
        var extra = new Dictionary<string, double>();
        if (logBefore is { } lb && LogPosition(provider, a.Str("cs")) is { } la) extra["log.bytes"] = la - lb;
        sampler?.StopInto(extra);
        sampler?.Dispose();
        return new ScenarioResult
        {
            Scenario = "floor-" + provider,
            Extra = extra,
            Rows = rows,
            Seconds = clock.Elapsed.TotalSeconds,
            ClientCpuSeconds = Probe.OwnCpuSeconds() - cpu,
            ServerCpuSeconds = server is null ? null : Probe.ServerCpuDelta(server, Probe.ServerCpu(pm)),
            PeakBytes = Probe.PeakBytes(),
        };
    }

    // ---------------------------------------------------------------- profile: the engine's former serial loop, phase by phase

    /// <summary>
    /// The engine's FORMER serial loop — read a keyset page, transform it across the cores, the guarded batch update,
    /// every CommitEvery rows the job row and COMMIT, one phase after the other — rebuilt from the library's public
    /// pieces with a stopwatch around each phase (the library itself is not changed for the benchmark). It is not the
    /// current ReencryptionEngine.Process, which overlaps them (page N transformed on the pool while N-1 is written and
    /// N+1 read), and its total is not the engine's rate: it is a breakdown of what each phase costs on its own. For
    /// PostgreSQL the backend's CPU is read around each phase too, so waiting (network, fsync) shows apart from work.
    /// </summary>
    private static ScenarioResult Profile(Args a)
    {
        var provider = a.Str("provider");
        var dialect = Dialect(provider);
        var cs = a.Str("cs");
        using var keys = Dataset.LoadKeys(a.Str("keys"));
        int batch = a.Int("batch", 500), commitEvery = a.Int("commit", 1000);
        int pm = a.Int("pm", 0);

        using var connection = dialect.CreateConnection(cs, DatabaseSignIn.None, readOnly: false);
        connection.Open();
        int backend = 0;
        if (provider == "postgres")
        {
            using var pid = connection.CreateCommand();
            pid.CommandText = "SELECT pg_backend_pid()";
            backend = Convert.ToInt32(pid.ExecuteScalar());
        }
        double BackendCpu() => backend > 0 ? Probe.ProcessCpuSeconds(backend) : 0;

        var (target, store, job) = StartJob(dialect, connection, a.Str("table"), keys.Ring, batch, commitEvery, "bench-profile");
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Active, false, target.MaxLength);

        List<RowUpdate> TransformPage(List<(object Key, string Value)> page)
        {
            var results = new string?[page.Count];
            Parallel.For(0, page.Count, i => results[i] = transformer.Transform(page[i].Value, out var n, out _) == RowOutcome.Reencrypted ? n : null);
            var list = new List<RowUpdate>(page.Count);
            for (int i = 0; i < page.Count; i++)
                if (results[i] is { } n) list.Add(new RowUpdate(page[i].Key, page[i].Value, n));
            return list;
        }

        var phases = new[] { "read", "transform", "update", "commit" };
        var wall = new double[4];
        var serverCpu = new double[4];
        var clientCpu = new double[4];
        var stopwatch = new Stopwatch();
        // Client CPU of a phase: the calling thread's for read, update and commit (the connection's work; the pool's
        // threads spinning after a Parallel.For would otherwise be charged to them), the whole process's for the transform.
        T Timed<T>(int phase, Func<T> work)
        {
            var s0 = BackendCpu();
            var c0 = phase == 1 ? Probe.OwnCpuSeconds() : ThreadCpu.Seconds();
            stopwatch.Restart();
            var r = work();
            wall[phase] += stopwatch.Elapsed.TotalSeconds;
            clientCpu[phase] += (phase == 1 ? Probe.OwnCpuSeconds() : ThreadCpu.Seconds()) - c0;
            serverCpu[phase] += BackendCpu() - s0;
            return r;
        }

        using var sampler = backend > 0 ? new WaitSampler(cs, backend) : null;

        var allServer = pm > 0 ? Probe.ServerCpu(pm) : null;
        var cpu = Probe.OwnCpuSeconds();
        var clock = Stopwatch.StartNew();
        long done = 0, sinceCommit = 0, pages = 0;
        DbTransaction? transaction = null;

        void Write(List<RowUpdate> updates, object lastKey, int pageRows)
        {
            var written = Timed(2, () => dialect.UpdateGuarded(connection, transaction!, target, updates));
            done += written.Count;
            sinceCommit += pageRows;
            job = new ReencryptJob(job) { Processed = done, LastKey = dialect.CursorText(lastKey) };
            if (sinceCommit >= commitEvery)
            {
                Timed(3, () => { store.SaveState(connection, transaction!, new ReencryptJob(job) { UpdatedAt = DateTime.UtcNow }); transaction!.Commit(); transaction.Dispose(); transaction = null; return 0; });
                sinceCommit = 0;
            }
        }
        List<(object Key, string Value)> Read(object? after) => Timed(0, () =>
        {
            transaction ??= dialect.BeginWrite(connection);
            return ReadPage(dialect, connection, transaction, target, after, batch);
        });

        object? cursor = null;
        while (true)
        {
            var page = Read(cursor);
            if (page.Count == 0) break;
            pages++;
            var updates = Timed(1, () => TransformPage(page));
            cursor = page[^1].Key;
            Write(updates, cursor, page.Count);
        }
        Timed(3, () => { transaction ??= dialect.BeginWrite(connection); store.SaveState(connection, transaction, new ReencryptJob(job) { StatusKind = JobStatus.Finished }); transaction.Commit(); transaction.Dispose(); return 0; });
        clock.Stop();
        var extra = new Dictionary<string, double> { ["pages"] = pages };
        sampler?.StopInto(extra);
        for (int i = 0; i < 4; i++)
        {
            extra[phases[i] + ".s"] = wall[i];
            extra[phases[i] + ".client-cpu.s"] = clientCpu[i];
            if (backend > 0) extra[phases[i] + ".backend-cpu.s"] = serverCpu[i];
        }
        return new ScenarioResult
        {
            Scenario = "profile-" + provider,
            Rows = done,
            Seconds = clock.Elapsed.TotalSeconds,
            ClientCpuSeconds = Probe.OwnCpuSeconds() - cpu,
            ServerCpuSeconds = allServer is null ? null : Probe.ServerCpuDelta(allServer, Probe.ServerCpu(pm)),
            PeakBytes = Probe.PeakBytes(),
            Extra = extra,
            Note = $"the engine's former serial loop; batch {batch}, commit every {commitEvery}",
        };
    }

    // ---------------------------------------------------------------- the database's share: the engine's statements, no client work

    /// <summary>
    /// What a re-encryption asks of the database and nothing else: the engine's own statements in the engine's order on one
    /// connection — the count at the start, the keyset page (the dialect's SelectPage), the guarded batch update
    /// (UpdateGuarded: by key, each row only if it still holds what was read, the count exact), the job row and a COMMIT
    /// every CommitEvery rows, the proof of completion at the end (the count by version over the whole column) — with a
    /// "transform" that costs the client nothing (the v1 prefix swapped for v2, same length, no cryptography). No client,
    /// however fast, re-encrypts with these guarantees in less time than this: it is the bound of issue #15's ratio to
    /// the floor, measured in the same run on a fresh copy of the same rows.
    /// </summary>
    private static ScenarioResult Statements(Args a)
    {
        var provider = a.Str("provider");
        var dialect = Dialect(provider);
        var cs = a.Str("cs");
        using var keys = Dataset.LoadKeys(a.Str("keys"));
        int batch = a.Int("batch", ReencryptionDefaults.BatchSize), commitEvery = a.Int("commit", ReencryptionDefaults.CommitEvery);
        int pm = a.Int("pm", 0);
        using var connection = dialect.CreateConnection(cs, DatabaseSignIn.None, readOnly: false);
        connection.Open();
        var (target, store, job) = StartJob(dialect, connection, a.Str("table"), keys.Ring, batch, commitEvery, "bench-statements");
        var targetPrefix = keys.Ring.Active.Name + ":";

        var server = pm > 0 ? Probe.ServerCpu(pm) : null;
        var cpu = Probe.OwnCpuSeconds();
        var clock = Stopwatch.StartNew();
        var phase = Stopwatch.StartNew();
        using (var count = connection.CreateCommand())
        {
            count.CommandText = dialect.CountNonNull(target.Table, target.Column);
            count.CommandTimeout = 0;
            job = new ReencryptJob(job) { TotalRows = Convert.ToInt64(count.ExecuteScalar()) };
        }
        var countSeconds = phase.Elapsed.TotalSeconds;
        long done = 0, sinceCommit = 0;
        DbTransaction? transaction = null;
        object? cursor = null;
        var updates = new List<RowUpdate>(batch);
        while (true)
        {
            transaction ??= dialect.BeginWrite(connection);
            var page = ReadPage(dialect, connection, transaction, target, cursor, batch);
            if (page.Count == 0) break;
            updates.Clear();
            foreach (var (key, value) in page)
                if (!value.StartsWith(targetPrefix, StringComparison.Ordinal))
                    updates.Add(new RowUpdate(key, value, targetPrefix + value[(value.IndexOf(':') + 1)..]));
            done += dialect.UpdateGuarded(connection, transaction, target, updates).Count;
            cursor = page[^1].Key;
            sinceCommit += page.Count;
            if (sinceCommit >= commitEvery)
            {
                store.SaveState(connection, transaction, new ReencryptJob(job) { Processed = done, LastKey = dialect.CursorText(cursor), UpdatedAt = DateTime.UtcNow });
                transaction.Commit();
                transaction.Dispose();
                transaction = null;
                sinceCommit = 0;
            }
        }
        store.SaveState(connection, transaction!, new ReencryptJob(job) { Processed = done, UpdatedAt = DateTime.UtcNow });
        transaction!.Commit();
        transaction.Dispose();
        phase.Restart();
        var proof = CompletionProof.Count(dialect, connection, target, keys.Ring, keys.Ring.Active.Name);
        var proofSeconds = phase.Elapsed.TotalSeconds;
        using (var t = dialect.BeginWrite(connection))
        {
            store.SaveState(connection, t, new ReencryptJob(job) { StatusKind = proof.Complete ? JobStatus.Finished : JobStatus.Incomplete, Processed = done, FinishedAt = DateTime.UtcNow });
            t.Commit();
        }
        clock.Stop();
        if (!proof.Complete) throw new InvalidOperationException($"The statements left {proof.BelowTarget} row(s) below the target version.");
        return new ScenarioResult
        {
            Scenario = "statements-" + provider,
            Rows = done,
            Seconds = clock.Elapsed.TotalSeconds,
            ClientCpuSeconds = Probe.OwnCpuSeconds() - cpu,
            ServerCpuSeconds = server is null ? null : Probe.ServerCpuDelta(server, Probe.ServerCpu(pm)),
            PeakBytes = Probe.PeakBytes(),
            Extra = new Dictionary<string, double> { ["count.s"] = countSeconds, ["proof.s"] = proofSeconds },
            Note = $"the engine's statements, no cryptography; batch {batch}, commit every {commitEvery}",
        };
    }

    /// <summary>The target resolved, the job tables made, and a running job row for a loop rebuilt from the library's pieces.</summary>
    private static (ColumnTarget Target, JobStore Store, ReencryptJob Job) StartJob(ISqlDialect dialect, DbConnection connection, string table, KeyRing ring,
        int batch, int commitEvery, string owner)
    {
        var target = ColumnTarget.Resolve(dialect, connection, table, Dataset.Column, null);
        var store = new JobStore(dialect);
        store.EnsureTables(connection);
        var now = DateTime.UtcNow;
        var job = new ReencryptJob(0, target.Table.ToString(), target.Column, target.KeyColumn, ring.Active.Name, JobStatus.Running,
            0, 0, 0, 0, null, batch, commitEvery, now, now, now, null, owner, null);
        using var t = dialect.BeginWrite(connection);
        job = new ReencryptJob(job) { Id = store.Insert(connection, t, job) };
        t.Commit();
        return (target, store, job);
    }

    /// <summary>As ReencryptionEngine.ReadPage: the dialect's keyset page, key and value of each row.</summary>
    private static List<(object Key, string Value)> ReadPage(ISqlDialect dialect, DbConnection connection, DbTransaction transaction, ColumnTarget target,
        object? after, int limit)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = dialect.SelectPage(target, limit, fromStart: after is null);
        if (after is not null) SqlDialect.AddParameter(command, "@after", after);
        var page = new List<(object, string)>(limit);
        using var reader = command.ExecuteReader();
        while (reader.Read()) page.Add((dialect.ReadKey(reader, 0), reader.GetString(1)));
        return page;
    }
}

/// <summary>
/// What one PostgreSQL backend is doing, sampled every 10 ms from a second connection (pg_stat_activity's wait event):
/// "Client:ClientRead" is the server waiting for the client, "CPU (running)" a backend at work with no wait event,
/// "IO:…" and "LWLock:…" waits for the disk and for shared structures (the WAL among them).
/// </summary>
public sealed class TransactionSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<DateTime, double> _longest = new(); // xact_start -> longest age seen, ms
    private readonly Task _task;

    /// <summary>
    /// Every 5 ms, the age of each open writing transaction of the engine's connections (application_name SecretsPS, the one
    /// CreateConnection gives them): a transaction's duration, and so the longest any row it wrote stayed locked, to
    /// within the sampling interval (a transaction shorter than that may not be seen at all).
    /// </summary>
    public TransactionSampler(string connectionString)
    {
        _task = Task.Factory.StartNew(() =>
        {
            using var watch = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "bench-transactions" }.ConnectionString);
            watch.Open();
            using var query = new NpgsqlCommand(
                "SELECT xact_start, EXTRACT(EPOCH FROM clock_timestamp() - xact_start) * 1000 FROM pg_stat_activity " +
                "WHERE application_name = 'SecretsPS' AND xact_start IS NOT NULL AND backend_xid IS NOT NULL AND state <> 'idle'", watch);
            query.Prepare();
            while (!_stop.IsCancellationRequested)
            {
                using (var reader = query.ExecuteReader())
                {
                    while (reader.Read())
                    {
                        var start = reader.GetDateTime(0);
                        var age = Convert.ToDouble(reader.GetValue(1));
                        _longest[start] = Math.Max(_longest.GetValueOrDefault(start), age);
                    }
                }
                Thread.Sleep(5);
            }
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>Adds "tx.count", "tx.median-ms", "tx.p95-ms", "tx.max-ms" of the transactions seen.</summary>
    public void StopInto(Dictionary<string, double> extra)
    {
        _stop.Cancel();
        _task.Wait();
        var ages = _longest.Values.Order().ToList();
        if (ages.Count == 0) return;
        extra["tx.count"] = ages.Count;
        extra["tx.median-ms"] = ages[ages.Count / 2];
        extra["tx.p95-ms"] = ages[Math.Min(ages.Count - 1, (int)(ages.Count * 0.95))];
        extra["tx.max-ms"] = ages[^1];
    }

    public void Dispose()
    {
        if (!_stop.IsCancellationRequested) { _stop.Cancel(); try { _task.Wait(); } catch (AggregateException) { } }
        _stop.Dispose();
    }
}

public sealed class WaitSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, int> _counts = new();
    private readonly Task _task;

    public WaitSampler(string connectionString, int backendPid)
    {
        _task = Task.Factory.StartNew(() =>
        {
            using var watch = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "bench-sampler" }.ConnectionString);
            watch.Open();
            using var query = new NpgsqlCommand("SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE pid = @pid", watch);
            query.Parameters.AddWithValue("pid", backendPid);
            query.Prepare();
            while (!_stop.IsCancellationRequested)
            {
                using (var reader = query.ExecuteReader())
                {
                    if (reader.Read())
                    {
                        var state = reader.IsDBNull(0) ? "" : reader.GetString(0);
                        var key = reader.IsDBNull(1) ? (state == "active" ? "CPU (running)" : state) : reader.GetString(1) + ":" + reader.GetString(2);
                        lock (_counts) _counts[key] = _counts.GetValueOrDefault(key) + 1;
                    }
                }
                Thread.Sleep(10);
            }
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>Stops sampling and adds "wait.&lt;event&gt;" = sample count for each event seen.</summary>
    public void StopInto(Dictionary<string, double> extra)
    {
        _stop.Cancel();
        _task.Wait();
        lock (_counts)
            foreach (var (k, v) in _counts) extra["wait." + k] = v;
    }

    public void Dispose()
    {
        if (!_stop.IsCancellationRequested) { _stop.Cancel(); try { _task.Wait(); } catch (AggregateException) { } }
        _stop.Dispose();
    }
}

public sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix) => Path = Directory.CreateTempSubdirectory(prefix).FullName;
    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>`--name value` pairs.</summary>
public sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    public Args(IEnumerable<string> args)
    {
        string? name = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal)) { name = arg[2..]; _values[name] = "true"; }
            else if (name is not null) { _values[name] = arg; name = null; }
            else throw new ArgumentException($"Unexpected argument '{arg}'.");
        }
    }

    public bool Has(string name) => _values.ContainsKey(name);
    public string Str(string name) => _values.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required.");
    public string Str(string name, string fallback) => _values.GetValueOrDefault(name, fallback);
    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v) : fallback;
    public long Long(string name, long fallback) => _values.TryGetValue(name, out var v) ? long.Parse(v) : fallback;
}
