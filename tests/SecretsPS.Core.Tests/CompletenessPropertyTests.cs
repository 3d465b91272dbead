using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CsCheck;
using Npgsql;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The completeness promise as a property, on real databases: random key types, random values (older, at the target,
/// newer, an unknown version, damaged, whitespace around, plaintext, NULL), random page sizes, pauses, runs killed in the
/// middle and resumed, an application writing during the run, with and without -EncryptPlaintext. After every case:
/// every value the application could read before reads the same plaintext now (checked in C# under the application's
/// rules, and by the independent Python reader), nothing else changed unless it was plaintext being migrated, a newer
/// value never moved back, and 'finished' is true: no readable value is left below the target ('incomplete' is true too:
/// a value at an older version is there); and a job that read every row leaves no readable value at v1 unless the application
/// wrote it during that job (a skipped row would be a lossy cursor). Cases: SECRETSPS_FUZZ_ITERATIONS / 200, at least the
/// default here (each case is a database and a few runs; build.ps1 -Task Fuzz runs 1,000).
/// </summary>
public abstract class CompletenessPropertyTests
{
    protected CompletenessPropertyTests(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    internal abstract TestDatabase NewDatabase();

    protected abstract bool Unavailable();

    /// <summary>How many key types this database's cases choose from (see <see cref="KeyColumn"/>).</summary>
    protected abstract int KeyKinds { get; }

    /// <summary>The key column's declaration for a kind, and the SQL literal text of the i-th key (cast by the database).</summary>
    protected abstract (string Declaration, string Cast, Func<int, object> Key) KeyColumn(int kind);

    protected abstract int DefaultCases { get; }

    private int Cases =>
        int.TryParse(Environment.GetEnvironmentVariable(Fuzz.IterationsVariable), out var n) && n > 0 ? Math.Max(DefaultCases, n / 200) : DefaultCases;

    public enum Kind { Older, AtTarget, Newer, UnknownVersion, Damaged, Whitespace, Plaintext, Null }

    public sealed record Row(Kind Kind, int Variant);

    /// <summary>One run: a -MaxRows slice (0: none), a kill at the n-th progress (0: none), an application write at the n-th progress.</summary>
    public sealed record Run(int MaxRows, int KillAt, int WriteAt, int WriteRow, bool WriteOld);

    public sealed record Case(int KeyKind, Row[] Rows, Run[] Runs, bool EncryptPlaintext, int Batch, int Commit)
    {
        public override string ToString() =>
            $"key kind {KeyKind}, batch {Batch}/{Commit}, encrypt plaintext {EncryptPlaintext}, rows [{string.Join(" ", Rows.Select(r => $"{r.Kind}.{r.Variant}"))}], " +
            $"runs [{string.Join(" ", Runs.Select(r => $"(max {r.MaxRows} kill {r.KillAt} write {r.WriteAt}@{r.WriteRow}{(r.WriteOld ? " old" : "")})"))}]";
    }

    private Gen<Case> Cases_ => Gen.Select(
        Gen.Int[0, KeyKinds - 1],
        Gen.Select(Gen.Enum<Kind>(), Gen.Int[0, 7], (k, v) => new Row(k, v)).Array[1, 30],
        Gen.Select(Gen.Int[0, 12], Gen.Int[0, 4], Gen.Int[0, 4], Gen.Int[0, 29], Gen.Bool, (m, k, w, r, o) => new Run(m, k, w, r, o)).Array[0, 4],
        Gen.Bool,
        Gen.Int[1, 6],
        Gen.Int[1, 8],
        (key, rows, runs, plain, batch, commit) => new Case(key, rows, runs, plain, batch, commit));

    private static readonly TestTable Table = new(null, "secrets", "k", "secret");

    /// <summary>Whitespace the application's strip() removes, and padding it does without.</summary>
    private static readonly string[] Around = ["\n", " ", "\r\n", "\t", "\u00a0", "\u001c", "\u3000", ""];

    [Fact]
    public void Property_every_readable_value_reads_the_same_after_any_mix_of_runs_and_finished_is_always_true()
    {
        if (Unavailable()) return;
        // One key file for every case: v1, v2 active, v3 added for decryption only (a newer version than the target).
        using var keys = TestKeys.Create("v1", "v2");
        KeyFileOperations.Rotate(keys.Path, new RotationOptions { NewVersion = "v3", Activate = false }, KeyFileFixture.NoEnvironment);
        using var config = KeyConfiguration.Load(keys.Path, KeyFileFixture.NoEnvironment);
        var ring = config.Ring;
        Assert.Equal("v2", ring.Active.Name);
        int cases = 0;
        Cases_.Sample(c =>
        {
            cases++;
            Check(c, keys, ring);
        }, iter: Cases, threads: 1, print: c => c.ToString());
        Output.WriteLine($"{cases} cases");
    }

    private void Check(Case c, TestKeys keys, KeyRing ring)
    {
        using var db = NewDatabase();
        var kinds = c.Rows.Select(r => r.Kind).ToArray(); // what each row holds now (an application write changes it)
        var (declaration, cast, keyOf) = KeyColumn(c.KeyKind);
        db.Execute($"CREATE TABLE {TestDatabase.Q(Table)} ({TestDatabase.Q(Table.Key)} {declaration}, {TestDatabase.Q(Table.Column)} TEXT)");
        var stored = new string?[c.Rows.Length];
        var readable = new string?[c.Rows.Length]; // the plaintext the application reads, or null
        var foreignToken = StoredValue.Parse(ring.Protect("lost", "v1")).Token;
        using (var connection = db.Open())
        {
            for (int i = 0; i < c.Rows.Length; i++)
            {
                var (kind, variant) = (c.Rows[i].Kind, c.Rows[i].Variant);
                var plain = $"plain {i} ✓ {variant}";
                stored[i] = kind switch
                {
                    Kind.Older => ring.Protect(plain, "v1"),
                    Kind.AtTarget => ring.Protect(plain, "v2"),
                    Kind.Newer => ring.Protect(plain, "v3"),
                    Kind.UnknownVersion => StoredValue.Create("v9", foreignToken).ToString(),
                    Kind.Damaged => Damage(ring.Protect(plain, "v1"), variant),
                    Kind.Whitespace => WithWhitespace(ring.Protect(plain, variant % 2 == 0 ? "v1" : "v2"), variant),
                    Kind.Plaintext => variant switch { 0 => "https://x:y@host", 1 => "notaversion:abc", 2 => "", 3 => "v1", _ => plain },
                    _ => null,
                };
                readable[i] = kind is Kind.Older or Kind.AtTarget or Kind.Newer or Kind.Whitespace ? plain : null;
                TestDatabase.Execute(connection, null,
                    $"INSERT INTO {TestDatabase.Q(Table)} VALUES ({string.Format(CultureInfo.InvariantCulture, cast, "@p0")}, @p1)", keyOf(i), stored[i]);
            }
        }
        var before = (string?[])stored.Clone();

        var options = new ReencryptionOptions { Table = Table.Name, Column = Table.Column, KeyColumn = Table.Key, BatchSize = c.Batch, CommitEvery = c.Commit, EncryptPlaintext = c.EncryptPlaintext, Resume = true };
        ReencryptJob? job = null;
        // When a job has read every row, a readable value left at v1 has a cause: the application wrote it with the old key
        // during that job. Anything else (a skipped row) is a lossy cursor or a lost update, whatever the proof then says.
        var writtenOld = new HashSet<int>();
        void Ended(ReencryptJob? j)
        {
            if (j?.StatusKind is not (JobStatus.Finished or JobStatus.Incomplete)) return;
            var values = ReadAll(db, c.Rows.Length, keyOf, cast);
            for (int i = 0; i < values.Length; i++)
            {
                if (Readable(ring, values[i]) == "v1")
                    Assert.True(writtenOld.Contains(i), $"job {j.Id} ({j.Status}) read every row but left row {i} at v1 without a cause: {j.Message}");
            }
            writtenOld.Clear();
        }
        bool oldWriteInLastRun = false;
        foreach (var run in c.Runs)
        {
            Task? write = null;
            var observer = new RecordingObserver
            {
                OnProgress = (_, n) =>
                {
                    if (n == run.WriteAt && write is null && run.WriteRow < c.Rows.Length && kinds[run.WriteRow] != Kind.Null)
                    {
                        // The application saves a new value (with the old key file, or the new one) while the run goes on. It
                        // may have to wait for the run's lock on the row (or on SQLite the database), so it writes from its
                        // own thread, and lands whenever the run lets it.
                        var row = run.WriteRow;
                        var text = $"written during the run {n}";
                        var value = ring.Protect(text, run.WriteOld ? "v1" : "v2");
                        readable[row] = text;
                        before[row] = value;
                        kinds[row] = run.WriteOld ? Kind.Older : Kind.AtTarget;
                        if (run.WriteOld) writtenOld.Add(row);
                        write = Task.Run(() => db.Execute(
                            $"UPDATE {TestDatabase.Q(Table)} SET {TestDatabase.Q(Table.Column)} = @p0 WHERE {TestDatabase.Q(Table.Key)} = {string.Format(CultureInfo.InvariantCulture, cast, "@p1")}",
                            value, keyOf(row)));
                    }
                    if (n == run.KillAt) throw new OperationCanceledException("killed in the middle of a page");
                },
            };
            try
            {
                job = db.Engine(ring, EngineConnection(db)).Run(options with { MaxRows = run.MaxRows == 0 ? null : run.MaxRows }, observer, CancellationToken.None);
            }
            catch (OperationCanceledException)
            {
                job = null;
            }
            Assert.True(write?.Wait(TimeSpan.FromSeconds(60)) ?? true, "the application's write never landed");
            // Judged once the write has landed: its thread may be scheduled late (a loaded machine), after the run counted the
            // column for its proof. A value the application wrote with the old key after that count is the application's,
            // after the job: the job's "finished" was true when it counted, and the next run must take the value.
            Ended(job);
            oldWriteInLastRun = write is not null && run.WriteOld;
        }
        if (oldWriteInLastRun && job?.StatusKind == JobStatus.Finished) job = null;
        // Then runs to the end, as an operator would: again while it is paused, once more when it ended incomplete.
        for (int i = 0; i < 4 && (job is null || job.StatusKind is not (JobStatus.Finished or JobStatus.Incomplete) || (job.StatusKind == JobStatus.Incomplete && i < 2)); i++)
        {
            job = db.Engine(ring, EngineConnection(db)).Run(options, new RecordingObserver(), CancellationToken.None);
            Ended(job);
        }
        Assert.NotNull(job);
        Assert.True(job!.StatusKind is JobStatus.Finished or JobStatus.Incomplete, $"{job.StatusKind}: {job.Message}");

        var now = ReadAll(db, c.Rows.Length, keyOf, cast);
        bool belowTarget = false, olderPrefix = false;
        for (int i = 0; i < c.Rows.Length; i++)
        {
            var value = now[i];
            var kind = kinds[i];
            if (readable[i] is { } plain)
            {
                Assert.True(value is not null, $"row {i} ({kind}): a readable value became NULL");
                Assert.True(StoredValue.TryParseAsApplication(value, out var parsed), $"row {i} ({kind}): the application can no longer read it");
                Assert.Equal(plain, ring.UnprotectToString(parsed.ToString()));
                if (kind == Kind.Newer) Assert.Equal(before[i], value); // never moved back to the older target
                if (parsed.Version == "v1") belowTarget = true;
            }
            else if (kind == Kind.Plaintext && c.EncryptPlaintext)
            {
                Assert.True(StoredValue.TryParseAsApplication(value, out var parsed), $"row {i}: plaintext was not migrated");
                Assert.Equal(before[i], ring.UnprotectToString(parsed.ToString()));
            }
            else
            {
                Assert.True(before[i] == value, $"row {i} ({kind}): a value nobody can read was changed");
            }
            if (value is not null && ApplicationWhitespace.Trim(value).StartsWith("v1:" + Data.SqlDialect.StoredTokenStart, StringComparison.Ordinal)) olderPrefix = true;
        }
        if (job.StatusKind == JobStatus.Finished) Assert.False(belowTarget, $"'finished' with a readable value still at v1: {job.Message}");
        else Assert.True(olderPrefix, $"'incomplete' with no value at an older version: {job.Message}");

        // The independent reader (Python, the application's own trimming) reads every readable row to the same plaintext.
        if (IndependentReader.Unavailable is null)
        {
            var rows = Enumerable.Range(0, c.Rows.Length).Where(i => readable[i] is not null).ToList();
            if (rows.Count == 0) return;
            var seen = IndependentReader.Decrypt(keys, rows.Select(i => now[i]!).ToList());
            for (int j = 0; j < rows.Count; j++) Assert.Equal(readable[rows[j]], Encoding.UTF8.GetString(seen[j]));
        }
    }

    internal virtual string EngineConnection(TestDatabase db) => db.ConnectionString;

    /// <summary>The version of a value the application can decrypt (after its own trimming), or null.</summary>
    private static string? Readable(KeyRing ring, string? value)
    {
        if (!StoredValue.TryParseAsApplication(value, out var parsed)) return null;
        try
        {
            CryptographicOperations.ZeroMemory(ring.Unprotect(parsed.ToString()));
            return parsed.Version;
        }
        catch (SecretsPSException)
        {
            return null;
        }
    }

    /// <summary>The values in key order of generation (row i has key keyOf(i)), read one by one through the same cast.</summary>
    private static string?[] ReadAll(TestDatabase db, int count, Func<int, object> keyOf, string cast)
    {
        var result = new string?[count];
        using var connection = db.Open();
        for (int i = 0; i < count; i++)
        {
            using var command = TestDatabase.Command(connection, null,
                $"SELECT {TestDatabase.Q(Table.Column)} FROM {TestDatabase.Q(Table)} WHERE {TestDatabase.Q(Table.Key)} = {string.Format(CultureInfo.InvariantCulture, cast, "@p0")}", keyOf(i));
            result[i] = command.ExecuteScalar() as string;
        }
        return result;
    }

    private static string Damage(string value, int variant)
    {
        var chars = value.ToCharArray();
        int at = 3 + 20 + variant * 7 % (chars.Length - 30);
        chars[at] = chars[at] == 'A' ? 'B' : 'A';
        return variant % 3 == 0 ? value[..^8] : variant % 3 == 1 ? new string(chars) : value[..40] + " junk " + value[40..];
    }

    private static string WithWhitespace(string value, int variant)
    {
        var around = Around[variant % Around.Length];
        if (around.Length == 0) return value.TrimEnd('='); // padding left out
        return variant % 3 == 0 ? around + value : variant % 3 == 1 ? value + around : around + value + around;
    }
}

public sealed class CompletenessPropertyOnSqliteTests : CompletenessPropertyTests
{
    public CompletenessPropertyOnSqliteTests(ITestOutputHelper output) : base(output) { }

    internal override TestDatabase NewDatabase() => new SqliteTestDatabase();

    protected override bool Unavailable() => false;

    protected override int KeyKinds => 4;

    protected override int DefaultCases => 40;

    protected override (string, string, Func<int, object>) KeyColumn(int kind) => kind switch
    {
        0 => ("INTEGER PRIMARY KEY", "{0}", i => (long)(i * 7919 - 50_000)),
        1 => ("REAL PRIMARY KEY", "{0}", i => 10 + (i % 2 == 0 ? 1 : -1) * i * 3.3e-7), // close keys on both sides of 10: a short text form would round across them
        2 => ("TEXT COLLATE NOCASE PRIMARY KEY", "{0}", i => (i % 2 == 0 ? "Key " : "kEY ") + i.ToString("000", CultureInfo.InvariantCulture)),
        _ => ("NOT NULL UNIQUE", "{0}", i => i % 3 == 0 ? (long)i : i % 3 == 1 ? i.ToString(CultureInfo.InvariantCulture) : (object)(i + 0.5)),
    };
}

[Collection("postgres")]
public sealed class CompletenessPropertyOnPostgreSqlTests : CompletenessPropertyTests
{
    private readonly PostgresServer _server;

    public CompletenessPropertyOnPostgreSqlTests(PostgresServer server, ITestOutputHelper output) : base(output) => _server = server;

    internal override TestDatabase NewDatabase() => new PostgreSqlTestDatabase(_server);

    protected override bool Unavailable()
    {
        if (_server.Available) return false;
        Output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    protected override int KeyKinds => 6;

    protected override int DefaultCases => 25;

    internal override string EngineConnection(TestDatabase db) =>
        new NpgsqlConnectionStringBuilder(db.ConnectionString) { Timezone = "America/Sao_Paulo", Pooling = false }.ConnectionString;

    protected override (string, string, Func<int, object>) KeyColumn(int kind) => kind switch
    {
        0 => ("bigint PRIMARY KEY", "CAST({0} AS bigint)", i => (i * 7919L - 50_000).ToString(CultureInfo.InvariantCulture)),
        1 => ("numeric(38,12) PRIMARY KEY", "CAST({0} AS numeric(38,12))", i => "1234567890123456789012345." + (i * 7919).ToString("000000000000", CultureInfo.InvariantCulture)),
        2 => ("timestamptz PRIMARY KEY", "CAST({0} AS timestamptz)", i => new DateTime(2024, 2, 17, 23, 0, 0).AddTicks(i * 9_876_543L).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "-03"),
        3 => ("uuid PRIMARY KEY", "CAST({0} AS uuid)", i => new Guid(i * 7919, (short)i, (short)-i, [9, 8, 7, 6, 5, 4, 3, (byte)i]).ToString()),
        4 => ("char(10) PRIMARY KEY", "CAST({0} AS char(10))", i => "k" + i.ToString(CultureInfo.InvariantCulture)),
        _ => ("text PRIMARY KEY", "CAST({0} AS text)", i => (i % 2 == 0 ? "Key " : "kEY ") + i.ToString("000", CultureInfo.InvariantCulture)),
    };
}
