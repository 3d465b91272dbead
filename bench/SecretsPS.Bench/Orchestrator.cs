using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Bench;

/// <summary>
/// The parent process: starts PostgreSQL, fills the tables, runs every measured scenario in a child process
/// (so each child's peak memory is its own), then prints one table of rows/s, ratio to the floor, targets, peak memory.
/// </summary>
public static class Orchestrator
{
    private const long TargetRowsPerSecond = 100_000;
    private const double TargetFloorRatio = 3.0;

    /// <summary>Rounds of each database's floor and engine at the defaults; the defaults' targets are judged on the median.</summary>
    private const int DefaultRounds = 3;
    private const double TargetFernetPerCore = 150_000;
    private const double TargetMemoryRatio = 1.2;
    private const long TargetRows = 300_000;
    private const long MemorySmall = 100_000, MemoryLarge = 1_000_000;

    private static readonly StringBuilder Log = new();

    /// <summary>Start-Reencryption's defaults, as the library has them.</summary>
    private static readonly ReencryptionOptions Defaults = new() { Table = "t", Column = "c" };
    private static readonly string DefaultsText = $"-BatchSize {Defaults.BatchSize} -CommitEvery {Defaults.CommitEvery}";

    /// <summary>
    /// The second setting measured on each database: the original CLI's 500/1000 once the defaults differ from it, else
    /// the larger pages and transactions Start-Reencryption's help suggests for a maintenance window.
    /// </summary>
    private static readonly (string Batch, string Commit) Other = Defaults is { BatchSize: 500, CommitEvery: 1000 } ? ("2000", "10000") : ("500", "1000");
    private static readonly string TunedBatch = Other.Batch, TunedCommit = Other.Commit;
    private static readonly string Tuned = $"-BatchSize {TunedBatch} -CommitEvery {TunedCommit}";

    /// <summary>Issue #15's targets for PostgreSQL at the defaults, on the median of the rounds.</summary>
    private const double TargetPgFloorRatio = 2.5, TargetPythonSpeedUp = 5.0;

    /// <summary>
    /// Issue #15's coordination overhead: -ThrottleLimit 1, 2 and 4 on the same rows (PostgreSQL, fresh copies, interleaved
    /// in every round). On 2 cores N workers cannot be faster than one; what they may cost is the overhead of sharing a job.
    /// </summary>
    private static readonly int[] ThrottleSeries = [1, 2, 4];
    private const double TargetCoordinationOverhead = 0.10;

    /// <summary>
    /// --explore (information, no target): the real engine with larger pages, and one what-if — commits that do not wait
    /// for fsync (PostgreSQL only: SQLite's PRAGMA synchronous cannot reach the engine's connection from outside the library).
    /// </summary>
    private static readonly (string Key, string Label, string[] Args, bool Sqlite)[] Explorations =
    [
        ("engine-b5000", "engine -BatchSize 5000 -CommitEvery 20000", ["engine", "--batch", "5000", "--commit", "20000"], true),
        ("whatif-sync", "what-if: engine, defaults, synchronous_commit=off (PostgreSQL only)", ["engine", "--whatif", "sync"], false),
    ];

    private static void Say(string line = "")
    {
        Console.WriteLine(line);
        Log.AppendLine(line);
    }

    public static int Run(Args a)
    {
        long rows = a.Long("rows", TargetRows);
        int fernetIterations = a.Int("fernet-iterations", 100_000);
        bool profile = !a.Has("no-profile");
        bool explore = a.Has("explore");
        int rounds = a.Int("rounds", DefaultRounds);
        if (rounds < 1) throw new ArgumentException("--rounds must be at least 1.");
        // --only postgres,mariadb,sqlite: the databases to measure (quick experiments; the targets of the others are then not measured).
        var only = a.Str("only", "postgres,mariadb,sqlite").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (a.Has("skip-mariadb")) only.Remove("mariadb");
        var total = Stopwatch.StartNew();
        var machine = Machine.Describe();
        var loadBefore = Machine.LoadAverage();

        Say($"SecretsPS benchmark: {rows:N0} rows; each scenario in its own process.");
        using var work = new TempFolder("secretsps-bench-");
        var keyFile = Dataset.CreateKeyFile(work.Path);
        using var keys = Dataset.LoadKeys(keyFile);
        long expected = Timed("counting the non-NULL rows", () => Dataset.NonNullCount(rows));

        var results = new Dictionary<string, ScenarioResult>();
        results["baseline"] = Child("baseline");
        results["fernet"] = Child("fernet", "--iterations", fernetIterations.ToString());

        // ------------------------------------------------------------ PostgreSQL
        string pgVersion;
        if (only.Contains("postgres"))
        {
            using var pg = Timed("starting PostgreSQL (fsync on)", () => new BenchPostgres());
            var cs = pg.CreateDatabase("bench");
            var admin = pg.ConnectionString("bench", pooling: false);
            pgVersion = Scalar(admin, "SELECT version()");
            machine["PostgreSQL"] = $"{pgVersion.Split(" on ")[0]}; fsync={Scalar(admin, "SHOW fsync")}, synchronous_commit={Scalar(admin, "SHOW synchronous_commit")}, " +
                                    $"shared_buffers={Scalar(admin, "SHOW shared_buffers")}, wal_sync_method={Scalar(admin, "SHOW wal_sync_method")} (defaults apart from listen address and port)";
            var copies = new List<string> { "otp_floor", "otp_tuned", "otp_statements" };
            bool python = !a.Has("skip-python");
            if (python) copies.AddRange(["otp_python_seed", "otp_python"]);
            for (int i = 2; python && i <= rounds; i++) copies.Add($"otp_round{i}_python");
            if (profile) copies.Add("otp_profile");
            if (explore) copies.AddRange(Explorations.Select(e => "otp_" + e.Key.Replace('-', '_')));
            for (int i = 2; i <= rounds; i++) copies.AddRange([$"otp_round{i}_floor", $"otp_round{i}_engine", $"otp_round{i}_statements"]);
            bool coordination = !a.Has("skip-coordination");
            for (int i = 1; coordination && i <= rounds; i++) copies.AddRange(ThrottleSeries.Select(n => $"otp_tl{n}_round{i}"));
            Timed($"filling PostgreSQL: {rows:N0} rows by binary COPY, plus {copies.Count} identical copies", () => { Dataset.FillPostgres(admin, keys.Ring, rows, copies.ToArray()); return 0; });
            var pm = pg.PostmasterPid.ToString();

            Checkpoint(admin);
            results["floor-postgres"] = Child("floor", "--provider", "postgres", "--cs", cs, "--table", "otp_floor", "--pm", pm);
            Checkpoint(admin);
            results["engine-postgres"] = Child("engine", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", Dataset.Table, "--expect", expected.ToString(), "--pm", pm);
            Checkpoint(admin);
            results["statements-postgres"] = Child("statements", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", "otp_statements", "--pm", pm);
            Checkpoint(admin);
            results["tuned-postgres"] = Child("engine", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", "otp_tuned", "--expect", expected.ToString(), "--pm", pm,
                "--batch", TunedBatch, "--commit", TunedCommit);
            // The Python loops on the same rows (bench/python_loops.py): the seed-style loop once, the tuned one every round.
            string dsn = $"host=127.0.0.1 port={new NpgsqlConnectionStringBuilder(cs).Port} user=postgres dbname=bench";
            if (python)
            {
                if (PythonChild("tuned", dsn, keyFile, "otp_python", expected, admin) is { } tuned) results["python-tuned-postgres"] = tuned;
                if (PythonChild("seed", dsn, keyFile, "otp_python_seed", expected, admin) is { } seed) results["python-seed-postgres"] = seed;
            }
            // More rounds of the floor and the engine at its defaults, each pair on fresh copies: on a shared machine one
            // pair can land on a quiet or a busy moment, and the targets of the defaults are judged on the median round
            // (SQLite's below, likewise).
            for (int i = 2; i <= rounds; i++)
            {
                Checkpoint(admin);
                results[$"floor-postgres-{i}"] = Child("floor", "--provider", "postgres", "--cs", cs, "--table", $"otp_round{i}_floor", "--pm", pm);
                Checkpoint(admin);
                results[$"engine-postgres-{i}"] = Child("engine", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", $"otp_round{i}_engine",
                    "--expect", expected.ToString(), "--pm", pm);
                Checkpoint(admin);
                results[$"statements-postgres-{i}"] = Child("statements", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", $"otp_round{i}_statements", "--pm", pm);
                if (python && PythonChild("tuned", dsn, keyFile, $"otp_round{i}_python", expected, admin) is { } tuned) results[$"python-tuned-postgres-{i}"] = tuned;
            }
            // -ThrottleLimit 1, 2, 4 interleaved in each round, so that a busy moment of the machine falls on all three alike.
            for (int i = 1; coordination && i <= rounds; i++)
            {
                foreach (var n in ThrottleSeries)
                {
                    Checkpoint(admin);
                    results[$"throttle{n}-postgres-{i}"] = Child("engine", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", $"otp_tl{n}_round{i}",
                        "--expect", expected.ToString(), "--pm", pm, "--throttle", n.ToString(CultureInfo.InvariantCulture));
                }
            }
            if (profile)
            {
                Checkpoint(admin);
                results["profile-postgres"] = Child("profile", "--provider", "postgres", "--cs", cs, "--keys", keyFile, "--table", "otp_profile", "--pm", pm);
            }
            if (explore)
            {
                foreach (var (key, _, extraArgs, _) in Explorations)
                {
                    Checkpoint(admin);
                    results[$"explore-postgres-{key}"] = Child(extraArgs[0], [.. new[] { "--provider", "postgres", "--cs", cs, "--keys", keyFile,
                        "--table", "otp_" + key.Replace('-', '_'), "--expect", expected.ToString(), "--pm", pm }, .. extraArgs.Skip(1)]);
                }
            }
            Timed("stopping PostgreSQL", () => { pg.Dispose(); return 0; });
        }

        // ------------------------------------------------------------ MariaDB (InnoDB, commits flushed)
        if (only.Contains("mariadb")) // --skip-mariadb: for quick experiments only
        {
            using var my = Timed("starting MariaDB (commits flushed to disk)", () => new BenchMariaDb());
            var cs = my.CreateDatabase("bench");
            machine["MariaDB"] = $"{my.Version}; InnoDB, utf8mb4_general_ci, innodb_flush_log_at_trx_commit=1 (defaults apart from address, port, socket and a 64 MB buffer pool)";
            var copies = new List<string> { "otp_floor" };
            for (int i = 2; i <= rounds; i++) copies.AddRange([$"otp_round{i}_floor", $"otp_round{i}_engine"]);
            Timed($"filling MariaDB: {rows:N0} rows by multi-row INSERT, plus {copies.Count} identical copies", () => { Dataset.FillMySql(my.ConnectionString("bench", pooling: false), keys.Ring, rows, copies.ToArray()); return 0; });
            var pid = my.ServerPid.ToString();
            results["floor-mysql"] = Child("floor", "--provider", "mysql", "--cs", cs, "--table", "otp_floor", "--pm", pid);
            results["engine-mysql"] = Child("engine", "--provider", "mysql", "--cs", cs, "--keys", keyFile, "--table", Dataset.Table, "--expect", expected.ToString(), "--pm", pid);
            for (int i = 2; i <= rounds; i++)
            {
                results[$"floor-mysql-{i}"] = Child("floor", "--provider", "mysql", "--cs", cs, "--table", $"otp_round{i}_floor", "--pm", pid);
                results[$"engine-mysql-{i}"] = Child("engine", "--provider", "mysql", "--cs", cs, "--keys", keyFile, "--table", $"otp_round{i}_engine",
                    "--expect", expected.ToString(), "--pm", pid);
            }
            Timed("stopping MariaDB", () => { my.Dispose(); return 0; });
        }

        // ------------------------------------------------------------ SQLite (file, WAL)
        if (only.Contains("sqlite"))
        {
            var sqlite = Path.Combine(work.Path, "bench.db");
            Timed($"filling SQLite: {rows:N0} rows, one prepared INSERT in one transaction", () => { Dataset.FillSqlite(sqlite, keys.Ring, rows); return 0; });
            machine["SQLite"] = SqliteFacts(sqlite);
            string Copy(string name) { var p = Path.Combine(work.Path, name + ".db"); File.Copy(sqlite, p); return p; }
            // Copies now, while the file is as filled (checkpointed, empty WAL): after a run the WAL holds changes a file copy would miss.
            var sqliteFloor = Copy("floor");
            var sqliteTuned = Copy("tuned");
            var sqliteProfile = profile ? Copy("profile") : null;
            var sqliteExplore = explore ? Explorations.Where(e => e.Sqlite).ToDictionary(e => e.Key, e => Copy(e.Key)) : new Dictionary<string, string>();
            var sqliteRounds = Enumerable.Range(2, rounds - 1).Select(i => (I: i, Floor: Copy($"round{i}-floor"), Engine: Copy($"round{i}-engine"))).ToList();
            results["floor-sqlite"] = Child("floor", "--provider", "sqlite", "--cs", sqliteFloor, "--table", Dataset.Table);
            results["engine-sqlite"] = Child("engine", "--provider", "sqlite", "--cs", sqlite, "--keys", keyFile, "--table", Dataset.Table, "--expect", expected.ToString());
            results["tuned-sqlite"] = Child("engine", "--provider", "sqlite", "--cs", sqliteTuned, "--keys", keyFile, "--table", Dataset.Table, "--expect", expected.ToString(),
                "--batch", TunedBatch, "--commit", TunedCommit);
            foreach (var (i, floorCopy, engineCopy) in sqliteRounds)
            {
                results[$"floor-sqlite-{i}"] = Child("floor", "--provider", "sqlite", "--cs", floorCopy, "--table", Dataset.Table);
                results[$"engine-sqlite-{i}"] = Child("engine", "--provider", "sqlite", "--cs", engineCopy, "--keys", keyFile, "--table", Dataset.Table, "--expect", expected.ToString());
        }
        if (sqliteProfile is not null)
            results["profile-sqlite"] = Child("profile", "--provider", "sqlite", "--cs", sqliteProfile, "--keys", keyFile, "--table", Dataset.Table);
        if (explore)
        {
            foreach (var (key, _, extraArgs, _) in Explorations.Where(e => e.Sqlite))
                results[$"explore-sqlite-{key}"] = Child(extraArgs[0], [.. new[] { "--provider", "sqlite", "--cs", sqliteExplore[key], "--keys", keyFile,
                    "--table", Dataset.Table, "--expect", expected.ToString() }, .. extraArgs.Skip(1)]);
        }
        foreach (var f in Directory.EnumerateFiles(work.Path, "*.db*")) File.Delete(f);
        }

        // ------------------------------------------------------------ memory: 100k vs 1M rows (SQLite)
        foreach (var n in a.Has("skip-memory") || !only.Contains("sqlite") ? [] : new[] { MemorySmall, MemoryLarge }) // --skip-memory: for quick experiments only
        {
            var path = Path.Combine(work.Path, $"memory-{n}.db");
            Timed($"filling SQLite: {n:N0} rows for the memory comparison", () => { Dataset.FillSqlite(path, keys.Ring, n); return 0; });
            results[$"memory-{n}"] = Child("engine", "--provider", "sqlite", "--cs", path, "--keys", keyFile, "--table", Dataset.Table,
                "--expect", Dataset.NonNullCount(n).ToString());
            foreach (var f in Directory.EnumerateFiles(work.Path, $"memory-{n}.db*")) File.Delete(f);
        }

        machine["Load average"] = $"{loadBefore} at the start, {Machine.LoadAverage()} at the end (1, 5, 15 min; the machine was shared)";
        Say();
        Print(results, rows, machine, total.Elapsed);
        if (a.Has("report")) File.WriteAllText(a.Str("report"), Log.ToString());
        return 0;
    }

    // ------------------------------------------------------------------------------------------ the table

    private static void Print(Dictionary<string, ScenarioResult> r, long rows, Dictionary<string, string> machine, TimeSpan elapsed)
    {
        var lines = new List<string[]>();
        var targets = new List<(string What, string Measured, bool? Pass, string Detail)>(); // Pass null: not measured
        var bounds = new List<(string What, string Measured, string Detail)>(); // measured beside a target, to read it by
        string F0(double v) => v.ToString("N0", CultureInfo.InvariantCulture);
        string F2(double v) => v.ToString("N2", CultureInfo.InvariantCulture);
        string F1(double v) => v.ToString("N1", CultureInfo.InvariantCulture);
        string Mb(long b) => (b / 1048576.0).ToString("N0", CultureInfo.InvariantCulture);
        double Rate(ScenarioResult s) => s.Rows / s.Seconds;
        string Verdict(bool? pass) => pass switch { true => "PASS", false => "MISS", null => "SKIP" };
        string atRows = rows == TargetRows ? "" : $" (target is set at {TargetRows:N0} rows; measured at {rows:N0})";

        void Row(string name, ScenarioResult s, ScenarioResult? floor, string target, bool? pass) =>
            lines.Add([name, F0(s.Rows), F2(s.Seconds), F0(Rate(s)), floor is null ? "" : F2(Rate(floor) / Rate(s)) + "×", target,
                pass is null ? "" : Verdict(pass.Value), Mb(s.PeakBytes)]);

        // Each database: the floor, the engine at its defaults (BatchSize 500, CommitEvery 1000: docs/cmdlets/Start-Reencryption.md) and the engine
        // with larger pages and transactions (-BatchSize 2000 -CommitEvery 10000), each on a fresh copy of the same rows and
        // each judged against the same targets. The targets are listed target by target, defaults first.
        string RateDetail(ScenarioResult s) =>
            Rate(s) >= TargetRowsPerSecond ? "" : $"{F2(Rate(s) / TargetRowsPerSecond)} of the target; needs {F2(TargetRowsPerSecond / Rate(s))}× faster";
        var pgFloor = r.GetValueOrDefault("floor-postgres");
        var pg = r.GetValueOrDefault("engine-postgres");
        var pgTuned = r.GetValueOrDefault("tuned-postgres");
        string OfRounds(List<(ScenarioResult Floor, ScenarioResult Engine)> rounds, Func<(ScenarioResult Floor, ScenarioResult Engine), string> each) =>
            rounds.Count == 1 ? "" : $" (median of {rounds.Count} rounds: {string.Join(", ", rounds.Select(each))})";
        var pgRounds = pg is null ? new List<(ScenarioResult Floor, ScenarioResult Engine)>() : Rounds(r, "postgres");
        if (pgFloor is not null && pg is not null && pgTuned is not null)
        {
            Row("PostgreSQL floor: UPDATE t SET c = c", pgFloor, pgFloor, "", null);
            foreach (var (label, s) in new[] { ("PostgreSQL Start-Reencryption (defaults)", pg), ($"PostgreSQL Start-Reencryption {Tuned}", pgTuned) })
                Row(label, s, pgFloor, $"≥{TargetRowsPerSecond:N0}/s, ≤{TargetPgFloorRatio:0.0}× floor", Rate(s) >= TargetRowsPerSecond && Rate(pgFloor) / Rate(s) <= TargetPgFloorRatio);
            // The defaults are judged on the median of the rounds (each a floor and an engine run on fresh copies), the larger
            // pages on their one run.
            double pgRate = Median(pgRounds.Select(x => Rate(x.Engine)));
            double pgRatio = Median(pgRounds.Select(x => Rate(x.Floor) / Rate(x.Engine)));
            targets.Add(($"PostgreSQL re-encryption ≥ {TargetRowsPerSecond:N0} rows/s{atRows}", $"{F0(pgRate)} rows/s{OfRounds(pgRounds, x => F0(Rate(x.Engine)))}",
                pgRate >= TargetRowsPerSecond, pgRate >= TargetRowsPerSecond ? "" : $"{F2(pgRate / TargetRowsPerSecond)} of the target; needs {F2(TargetRowsPerSecond / pgRate)}× faster"));
            targets.Add(($"PostgreSQL re-encryption ≥ {TargetRowsPerSecond:N0} rows/s, {Tuned}", $"{F0(Rate(pgTuned))} rows/s", Rate(pgTuned) >= TargetRowsPerSecond, RateDetail(pgTuned)));
            targets.Add(($"PostgreSQL re-encryption within {TargetPgFloorRatio:0.0}× the floor (issue #15)", $"{F2(pgRatio)}× the floor{OfRounds(pgRounds, x => F2(Rate(x.Floor) / Rate(x.Engine)) + "×")}",
                pgRatio <= TargetPgFloorRatio, pgRatio <= TargetPgFloorRatio ? "" : $"needs {F2(pgRatio / TargetPgFloorRatio)}× faster"));
            // The database's share: the engine's own statements with no client work, in every round beside the floor and the
            // engine. Its ratio to the floor is what no client can beat; the engine's ratio to it is the client's part.
            var shares = new List<(ScenarioResult Floor, ScenarioResult Engine, ScenarioResult Statements)>();
            for (int i = 1; i <= pgRounds.Count; i++)
                if (r.TryGetValue(i == 1 ? "statements-postgres" : $"statements-postgres-{i}", out var st)) shares.Add((pgRounds[i - 1].Floor, pgRounds[i - 1].Engine, st));
            if (shares.Count > 0)
            {
                Row("PostgreSQL the engine's statements alone (no cryptography, no client work; defaults)", shares[0].Statements, pgFloor, "", null);
                double shareRatio = Median(shares.Select(x => Rate(x.Floor) / Rate(x.Statements)));
                double clientPart = Median(shares.Select(x => Rate(x.Statements) / Rate(x.Engine)));
                string Phases(ScenarioResult s) => $"count {F2(s.Extra.GetValueOrDefault("count.s"))} s, proof {F2(s.Extra.GetValueOrDefault("proof.s"))} s";
                bounds.Add(($"PostgreSQL: the database's share alone, the bound of the {TargetPgFloorRatio:0.0}× target",
                    $"{F2(shareRatio)}× the floor{(shares.Count == 1 ? "" : $" (median of {shares.Count} rounds: {string.Join(", ", shares.Select(x => F2(Rate(x.Floor) / Rate(x.Statements)) + "×"))})")}; " +
                    $"the engine takes {F2(clientPart)}× the time of its statements alone; round 1: {Phases(shares[0].Statements)}, server CPU " +
                    $"{(shares[0].Statements.ServerCpuSeconds is { } sc ? F1(sc / shares[0].Statements.Rows * 1e6) + " µs/row" : "n/a")}",
                    $"the {TargetPgFloorRatio:0.0}× target leaves the client {F2(Math.Max(0, TargetPgFloorRatio - shareRatio))}× of the floor's time"));
            }
            // The tuned Python loop ran in every round on its own copy, right after that round's engine: each round's ratio is
            // the engine's rate over the loop's, and the target is judged on their median.
            var pyRounds = new List<(ScenarioResult Engine, ScenarioResult Python)>();
            for (int i = 1; i <= pgRounds.Count; i++)
                if (r.TryGetValue(i == 1 ? "python-tuned-postgres" : $"python-tuned-postgres-{i}", out var py)) pyRounds.Add((pgRounds[i - 1].Engine, py));
            if (r.TryGetValue("python-seed-postgres", out var seedLoop))
                Row("PostgreSQL Python, seed-style loop (row by row, 500/1000 as the original CLI)", seedLoop, pgFloor, "", null);
            if (pyRounds.Count > 0)
            {
                Row($"PostgreSQL Python, tuned loop (execute_values, {DefaultsText})", pyRounds[0].Python, pgFloor, "", null);
                double speedUp = Median(pyRounds.Select(x => Rate(x.Engine) / Rate(x.Python)));
                targets.Add(($"PostgreSQL re-encryption ≥ {TargetPythonSpeedUp:0}× the tuned Python loop (issue #15)",
                    $"{F2(speedUp)}× its rate ({F0(Median(pyRounds.Select(x => Rate(x.Python))))} rows/s){(pyRounds.Count == 1 ? "" : $" (median of {pyRounds.Count} rounds: {string.Join(", ", pyRounds.Select(x => F2(Rate(x.Engine) / Rate(x.Python)) + "×"))})")}" +
                    (seedLoop is null ? "" : $"; the seed-style loop: {F2(Rate(pg) / Rate(seedLoop))}× its rate in round 1"),
                    speedUp >= TargetPythonSpeedUp, speedUp >= TargetPythonSpeedUp ? "" : $"needs {F2(TargetPythonSpeedUp / speedUp)}× faster"));
        }
        else
        {
            targets.Add(($"PostgreSQL re-encryption ≥ {TargetPythonSpeedUp:0}× the tuned Python loop (issue #15)", "not measured (no python3 with psycopg2, or --skip-python)", null, ""));
        }
        targets.Add(($"PostgreSQL re-encryption within {TargetFloorRatio:0.0}× the floor (issue #6)", $"{F2(pgRatio)}× the floor", pgRatio <= TargetFloorRatio, ""));
        double tunedRatio = Rate(pgFloor) / Rate(pgTuned);
        targets.Add(($"PostgreSQL re-encryption within {TargetFloorRatio:0.0}× the floor, {Tuned}", $"{F2(tunedRatio)}× the floor ({F0(Rate(pgFloor))} rows/s)",
            tunedRatio <= TargetFloorRatio, tunedRatio <= TargetFloorRatio ? "" : $"needs {F2(tunedRatio / TargetFloorRatio)}× faster"));
        }

        var myRounds = r.ContainsKey("engine-mysql") ? Rounds(r, "mysql") : new List<(ScenarioResult Floor, ScenarioResult Engine)>();
        if (myRounds.Count > 0)
        {
            var myFloor = r["floor-mysql"];
            Row("MariaDB floor: UPDATE t SET c = CONCAT('v2', SUBSTRING(c, 3))", myFloor, myFloor, "", null);
            Row("MariaDB Start-Reencryption (defaults)", r["engine-mysql"], myFloor, $"≤{TargetFloorRatio:0.0}× floor", Rate(myFloor) / Rate(r["engine-mysql"]) <= TargetFloorRatio);
            double myRatio = Median(myRounds.Select(x => Rate(x.Floor) / Rate(x.Engine)));
            targets.Add(($"MariaDB re-encryption within {TargetFloorRatio:0.0}× the floor", $"{F2(myRatio)}× the floor, {F0(Median(myRounds.Select(x => Rate(x.Engine))))} rows/s{OfRounds(myRounds, x => F2(Rate(x.Floor) / Rate(x.Engine)) + "×")}",
                myRatio <= TargetFloorRatio, myRatio <= TargetFloorRatio ? "" : $"needs {F2(myRatio / TargetFloorRatio)}× faster"));
        }

        var slFloor = r.GetValueOrDefault("floor-sqlite");
        var sl = r.GetValueOrDefault("engine-sqlite");
        var slTuned = r.GetValueOrDefault("tuned-sqlite");
        var slRounds = sl is null ? new List<(ScenarioResult Floor, ScenarioResult Engine)>() : Rounds(r, "sqlite");
        if (slFloor is not null && sl is not null && slTuned is not null)
        {
            Row("SQLite floor: UPDATE t SET c = 'v2'||substr(c,3)", slFloor, slFloor, "", null);
            foreach (var (label, s) in new[] { ("SQLite (file, WAL) Start-Reencryption (defaults)", sl), ($"SQLite (file, WAL) Start-Reencryption {Tuned}", slTuned) })
                Row(label, s, slFloor, $"≥{TargetRowsPerSecond:N0}/s", Rate(s) >= TargetRowsPerSecond);
            double slRate = Median(slRounds.Select(x => Rate(x.Engine)));
            targets.Add(($"SQLite (file, WAL) re-encryption ≥ {TargetRowsPerSecond:N0} rows/s", $"{F0(slRate)} rows/s{OfRounds(slRounds, x => F0(Rate(x.Engine)))}",
                slRate >= TargetRowsPerSecond, slRate >= TargetRowsPerSecond ? "" : $"{F2(slRate / TargetRowsPerSecond)} of the target; needs {F2(TargetRowsPerSecond / slRate)}× faster"));
            targets.Add(($"SQLite (file, WAL) re-encryption ≥ {TargetRowsPerSecond:N0} rows/s, {Tuned}", $"{F0(Rate(slTuned))} rows/s ({F2(Rate(slFloor) / Rate(slTuned))}× its floor)",
                Rate(slTuned) >= TargetRowsPerSecond, RateDetail(slTuned)));
        }

        // Single-thread Fernet rates are per CPU-second of the one thread that ran them: "per core", even when another
        // process takes the core for a while (the wall-clock rates are printed below the table).
        var fe = r["fernet"];
        void FernetRow(string name, string key, string target = "", bool? pass = null)
        {
            var rate = fe.Extra[key + "/cpu-s"];
            lines.Add([name, F0(fe.Rows), F2(fe.Rows / rate), F0(rate), "", target, pass is null ? "" : Verdict(pass.Value), Mb(fe.PeakBytes)]);
        }
        double fernetRate = fe.Extra["reencrypt/cpu-s"];
        bool fernetOk = fernetRate >= TargetFernetPerCore;
        FernetRow("Fernet decrypt+encrypt, 16 B (per core)", "reencrypt", $"≥{TargetFernetPerCore:N0}/s per core", fernetOk);
        FernetRow("Fernet encrypt, 16 B (per core)", "encrypt");
        FernetRow("Fernet decrypt, 16 B (per core)", "decrypt");
        FernetRow("Stored value re-encrypt (per core)", "transform");
        lines.Add([$"Stored value re-encrypt ({fe.Extra["cores"]:0} threads, wall)", F0(fe.Rows), F2(fe.Rows / fe.Extra["transform-all-cores/s"]),
            F0(fe.Extra["transform-all-cores/s"]), "", "", "", Mb(fe.PeakBytes)]);
        targets.Add(($"Fernet decrypt+encrypt of a 16-byte secret ≥ {TargetFernetPerCore:N0}/s per core", $"{F0(fernetRate)}/s per CPU-second of one thread", fernetOk,
            fernetOk ? "" : $"{F2(fernetRate / TargetFernetPerCore)} of the target; needs {F2(TargetFernetPerCore / fernetRate)}× faster"));

        var small = r.GetValueOrDefault($"memory-{MemorySmall}");
        var large = r.GetValueOrDefault($"memory-{MemoryLarge}");
        double memRatio = small is null || large is null ? double.NaN : (double)large.PeakBytes / small.PeakBytes;
        bool? memOk = double.IsNaN(memRatio) ? null : memRatio <= TargetMemoryRatio;
        string memTarget = $"peak ≤{TargetMemoryRatio:0.0}× 100k";
        if (small is not null && large is not null)
        {
            Row($"Memory: SQLite engine, defaults, {MemorySmall:N0} rows", small, null, "", null);
            Row($"Memory: SQLite engine, defaults, {MemoryLarge:N0} rows", large, null, memTarget, memOk);
            targets.Add(($"Peak memory, 1M rows within {TargetMemoryRatio:0.0}× of 100k rows", $"{Mb(large.PeakBytes)} MB vs {Mb(small.PeakBytes)} MB = {F2(memRatio)}×", memOk, ""));
        }
        else
        {
            lines.Add(["Memory: SQLite engine, 100k vs 1M rows (--skip-memory)", "", "", "", "", memTarget, "SKIP", ""]);
            targets.Add(($"Peak memory, 1M rows within {TargetMemoryRatio:0.0}× of 100k rows", "not measured (--skip-memory)", null, ""));
        }
        lines.Add(["Process that only loaded the library", "", "", "", "", "", "", Mb(r["baseline"].PeakBytes)]);

        Table(["scenario", "rows", "seconds", "rows/s", "× floor", "target", "result", "peak MB"], lines, [false, true, true, true, true, false, false, true]);
        Say();
        if (Math.Max(pgRounds.Count, Math.Max(myRounds.Count, slRounds.Count)) > 1)
        {
            Say("At the defaults, round by round (each round a floor and an engine run on fresh copies; round 1 is the table's). The defaults' targets are");
            Say("judged on the medians:");
            var byRound = new List<string[]>();
            foreach (var (db, list) in new[] { ("PostgreSQL", pgRounds), ("MariaDB", myRounds), ("SQLite", slRounds) }.Where(x => x.Item2.Count > 0))
            {
                byRound.AddRange(list.Select((x, i) => new[] { $"{db} round {i + 1}", F0(Rate(x.Floor)), F0(Rate(x.Engine)), F2(Rate(x.Floor) / Rate(x.Engine)) + "×" }));
                byRound.Add([$"{db} median", F0(Median(list.Select(x => Rate(x.Floor)))), F0(Median(list.Select(x => Rate(x.Engine)))),
                    F2(Median(list.Select(x => Rate(x.Floor) / Rate(x.Engine)))) + "×"]);
            }
            Table(["round", "floor rows/s", "engine rows/s", "× floor"], byRound, [false, true, true, true]);
            Say();
        }
        if (r.ContainsKey("throttle1-postgres-1"))
        {
            Say("Coordination overhead (issue #15): PostgreSQL, defaults, one job worked by -ThrottleLimit N workers of one process, each on its");
            Say("own connection claiming chunks (-ChunkSize default). On 2 cores N workers cannot be faster than one: the rows/s below show what");
            Say("sharing a job costs. Fresh copies, the three settings interleaved in every round; judged on the medians:");
            var tl = new List<string[]>();
            // Rounds as run: 1, 2, … while the results have them.
            var throttleRounds = Enumerable.Range(1, int.MaxValue - 1).TakeWhile(i => r.ContainsKey($"throttle1-postgres-{i}")).ToList();
            double one = Median(throttleRounds.Select(i => Rate(r[$"throttle1-postgres-{i}"])));
            foreach (var n in ThrottleSeries)
            {
                var runs = throttleRounds.Select(i => r.GetValueOrDefault($"throttle{n}-postgres-{i}")).OfType<ScenarioResult>().ToList();
                double median = Median(runs.Select(Rate));
                tl.Add([$"-ThrottleLimit {n}", string.Join(", ", runs.Select(x => F0(Rate(x)))), F0(median), F2(median / one) + "×",
                    F1(Median(runs.Select(x => x.ClientCpuSeconds / Math.Max(1, x.Rows) * 1e6))), F1(Median(runs.Select(x => (x.ServerCpuSeconds ?? 0) / Math.Max(1, x.Rows) * 1e6)))]);
                if (n == ThrottleSeries[^1])
                    targets.Add(($"Coordination overhead at -ThrottleLimit {n} within {TargetCoordinationOverhead:P0} of -ThrottleLimit 1 (issue #15)",
                        $"{F0(median)} vs {F0(one)} rows/s = " + (median < one ? $"{1 - median / one:P1} slower" : $"{median / one - 1:P1} faster"), median >= one * (1 - TargetCoordinationOverhead), ""));
            }
            Table(["workers", "rows/s, round by round", "median rows/s", "× one worker", "client µs/row", "server µs/row"], tl, [false, false, true, true, true, true]);
            Say();
        }
        if (memOk is not null) Say($"Memory ratio (peak, {MemoryLarge:N0} vs {MemorySmall:N0} rows): {F2(memRatio)} (target ≤ {TargetMemoryRatio:0.00}) {Verdict(memOk)}");
        Say($"Start-Reencryption (defaults) is {DefaultsText}; each engine run has a fresh copy of the same rows, and every value is checked at v2 " +
            "(and a sample decrypted) after it.");
        if (pgRounds.Count > 1)
            Say($"The table's result column judges its one run (round 1); the targets below judge the defaults on the median of {pgRounds.Count} rounds.");
        Say($"Rows are the non-NULL values, the ones the engine re-encrypts and the floor rewrites; database rates are wall-clock. Fernet rates are per CPU-second " +
            $"of the one thread (wall-clock: decrypt+encrypt {F0(fe.Extra["reencrypt/s"])}/s, encrypt {F0(fe.Extra["encrypt/s"])}/s, decrypt {F0(fe.Extra["decrypt/s"])}/s).");
        Say();
        Say("Targets:");
        foreach (var t in targets) Say($"  {Verdict(t.Pass)}  {t.What}: {t.Measured}{(t.Detail.Length > 0 ? " — " + t.Detail : "")}");
        foreach (var b in bounds) Say($"  INFO  {b.What}: {b.Measured} — {b.Detail}");
        Say();

        // ---------------------------------------------------------------- where the time goes
        Say("CPU and allocation per run (client = the child process, all threads; server = every PostgreSQL process):");
        var cpuRows = new List<string[]>();
        foreach (var (key, label) in new[] { ("floor-postgres", "PostgreSQL floor"), ("engine-postgres", "PostgreSQL engine, defaults"), ("statements-postgres", "PostgreSQL engine's statements alone"), ("tuned-postgres", $"PostgreSQL engine, {Tuned}"),
                     ("floor-mysql", "MariaDB floor"), ("engine-mysql", "MariaDB engine, defaults"),
                     ("floor-sqlite", "SQLite floor"), ("engine-sqlite", "SQLite engine, defaults"), ("tuned-sqlite", $"SQLite engine, {Tuned}"),
                     ($"memory-{MemorySmall}", "SQLite engine, defaults, 100k"), ($"memory-{MemoryLarge}", "SQLite engine, defaults, 1M") })
        {
            if (!r.TryGetValue(key, out var x)) continue;
            cpuRows.Add([label, F2(x.Seconds), F2(x.ClientCpuSeconds), x.ServerCpuSeconds is { } sc ? F2(sc) : "", F2((x.ClientCpuSeconds + (x.ServerCpuSeconds ?? 0)) / x.Seconds),
                x.AllocatedBytes > 0 ? F0((double)x.AllocatedBytes / Math.Max(1, x.Rows)) : "", x.AllocatedBytes > 0 ? $"{x.Gen0}/{x.Gen1}/{x.Gen2}" : ""]);
        }
        Table(["run", "wall s", "client CPU s", "server CPU s", "cores busy", "B alloc/row", "GC 0/1/2"], cpuRows, [false, true, true, true, true, true, true]);
        Say();

        // The per-row costs the scaling model in bench/RESULTS.md rests on: CPU per row on each side, what crosses the wire per
        // row, data segments the client sent per page (a round trip sends at least one; a large UPDATE several), and how long
        // the engine's writing transactions were open (PostgreSQL, sampled every 5 ms: the longest a row it wrote stayed locked).
        Say("Per-row costs, round 1 (client = the child process; server = the database server's processes; sent/received = the engine's own");
        Say("connections, from the kernel's TCP counters; segments = data segments sent per page; log = WAL or InnoDB redo written by the server;");
        Say("transactions = the engine's writing transactions):");
        var perRow = new List<string[]>();
        string Us(double seconds, long rows) => (seconds / Math.Max(1, rows) * 1e6).ToString("N1", CultureInfo.InvariantCulture);
        foreach (var (key, label) in new[] { ("floor-postgres", "PostgreSQL floor"), ("engine-postgres", $"PostgreSQL engine, defaults ({DefaultsText})"), ("tuned-postgres", $"PostgreSQL engine, {Tuned}"),
                     ("python-tuned-postgres", "PostgreSQL Python, tuned loop"), ("python-seed-postgres", "PostgreSQL Python, seed-style loop"),
                     ("floor-mysql", "MariaDB floor"), ("engine-mysql", $"MariaDB engine, defaults ({DefaultsText})"),
                     ("floor-sqlite", "SQLite floor"), ("engine-sqlite", "SQLite engine, defaults") })
        {
            if (!r.TryGetValue(key, out var x)) continue;
            var e = x.Extra;
            double pages = e.TryGetValue("batch", out var b) ? Math.Ceiling(x.Rows / b) : 0;
            perRow.Add([label, Us(x.ClientCpuSeconds, x.Rows), x.ServerCpuSeconds is { } sc ? Us(sc, x.Rows) : "",
                e.TryGetValue("net.sent-bytes", out var sent) ? F0(sent / Math.Max(1, x.Rows)) : "",
                e.TryGetValue("net.received-bytes", out var received) ? F0(received / Math.Max(1, x.Rows)) : "",
                e.TryGetValue("net.segments-sent", out var segments) && pages > 0 ? F2(segments / pages) : "",
                e.TryGetValue("log.bytes", out var log) ? F0(log / Math.Max(1, x.Rows)) : "",
                e.TryGetValue("tx.count", out var txs) ? $"{txs:0}: {e["tx.median-ms"]:0} / {e["tx.p95-ms"]:0} / {e["tx.max-ms"]:0}" : ""]);
        }
        Table(["run", "client µs/row", "server µs/row", "sent B/row", "received B/row", "segments/page", "log B/row", "transactions: median / p95 / max ms"], perRow,
            [false, true, true, true, true, true, true, false]);
        Say();

        if (r.TryGetValue("profile-postgres", out var pp) | r.TryGetValue("profile-sqlite", out var ps))
        {
            Say("Profile — NOT the current engine: the engine's former serial loop (read, transform, update, commit one after the other) rebuilt");
            Say("from the library's public pieces with a stopwatch per phase (BatchSize 500, CommitEvery 1000), as a breakdown of what each phase");
            Say("costs; the engine now transforms page N while it writes N-1 and reads N+1, so its rate is the main table's, not this total.");
            Say("Client CPU is the calling thread's (the whole process's for the transform, which runs on all cores; the total is the process's),");
            Say("backend CPU is the PostgreSQL backend serving the connection:");
            var prof = new List<string[]>();
            string[] names = ["read", "transform", "update", "commit"];
            foreach (var ph in names.Append("total"))
            {
                var row = new List<string> { ph };
                foreach (var x in new[] { pp, ps })
                {
                    if (x is null) { row.AddRange(["", "", "", ""]); continue; }
                    double w = ph == "total" ? x.Seconds : x.Extra[ph + ".s"];
                    double c = ph == "total" ? x.ClientCpuSeconds : x.Extra[ph + ".client-cpu.s"];
                    double? b = ph == "total" ? names.Sum(n => x.Extra.GetValueOrDefault(n + ".backend-cpu.s")) : x.Extra.TryGetValue(ph + ".backend-cpu.s", out var bv) ? bv : null;
                    row.AddRange([F2(w), (w / x.Seconds).ToString("P0", CultureInfo.InvariantCulture), F2(c), x == pp && b is { } bb ? F2(bb) : ""]);
                }
                prof.Add(row.ToArray());
            }
            prof.Add(["rows/s (serial)", pp is null ? "" : F0(pp.Rows / pp.Seconds), "", "", "", ps is null ? "" : F0(ps.Rows / ps.Seconds), "", "", ""]);
            Table(["phase", "PG wall s", "%", "client CPU", "backend CPU", "SQLite wall s", "%", "client CPU", ""], prof, [false, true, true, true, true, true, true, true, true]);
            foreach (var (label, x) in new[] { ("former serial loop", pp), ("floor", r.GetValueOrDefault("floor-postgres")) })
            {
                var samples = x?.Extra.Where(kv => kv.Key.StartsWith("wait.", StringComparison.Ordinal)).ToList() ?? [];
                double n = samples.Sum(kv => kv.Value);
                if (n > 0)
                    Say($"PostgreSQL backend of the {label}, sampled every 10 ms (pg_stat_activity): " + string.Join(", ", samples.OrderByDescending(kv => kv.Value)
                        .Select(kv => $"{kv.Key[5..]} {(kv.Value / n).ToString("P0", CultureInfo.InvariantCulture)}")) + $" ({n:0} samples)");
            }
            Say();
        }

        Say("Fernet, one thread, per CPU-second (what one re-encryption is made of; FernetKey's own AES and IVs, AesCbc and IvSource, are internal:");
        Say("the one-shot Aes calls and the 16-byte RandomNumberGenerator.Fill below are what they replaced, for comparison):");
        var pieces = new List<string[]>();
        foreach (var (key, label) in new[]
                 {
                     ("reencrypt", "FernetKey.Reencrypt (decrypt + encrypt)"), ("decrypt", "FernetKey.Decrypt"), ("encrypt", "FernetKey.Encrypt"),
                     ("transform", "ValueTransformer.Transform (stored value)"),
                     ("piece.hmac", "  HMAC-SHA256 of 57 B (IncrementalHash)"),
                     ("piece.b64-decode-token", "  Base64Url.TryDecode, token"), ("piece.b64-encode-token", "  Base64Url.Encode, token"),
                     ("piece.stored-parse", "  StoredValue.TryParse"), ("piece.stored-format", "  StoredValue.Create + ToString"),
                     ("piece.aes-decrypt", "  (replaced) Aes.TryDecryptCbc, 2 blocks, one-shot"), ("piece.aes-encrypt", "  (replaced) Aes.TryEncryptCbc, 16 B, one-shot"),
                     ("piece.rng16", "  (replaced) RandomNumberGenerator.Fill, 16 B IV"),
                 })
        {
            if (!fe.Extra.TryGetValue(key + "/cpu-s", out var rate)) continue;
            pieces.Add([label, F0(rate), (1e6 / rate).ToString("N2", CultureInfo.InvariantCulture)]);
        }
        Table(["operation", "per CPU-s", "µs each"], pieces, [false, true, true]);
        Say();

        var explored = r.Keys.Where(k => k.StartsWith("explore-", StringComparison.Ordinal)).ToList();
        if (explored.Count > 0 && pgFloor is not null && pg is not null && pgTuned is not null && slFloor is not null && sl is not null && slTuned is not null)
        {
            Say("Explore (information, no target): the engine with larger pages, and commits that do not wait for fsync, on the same data:");
            var ex = new List<string[]>();
            foreach (var (key, label, _, _) in Explorations)
            {
                r.TryGetValue($"explore-postgres-{key}", out var xp);
                r.TryGetValue($"explore-sqlite-{key}", out var xs);
                ex.Add([label, xp is null ? "" : F0(Rate(xp)), xp is null ? "" : F2(Rate(pgFloor) / Rate(xp)) + "×", xp is null ? "" : F2(xp.ClientCpuSeconds + (xp.ServerCpuSeconds ?? 0)),
                    xs is null ? "" : F0(Rate(xs)), xs is null ? "" : F2(Rate(slFloor) / Rate(xs)) + "×"]);
            }
            string[] Measured(string label, ScenarioResult p, ScenarioResult s) =>
                [label, F0(Rate(p)), F2(Rate(pgFloor) / Rate(p)) + "×", F2(p.ClientCpuSeconds + (p.ServerCpuSeconds ?? 0)), F0(Rate(s)), F2(Rate(slFloor) / Rate(s)) + "×"];
            ex.Insert(0, Measured($"as measured above: engine {Tuned}", pgTuned, slTuned));
            ex.Insert(0, Measured("as measured above: engine, defaults", pg, sl));
            Table(["run", "PG rows/s", "× floor", "PG CPU s", "SQLite rows/s", "× floor"], ex, [false, true, true, true, true, true]);
            Say();
        }

        Say("Machine:");
        foreach (var (k, v) in machine) Say($"  {k}: {v}");
        Say($"  Whole benchmark: {elapsed.TotalSeconds:N0} s");
    }

    private static void Table(string[] header, List<string[]> lines, bool[] right)
    {
        var all = lines.Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(i => all.Max(l => i < l.Length ? l[i].Length : 0)).ToArray();
        string Format(string[] l) => string.Join("  ", l.Select((c, i) => right[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd();
        Say(Format(header));
        Say(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var l in lines) Say(Format(l));
    }

    // ------------------------------------------------------------------------------------------ helpers

    private static T Timed<T>(string what, Func<T> work)
    {
        Console.Write($"  {what}… ");
        var clock = Stopwatch.StartNew();
        var result = work();
        Console.WriteLine($"{clock.Elapsed.TotalSeconds:N1} s");
        return result;
    }

    private static ScenarioResult Child(string scenario, params string[] arguments)
    {
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.FileName = host;
            start.ArgumentList.Add(typeof(Orchestrator).Assembly.Location);
        }
        else
        {
            start.FileName = host;
        }
        start.ArgumentList.Add(scenario);
        foreach (var x in arguments) start.ArgumentList.Add(x);
        string? Arg(string name) => arguments.Zip(arguments.Skip(1)).FirstOrDefault(p => p.First == name).Second;
        var label = scenario + (arguments.Length > 1 && arguments[0] == "--provider" ? " " + arguments[1] : "")
                    + (Arg("--batch") is { } b ? $" -BatchSize {b} -CommitEvery {Arg("--commit")}" : "") + (Arg("--whatif") is { } w ? $" (what-if {w})" : "");
        Console.Write($"  {label}… ");
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        ScenarioResult? result = null;
        var other = new StringBuilder();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (ScenarioResult.FromLine(line) is { } r) result = r;
            else other.AppendLine(line);
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || result is null)
            throw new InvalidOperationException($"Scenario '{label}' failed (exit code {process.ExitCode}):\n{stderr.Result}{other}");
        Console.WriteLine($"{clock.Elapsed.TotalSeconds:N1} s (measured {result.Seconds:N2} s)");
        return result;
    }

    /// <summary>Where psycopg2 and cryptography import (Debian's python3 has the packages apt-get installs), or null.</summary>
    private static string? Python()
    {
        foreach (var python in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(python, ["-c", "import psycopg2, cryptography"]) { UseShellExecute = false, RedirectStandardError = true })!;
                p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode == 0) return python;
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    }

    private static readonly Lazy<string?> PythonPath = new(Python);

    /// <summary>bench/python_loops.py of the repository this build is in (it imports tests/interop/secretsps_ref.py beside it).</summary>
    private static string PythonScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "bench", "python_loops.py");
            if (File.Exists(script)) return script;
        }
        throw new InvalidOperationException($"No bench/python_loops.py above {AppContext.BaseDirectory}: run from a build inside the repository.");
    }

    /// <summary>
    /// bench/python_loops.py on a copy of the rows; it reads its backend's CPU
    /// itself. Null, with a line that says so, when no Python with psycopg2 is found (bench/run.ps1 installs it).
    /// </summary>
    private static ScenarioResult? PythonChild(string loop, string dsn, string keyFile, string table, long expected, string admin)
    {
        // The seed-style loop pages and commits as the original CLI did (500/1000); the tuned one as the engine's defaults.
        var (batch, commitEvery) = loop == "seed" ? (500, 1000) : (Defaults.BatchSize, Defaults.CommitEvery);
        if (PythonPath.Value is not { } python)
        {
            Console.WriteLine($"  python {loop}… skipped: no python3 with psycopg2 and cryptography (apt-get install python3-psycopg2 python3-cryptography)");
            return null;
        }
        Checkpoint(admin);
        var script = PythonScript();
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var x in new[] { script, loop, "--dsn", dsn, "--keys", keyFile, "--table", table, "--batch", batch.ToString(CultureInfo.InvariantCulture),
                     "--commit-every", commitEvery.ToString(CultureInfo.InvariantCulture), "--expect", expected.ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(x);
        Console.Write($"  python {loop} loop postgres… ");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        ScenarioResult? result = null;
        while (process.StandardOutput.ReadLine() is { } line) result = ScenarioResult.FromLine(line) ?? result;
        process.WaitForExit();
        if (process.ExitCode != 0 || result is null)
            throw new InvalidOperationException($"The Python {loop} loop failed (exit code {process.ExitCode}):\n{stderr.Result}");
        Console.WriteLine($"measured {result.Seconds:N2} s");
        return result;
    }

    /// <summary>The floor and engine runs at the defaults of one database, round 1 first.</summary>
    private static List<(ScenarioResult Floor, ScenarioResult Engine)> Rounds(Dictionary<string, ScenarioResult> r, string db)
    {
        var list = new List<(ScenarioResult, ScenarioResult)> { (r[$"floor-{db}"], r[$"engine-{db}"]) };
        for (int i = 2; r.ContainsKey($"engine-{db}-{i}"); i++) list.Add((r[$"floor-{db}-{i}"], r[$"engine-{db}-{i}"]));
        return list;
    }

    private static double Median(IEnumerable<double> values)
    {
        var o = values.Order().ToList();
        return o.Count % 2 == 1 ? o[o.Count / 2] : (o[o.Count / 2 - 1] + o[o.Count / 2]) / 2;
    }

    private static void Checkpoint(string cs)
    {
        using var c = new NpgsqlConnection(cs);
        c.Open();
        Dataset.Exec(c, "CHECKPOINT");
    }

    private static string Scalar(string cs, string sql)
    {
        using var c = new NpgsqlConnection(cs);
        c.Open();
        using var command = new NpgsqlCommand(sql, c);
        return Convert.ToString(command.ExecuteScalar(), CultureInfo.InvariantCulture) ?? "";
    }

    private static string SqliteFacts(string path)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        string Q(string sql) { using var cmd = c.CreateCommand(); cmd.CommandText = sql; return Convert.ToString(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) ?? ""; }
        var sync = Q("PRAGMA synchronous") switch { "0" => "OFF", "1" => "NORMAL", "2" => "FULL", "3" => "EXTRA", var s => s };
        return $"{Q("SELECT sqlite_version()")} (Microsoft.Data.Sqlite {typeof(SqliteConnection).Assembly.GetName().Version}); journal_mode={Q("PRAGMA journal_mode")}, " +
               $"synchronous={sync} (the connection default the engine gets), page_size={Q("PRAGMA page_size")}, cache_size={Q("PRAGMA cache_size")}";
    }
}

public static class Machine
{
    public static Dictionary<string, string> Describe()
    {
        var d = new Dictionary<string, string>();
        string? Field(string file, string name) =>
            File.Exists(file) ? File.ReadLines(file).FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() : null;
        var cpu = Field("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        var mhz = Field("/proc/cpuinfo", "cpu MHz");
        d["CPU"] = $"{cpu}{(mhz is null ? "" : $" ({mhz} MHz)")}, {Environment.ProcessorCount} logical CPUs (nproc)";
        var mem = Field("/proc/meminfo", "MemTotal");
        if (mem is not null) d["Memory"] = $"{long.Parse(mem.Split(' ')[0]) / 1024.0 / 1024.0:N1} GiB";
        var osLine = File.Exists("/etc/os-release") ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"') : null;
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : RuntimeInformation.OSDescription;
        d["OS"] = $"{osLine ?? RuntimeInformation.OSDescription}, kernel {kernel}";
        d["Disk"] = TempFilesystem();
        d[".NET"] = $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier}), GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}" +
                    $"{(System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.Interactive ? " concurrent" : "")}; Npgsql {typeof(NpgsqlConnection).Assembly.GetName().Version}";
        return d;
    }

    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static string TempFilesystem()
    {
        var temp = Path.GetTempPath();
        if (!File.Exists("/proc/mounts")) return temp;
        var best = File.ReadLines("/proc/mounts").Select(l => l.Split(' '))
            .Where(f => f.Length > 2 && temp.StartsWith(f[1].EndsWith('/') ? f[1] : f[1] + "/", StringComparison.Ordinal) || f.Length > 2 && f[1] == "/")
            .OrderByDescending(f => f[1].Length).FirstOrDefault();
        return best is null ? temp : $"temp folder {temp} on {best[0]} ({best[2]}): the databases' files, fsync real";
    }
}
