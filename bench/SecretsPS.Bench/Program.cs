using SecretsPS.Bench;

// `run …`: the orchestrator (what bench/run.ps1 starts). Anything else: one measured scenario, in its own process.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("""
        SecretsPS.Bench run [--rows 300000] [--rounds 3] [--fernet-iterations 100000] [--no-profile] [--explore] [--skip-memory] [--report <file>]
          Starts a PostgreSQL of its own (fsync on), fills tables, runs each scenario in a child process, prints the table.
          Start-Reencryption's engine is measured on each database twice, at its defaults (ReencryptionDefaults: -BatchSize 2000 -CommitEvery 10000)
          and with the original CLI's -BatchSize 500 -CommitEvery 1000, both judged against the targets.
          --no-profile   skip the profile: the engine's former serial loop rebuilt with a stopwatch per phase (not the
                         current engine, which overlaps the database with the transform; a phase breakdown only).
          --explore      also the engine with -BatchSize 5000 -CommitEvery 20000 on each database, and the what-if of
                         commits that do not wait for fsync (PostgreSQL synchronous_commit=off) at the defaults; no target.
          --rounds N     rounds of each database's floor and engine at the defaults, each on fresh copies (default 3); the
                         defaults' targets are judged on the median round.
          --skip-memory  skip the 100,000 vs 1,000,000-row memory runs (quick experiments only: its target is then not measured).
          --only LIST    the databases to measure, of postgres,mariadb,sqlite (default all; --skip-mariadb drops MariaDB).
          --skip-python  skip bench/python_loops.py on PostgreSQL (the seed-style and tuned Python loops on the same rows).
          --skip-coordination  skip the -ThrottleLimit 1, 2, 4 runs on PostgreSQL (issue #15: the overhead of sharing one job).
        SecretsPS.Bench fill --provider postgres|mysql --cs CS --keys FILE [--rows N] [--copies a,b]
          Fills the benchmark's table (and copies) on a server of one's own, creating the key file when it is missing.
        SecretsPS.Bench <baseline|fernet|engine|floor|profile> --name value …
          One scenario (the orchestrator passes the arguments); prints one "RESULT {json}" line.
          engine [--batch N --commit N] [--whatif sync]: Start-Reencryption's engine; profile: the former serial loop.
        """);
    return 0;
}

if (args[0] == "run")
{
    // Caught here, not left unhandled: an unhandled exception would end the process without running the
    // `using` blocks that stop the benchmark's PostgreSQL and delete its folders.
    try
    {
        return Orchestrator.Run(new Args(args.Skip(1)));
    }
    catch (Exception e)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"The benchmark failed: {e.Message}");
        Console.Error.WriteLine(e.StackTrace);
        return 1;
    }
}

try
{
    var result = Scenarios.Dispatch(args[0], new Args(args.Skip(1)));
    Console.Out.WriteLine(result.ToLine());
    Console.Out.Flush();
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"{args[0]}: {e}");
    return 1;
}
