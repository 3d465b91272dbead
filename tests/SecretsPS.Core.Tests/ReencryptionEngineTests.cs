using System.Collections.Concurrent;
using System.Globalization;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The re-encryption engine on a real database: every scenario here runs on SQLite (a file) and on
/// PostgreSQL (the collection's throwaway server) through the two derived classes. After each scenario the
/// table is read back by the application's independent reader (tests/interop/secretsps_ref.py) and every
/// row must decrypt to the plaintext the test wrote.
/// </summary>
public abstract class ReencryptionEngineTests
{
    private protected static readonly TestTable Standard = new(null, "secrets", "id", "secret");

    protected ReencryptionEngineTests(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    /// <summary>A fresh, empty database of the provider under test.</summary>
    internal abstract TestDatabase NewDatabase();

    /// <summary>Column types in the provider's spelling.</summary>
    internal abstract string TextKeyType { get; }
    internal abstract string PlainIntegerType { get; }

    /// <summary>True (and a NOT RUN line) when the provider is not available on this machine.</summary>
    protected abstract bool Unavailable();

    internal static string Plain(long i) => (i % 11) switch
    {
        0 => "",
        1 => $"São Paulo — ção 日本語 🔑 {i}",
        2 => $"two\nlines\r\nand a tab\t{i}",
        3 => new string('x', 40 + (int)(i % 50)) + i,
        _ => "secret-" + i.ToString(CultureInfo.InvariantCulture),
    };

    internal static string K(long i) => i.ToString(CultureInfo.InvariantCulture);

    /// <summary>Rows 1..n: <paramref name="versionOf"/> gives each row's version, or null for a NULL value. Returns key → plaintext.</summary>
    internal static Dictionary<string, string?> Seed(TestDatabase db, TestTable table, TestKeys keys, int n, Func<long, string?> versionOf,
        Func<long, object>? keyOf = null, Func<long, string?>? keyText = null)
    {
        var expected = new Dictionary<string, string?>();
        var rows = new List<(object, string?)>(n);
        for (long i = 1; i <= n; i++)
        {
            var version = versionOf(i);
            var plain = version is null ? null : Plain(i);
            var key = keyOf?.Invoke(i) ?? i;
            expected[ColumnTarget.KeyToText(key)] = plain;
            rows.Add((key, plain is null ? null : keys.Ring.Protect(plain, version)));
        }
        db.Insert(table, rows);
        return expected;
    }

    internal static ReencryptionOptions Options(TestTable table, int batch = 16, int commit = 32) =>
        new() { Table = table.Option, Column = table.Column, BatchSize = batch, CommitEvery = commit };

    internal void AssertHolds(TestDatabase db, TestTable table, TestKeys keys, IReadOnlyDictionary<string, string?> expected, string? version) =>
        IndependentReader.AssertTableHolds(db, table, keys, expected, version, Output);

    private static SecretsPSException Refused(Action action) => Assert.Throws<SecretsPSException>(action);

    // ------------------------------------------------------------------ the normal run

    [Fact]
    public void Every_row_is_reencrypted_to_the_active_version_NULLs_stay_NULL_and_a_second_run_skips_every_row()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 200, i => i % 10 == 3 ? null : i % 7 == 0 ? "v2" : "v1");
        long nonNull = expected.Count(e => e.Value is not null);
        long alreadyV2 = Enumerable.Range(1, 200).Count(i => i % 10 != 3 && i % 7 == 0);
        var observer = new RecordingObserver();

        var job = db.Engine(keys.Ring).Run(Options(Standard), observer, CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal("v2", job.TargetVersion);
        Assert.Equal(nonNull, job.TotalRows);
        Assert.Equal(nonNull - alreadyV2, job.Processed);
        Assert.Equal(alreadyV2, job.Skipped);
        Assert.Equal(0, job.Errors);
        Assert.Equal("200", job.LastKey);
        Assert.NotNull(job.FinishedAt);
        Assert.Empty(observer.Failures);
        Assert.Equal(nonNull, observer.Progresses[^1].Done);

        var row = db.Job(job.Id)!;
        Assert.Equal((JobStatus.Finished, nonNull, nonNull - alreadyV2, alreadyV2, 0L, "200"),
            (row.StatusKind, row.TotalRows, row.Processed, row.Skipped, row.Errors, row.LastKey));
        Assert.Equal(("secrets", "secret", "id", "v2", 16, 32), (row.Table, row.Column, row.KeyColumn, row.TargetVersion, row.BatchSize, row.CommitEvery));
        Assert.StartsWith(ReencryptionEngine.Owner + ":w0-", row.Owner); // this process, and the worker of this run
        Assert.NotNull(row.StartedAt);
        Assert.NotNull(row.FinishedAt);
        Assert.True(row.FinishedAt >= row.StartedAt);
        Assert.Empty(db.JobErrors());
        AssertHolds(db, Standard, keys, expected, "v2");

        var after = db.Read(Standard);
        var second = db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.NotEqual(job.Id, second.Id);
        Assert.Equal(JobStatus.Finished, second.StatusKind);
        Assert.Equal((0L, nonNull, 0L), (second.Processed, second.Skipped, second.Errors));
        Assert.Equal(after, db.Read(Standard));
        Assert.Empty(db.JobErrors());
    }

    // ------------------------------------------------------------------ a column already done

    [Fact]
    public void A_column_whose_last_job_finished_and_whose_every_value_is_at_the_active_version_is_counted_not_read_again()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 200, i => i % 10 == 3 ? null : "v1");
        long nonNull = expected.Count(e => e.Value is not null);
        var first = db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);
        Assert.Equal(JobStatus.Finished, first.StatusKind);
        var after = db.Read(Standard);

        var observer = new RecordingObserver();
        var second = db.Engine(keys.Ring).Run(Options(Standard) with { Resume = true }, observer, CancellationToken.None);

        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal((JobStatus.Finished, nonNull, 0L, nonNull, 0L), (second.StatusKind, second.TotalRows, second.Processed, second.Skipped, second.Errors));
        Assert.NotNull(second.FinishedAt);
        Assert.Contains($"counted at finish: v2={nonNull}", second.Message);
        Assert.Contains(observer.Infos, i => i.Contains("already at v2", StringComparison.Ordinal) && i.Contains(second.Id.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        // Read page by page (16 rows a page), the column would have made a dozen progress records; counted, it makes one.
        Assert.Single(observer.Progresses);
        var row = db.Job(second.Id)!;
        Assert.Equal((JobStatus.Finished, nonNull, 0L, nonNull), (row.StatusKind, row.TotalRows, row.Processed, row.Skipped));
        Assert.Equal(second.Message, row.Message);
        Assert.Equal(after, db.Read(Standard));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void After_a_finished_job_a_value_written_with_an_old_key_or_not_ciphertext_makes_the_next_run_read_the_column_again()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 100, _ => "v1");
        Assert.Equal(JobStatus.Finished, db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None).StatusKind);
        var update = $"UPDATE {TestDatabase.Q(Standard)} SET {TestDatabase.Q(Standard.Column)} = @p0 WHERE {TestDatabase.Q(Standard.Key)} = @p1";

        // An application instance still on the old key file writes a row: the next run takes it.
        db.Execute(update, keys.Ring.Protect("written late", "v1"), 7L);
        expected["7"] = "written late";
        var observer = new RecordingObserver();
        var second = db.Engine(keys.Ring).Run(Options(Standard), observer, CancellationToken.None);
        Assert.Equal((JobStatus.Finished, 1L, 99L, 0L), (second.StatusKind, second.Processed, second.Skipped, second.Errors));
        Assert.DoesNotContain(observer.Infos, i => i.Contains("already at v2", StringComparison.Ordinal));
        AssertHolds(db, Standard, keys, expected, "v2");

        // A value that is not ciphertext: reported by the run as before, never passed over by the count.
        db.Execute(update, "not ciphertext at all", 9L);
        var third = db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);
        Assert.Equal((0L, 99L, 1L), (third.Processed, third.Skipped, third.Errors));
        Assert.Contains(db.JobErrors(), e => e.JobId == third.Id && e.RowKey == "9");
    }

    [Fact]
    public void Reencryption_keeps_each_tokens_timestamp()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var origin = new DateTimeOffset(2021, 3, 4, 5, 6, 7, TimeSpan.Zero);
        var expected = new Dictionary<string, string?>();
        var rows = new List<(object, string?)>();
        for (long i = 1; i <= 40; i++)
        {
            expected[K(i)] = Plain(i);
            rows.Add((i, keys.ProtectAt(Plain(i), "v1", origin.AddHours(i * 13))));
        }
        db.Insert(Standard, rows);
        var before = db.Read(Standard).ToDictionary(r => r.Key, r => FernetKey.ReadTimestamp(StoredValue.Parse(r.Value!).Token));

        var job = db.Engine(keys.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.Equal((JobStatus.Finished, 40L), (job.StatusKind, job.Processed));
        foreach (var (key, value) in db.Read(Standard))
        {
            var stored = StoredValue.Parse(value!);
            Assert.Equal("v2", stored.Version);
            Assert.Equal(before[key], FernetKey.ReadTimestamp(stored.Token));
            Assert.Equal(origin.AddHours(long.Parse(key, CultureInfo.InvariantCulture) * 13).ToUnixTimeSeconds(), FernetKey.ReadTimestamp(stored.Token));
        }
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    // ------------------------------------------------------------------ values that cannot be re-encrypted

    /// <summary>Values that are not SecretsPS ciphertext, each one distinctive so that a leak into a reason would show.</summary>
    private static Dictionary<long, string> NotCiphertext(TestKeys keys)
    {
        var token = keys.Ring.Get("v1").FernetKey.Encrypt("zzz"u8);
        return new Dictionary<long, string>
        {
            // "v1:this is not base64 at all!", "v1:<base64 of no token>" and " <stored value>" used to be here. FORMATS.md §4:
            // the first two start with a known version and are damaged ciphertext (CiphertextDamaged, never encrypted: see
            // the test of unknown versions below); the third is read by the application after its strip(), so it is
            // ciphertext that moves (see the test of surrounding whitespace below). Encrypting it as plaintext corrupted it.
            [101] = "hunter2-plaintext-password",
            [102] = "user:not a version prefix",
            [103] = "no colon at all, just a sentence",
            [104] = "https://example.com:8443/path",
            [105] = "  plaintext with its own surrounding whitespace\n",
            [106] = token,                                  // a bare Fernet token, no version prefix
            [107] = "",                                     // empty, not NULL
            [108] = "ünïcödé plaintext ✓",
        };
    }

    [Fact]
    public void Values_that_are_not_ciphertext_are_row_errors_whose_reason_never_contains_the_value_and_they_stay_unchanged()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 20, _ => "v1");
        var bad = NotCiphertext(keys);
        db.Insert(Standard, bad.Select(b => ((object)b.Key, (string?)b.Value)));
        var observer = new RecordingObserver();

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 5, commit: 5), observer, CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((20L, 0L, (long)bad.Count), (job.Processed, job.Skipped, job.Errors));
        Assert.Contains($"{bad.Count} row error", job.Message);
        var errors = db.JobErrors();
        Assert.Equal(bad.Keys.Select(K).Order(), errors.Select(e => e.RowKey).Order());
        Assert.All(errors, e => Assert.Equal(job.Id, e.JobId));
        Assert.All(errors, e => Assert.StartsWith("NotCiphertext", e.Reason));
        Assert.Equal(bad.Keys.Select(K).Order(), observer.Failures.Select(f => f.RowKey).Order());
        foreach (var (key, value) in bad.Where(b => b.Value.Length > 0))
        {
            Assert.All(errors, e => Assert.DoesNotContain(value.Trim(), e.Reason));
            Assert.All(observer.Failures, f => Assert.DoesNotContain(value.Trim(), f.Reason));
            Assert.DoesNotContain(value.Trim(), job.Message ?? "");
        }
        var stored = db.Read(Standard);
        foreach (var (key, value) in bad) Assert.Equal(value, stored[K(key)]);
        Assert.Equal(bad.Count, db.Job(job.Id)!.Errors);

        // The independent reader refuses the table because of those rows, naming a key, never a value.
        foreach (var (key, _) in bad) stored.Remove(K(key));
        Assert.All(stored, r => Assert.Equal(expected[r.Key], keys.Ring.UnprotectToString(r.Value)));
        if (IndependentReader.Unavailable is null)
        {
            var refused = IndependentReader.Run(db, Standard, keys, "v2");
            Assert.Equal(1, refused.ExitCode);
            foreach (var value in bad.Values.Where(v => v.Trim().Length > 0)) Assert.DoesNotContain(value.Trim(), refused.Error);
        }
    }

    [Fact]
    public void With_EncryptPlaintext_values_that_are_not_ciphertext_become_ciphertext_of_their_original_text()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 20, i => i % 5 == 0 ? null : "v1");
        var bad = NotCiphertext(keys);
        db.Insert(Standard, bad.Select(b => ((object)b.Key, (string?)b.Value)));
        foreach (var (key, value) in bad) expected[K(key)] = value;

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 5, commit: 5) with { EncryptPlaintext = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((16L + bad.Count, 0L, 0L), (job.Processed, job.Skipped, job.Errors));
        Assert.Empty(db.JobErrors());
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_value_with_an_unknown_version_is_a_row_error_ValueVersionUnknown_and_a_tampered_token_a_row_error_Token_even_with_EncryptPlaintext()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 10, _ => "v1");

        var good = StoredValue.Parse(keys.Ring.Protect("a value under v1", "v1"));
        var unknown = StoredValue.Create("v9", good.Token).ToString();
        var chars = good.Token.ToCharArray();
        chars[40] = chars[40] == 'A' ? 'B' : 'A'; // a ciphertext byte: the HMAC no longer matches
        var tampered = StoredValue.Create("v1", new string(chars)).ToString();
        var wrongKey = StoredValue.Create("v1", StoredValue.Parse(keys.Ring.Protect("under v2's key", "v2")).Token).ToString();
        // A known version and a colon, then no stored value: damaged ciphertext (FORMATS.md §4), never plaintext.
        var garbage = "v1:this is not base64 at all!";
        var notAToken = "v1:" + Base64Url.Encode("hello-not-a-token"u8.ToArray());
        var bad = new Dictionary<long, string> { [21] = unknown, [22] = tampered, [23] = wrongKey, [24] = garbage, [25] = notAToken };
        db.Insert(Standard, bad.Select(b => ((object)b.Key, (string?)b.Value)));

        foreach (var encryptPlaintext in new[] { false, true })
        {
            var observer = new RecordingObserver();
            var job = db.Engine(keys.Ring).Run(Options(Standard) with { EncryptPlaintext = encryptPlaintext }, observer, CancellationToken.None);

            // Two damaged values still name v1 as stored tokens do: the count at the end cannot tell them from readable ones,
            // so the job is not 'finished' (removing v1 is a person's decision once they are looked at).
            Assert.Equal(JobStatus.Incomplete, job.StatusKind);
            Assert.Equal(new Dictionary<string, long> { ["v1"] = 2, ["v2"] = 10, ["v9"] = 1, ["(not ciphertext)"] = 2 }, job.CountsAtFinish);
            Assert.Equal(5, job.Errors);
            var reasons = observer.Failures.ToDictionary(f => f.RowKey, f => f.Reason);
            Assert.StartsWith("ValueVersionUnknown", reasons["21"]);
            Assert.StartsWith("Token", reasons["22"]);
            Assert.StartsWith("Token", reasons["23"]);
            Assert.StartsWith("CiphertextDamaged", reasons["24"]);
            Assert.StartsWith("CiphertextDamaged", reasons["25"]);
            var recorded = db.JobErrors().Where(e => e.JobId == job.Id).ToDictionary(e => e.RowKey, e => e.Reason);
            Assert.Equal(reasons, recorded);
            var stored = db.Read(Standard);
            foreach (var (key, value) in bad)
            {
                Assert.Equal(value, stored[K(key)]);
                Assert.All(reasons.Values, r => Assert.DoesNotContain(value[3..], r));
            }
        }
        var rows = db.Read(Standard);
        foreach (var (key, plain) in expected) Assert.Equal(plain, keys.Ring.UnprotectToString(rows[key]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_value_the_application_reads_through_its_surrounding_whitespace_or_missing_padding_moves_to_the_target_in_canonical_form(bool encryptPlaintext)
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 10, _ => "v1");
        var wrappers = new (string Before, string After, bool Unpad)[]
        {
            ("", "\n", false), ("", " ", false), ("", "\r\n", false), ("\t", "", false), ("\u00A0", "\u00A0", false),
            ("\u001C", "", false), ("", "\u001F\u3000", false), ("", "", true), (" ", "\n", true),
        };
        var rows = new Dictionary<long, string>();
        for (int i = 0; i < wrappers.Length; i++)
        {
            var (before, after, unpad) = wrappers[i];
            var plaintext = $"wrapped secret {i} ção";
            var stored = keys.Ring.Protect(plaintext, "v1");
            rows[31 + i] = before + (unpad ? stored.TrimEnd('=') : stored) + after;
            expected[K(31 + i)] = plaintext;
        }
        db.Insert(Standard, rows.Select(r => ((object)r.Key, (string?)r.Value)));

        var job = db.Engine(keys.Ring).Run(Options(Standard) with { EncryptPlaintext = encryptPlaintext }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal((10L + rows.Count, 0L), (job.Processed, job.Errors));
        var read = db.Read(Standard);
        foreach (var key in rows.Keys)
            Assert.True(StoredValue.TryParse(read[K(key)], out var v) && v.ToString() == read[K(key)], $"row {key} is not in the canonical form");
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_value_that_would_not_fit_the_column_is_a_row_error_ValueTooLong_left_unchanged_never_truncated()
    {
        if (Unavailable()) return;
        const string longName = "v2-production-long-name";
        // Plaintexts under 16 bytes: 139 characters under "v1", 160 under the long name; the column holds 150.
        Assert.Equal(139, StoredValue.LengthFor(2, 15));
        Assert.Equal(160, StoredValue.LengthFor(longName.Length, 0));
        using var keys = TestKeys.Create("v1", longName);
        using var db = NewDatabase();
        db.CreateTable(Standard, columnType: "VARCHAR(150)");
        var expected = new Dictionary<string, string?>();
        var rows = new List<(object, string?)>();
        for (long i = 1; i <= 12; i++)
        {
            var plain = i % 4 == 0 ? null : "pin-" + i;
            expected[K(i)] = plain;
            rows.Add((i, plain is null ? null : keys.Ring.Protect(plain, "v1")));
        }
        db.Insert(Standard, rows);
        var before = db.Read(Standard);
        var observer = new RecordingObserver();

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 4, commit: 4), observer, CancellationToken.None);

        // Nine readable values are still at v1: removing v1 now would destroy them, so the job is not 'finished'.
        Assert.Equal(JobStatus.Incomplete, job.StatusKind);
        Assert.Equal(new Dictionary<string, long> { ["v1"] = 9 }, job.CountsAtFinish);
        Assert.Contains("9 value(s) below", job.Message);
        Assert.Equal((0L, 0L, 9L), (job.Processed, job.Skipped, job.Errors));
        Assert.All(db.JobErrors(), e => Assert.StartsWith("ValueTooLong", e.Reason));
        Assert.Equal(9, db.JobErrors().Count);
        Assert.Equal(before, db.Read(Standard));
        AssertHolds(db, Standard, keys, expected, "v1");
    }

    [Fact]
    public void More_row_errors_than_MaxErrors_fail_the_job_with_a_reason()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 60, i => "v1");
        db.Execute($"UPDATE {TestDatabase.Q(Standard)} SET secret = 'plain text ' || id WHERE id % 6 = 0");

        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 5, commit: 5) with { MaxErrors = 3 }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Failed, job.StatusKind);
        Assert.Contains("MaxErrors", job.Message);
        Assert.True(job.Errors > 3);
        Assert.Equal(JobStatus.Failed, db.Job(job.Id)!.StatusKind);
        Assert.Equal(job.Errors, db.JobErrors().Count);
    }

    // ------------------------------------------------------------------ -WhatIf

    [Fact]
    public void Preview_writes_nothing_and_counts_what_a_run_would_do()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 120, i => i % 10 == 3 ? null : i % 4 == 0 ? "v2" : "v1");
        db.Insert(Standard, [(1001L, "plain text"), (1002L, StoredValue.Create("v9", StoredValue.Parse(keys.Ring.Protect("x")).Token).ToString())]);
        var tables = db.TableNames();
        var before = db.Fingerprint(Standard);
        var observer = new RecordingObserver();

        var preview = db.Engine(keys.Ring).Preview(Options(Standard), observer, CancellationToken.None);

        Assert.Equal(before, db.Fingerprint(Standard));
        Assert.Equal(tables, db.TableNames());
        Assert.DoesNotContain(db.TableNames(), n => n.Contains("reencrypt", StringComparison.Ordinal));
        long v1 = Enumerable.Range(1, 120).Count(i => i % 10 != 3 && i % 4 != 0), v2 = Enumerable.Range(1, 120).Count(i => i % 10 != 3 && i % 4 == 0);
        Assert.Equal(("secrets", "secret", "id", "v2"), (preview.Table, preview.Column, preview.KeyColumn, preview.TargetVersion));
        Assert.Equal((v1 + v2 + 2, v1, v2, 2L), (preview.TotalRows, preview.WouldReencrypt, preview.AlreadyAtTarget, preview.Errors));
        Assert.Equal(v1, preview.RowsByVersion["v1"]);
        Assert.Equal(v2, preview.RowsByVersion["v2"]);
        Assert.Equal(1, preview.RowsByVersion["v9"]);
        Assert.Equal(1, preview.RowsByVersion.Where(r => r.Key is not ("v1" or "v2" or "v9")).Sum(r => r.Value));
        Assert.Equal(["1001", "1002"], observer.Failures.Select(f => f.RowKey).Order());
    }

    // ------------------------------------------------------------------ stopping and resuming

    [Fact]
    public void MaxRows_pauses_the_job_and_Resume_finishes_it_with_every_row_done_exactly_once()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 100, _ => "v1");
        var options = Options(Standard, batch: 8, commit: 8) with { MaxRows = 30 };

        var first = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Paused, first.StatusKind);
        Assert.Equal((30L, 0L, 0L, "30"), (first.Processed, first.Skipped, first.Errors, first.LastKey));
        Assert.Null(first.FinishedAt);
        Assert.Contains("MaxRows", first.Message);
        var row = db.Job(first.Id)!;
        Assert.Equal((JobStatus.Paused, 30L, "30"), (row.StatusKind, row.Processed, row.LastKey));
        var stored = db.Read(Standard);
        Assert.All(Enumerable.Range(1, 100), i => Assert.StartsWith(i <= 30 ? "v2:" : "v1:", stored[K(i)]));

        var statuses = new List<JobStatus> { first.StatusKind };
        var processed = new List<long> { first.Processed };
        var job = first;
        while (job.StatusKind != JobStatus.Finished && statuses.Count < 10)
        {
            job = db.Engine(keys.Ring).Run(options with { Resume = true }, new RecordingObserver(), CancellationToken.None);
            Assert.Equal(first.Id, job.Id);
            statuses.Add(job.StatusKind);
            processed.Add(job.Processed);
        }

        Assert.Equal([JobStatus.Paused, JobStatus.Paused, JobStatus.Paused, JobStatus.Finished], statuses);
        Assert.Equal([30L, 60L, 90L, 100L], processed);
        Assert.Equal((100L, 0L, 0L, 100L), (job.Processed, job.Skipped, job.Errors, job.TotalRows));
        Assert.Single(db.Jobs());
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void MaxDuration_zero_pauses_before_any_row_and_a_tiny_MaxDuration_pauses_midway_then_Resume_finishes()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 2000, _ => "v1");

        var zero = db.Engine(keys.Ring).Run(Options(Standard) with { MaxDuration = TimeSpan.Zero }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(JobStatus.Paused, zero.StatusKind);
        Assert.Equal((0L, null), (zero.Processed, zero.LastKey));
        Assert.Contains("MaxDuration", zero.Message);
        Assert.All(db.Read(Standard).Values, v => Assert.StartsWith("v1:", v));

        var options = Options(Standard, batch: 50, commit: 50) with { Resume = true, MaxDuration = TimeSpan.FromMilliseconds(5) };
        var job = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);
        Assert.Equal(zero.Id, job.Id);
        Assert.Equal(JobStatus.Paused, job.StatusKind);
        Assert.InRange(job.Processed, 1, 1999);
        Assert.Equal(K(job.Processed), job.LastKey);

        job = db.Engine(keys.Ring).Run(options with { MaxDuration = null }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal(zero.Id, job.Id);
        Assert.Equal((JobStatus.Finished, 2000L, 0L, 0L), (job.StatusKind, job.Processed, job.Skipped, job.Errors));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void JobId_resumes_that_job_and_a_finished_or_foreign_job_id_is_refused()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var other = new TestTable(null, "other", "id", "secret");
        db.CreateTable(other);
        var expected = Seed(db, Standard, keys, 50, _ => "v1");
        Seed(db, other, keys, 5, _ => "v1");
        var options = Options(Standard, batch: 5, commit: 5);

        var a = db.Engine(keys.Ring).Run(options with { MaxRows = 10 }, new RecordingObserver(), CancellationToken.None);
        var b = db.Engine(keys.Ring).Run(options with { MaxRows = 20 }, new RecordingObserver(), CancellationToken.None); // a new job from the start
        Assert.NotEqual(a.Id, b.Id);
        Assert.Equal((JobStatus.Paused, "10", 10L), (a.StatusKind, a.LastKey, a.Processed));
        Assert.Equal((JobStatus.Paused, "20", 10L, 10L), (b.StatusKind, b.LastKey, b.Processed, b.Skipped));

        var resumed = db.Engine(keys.Ring).Run(options with { JobId = a.Id }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(a.Id, resumed.Id);
        Assert.Equal(JobStatus.Finished, resumed.StatusKind);
        Assert.Equal((50L, 0L), (resumed.Processed + resumed.Skipped, resumed.Errors));
        Assert.Equal(JobStatus.Paused, db.Job(b.Id)!.StatusKind);
        AssertHolds(db, Standard, keys, expected, "v2");

        var finished = Refused(() => db.Engine(keys.Ring).Run(options with { JobId = a.Id }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobFinished", finished.ErrorId);
        // A job's identity is fixed: another table's job id is refused naming both targets, never continued there.
        var foreign = Refused(() => db.Engine(keys.Ring).Run(Options(other) with { JobId = b.Id }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobOptionsMismatch", foreign.ErrorId);
        Assert.Contains("secrets.secret", foreign.Message);
        Assert.Contains("other.secret", foreign.Message);
        var missing = Refused(() => db.Engine(keys.Ring).Run(options with { JobId = 9999 }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobNotFound", missing.ErrorId);
    }

    [Fact]
    public void A_run_cancelled_from_the_observer_commits_the_batch_in_hand_pauses_and_Resume_finishes()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 100, _ => "v1");
        using var cancel = new CancellationTokenSource();
        var observer = new RecordingObserver { OnProgress = (_, n) => { if (n == 3) cancel.Cancel(); } };

        // CommitEvery 25 with pages of 10: at the third page 30 rows are done and 10 of them not yet committed.
        var paused = db.Engine(keys.Ring).Run(Options(Standard, batch: 10, commit: 25), observer, cancel.Token);

        Assert.Equal(JobStatus.Paused, paused.StatusKind);
        Assert.Equal((30L, "30"), (paused.Processed, paused.LastKey));
        Assert.Contains("stopped", paused.Message);
        var row = db.Job(paused.Id)!;
        Assert.Equal((JobStatus.Paused, 30L, "30"), (row.StatusKind, row.Processed, row.LastKey));
        var stored = db.Read(Standard);
        Assert.All(Enumerable.Range(1, 100), i => Assert.StartsWith(i <= 30 ? "v2:" : "v1:", stored[K(i)]));

        var done = db.Engine(keys.Ring).Run(Options(Standard, batch: 10, commit: 25) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(paused.Id, done.Id);
        Assert.Equal((JobStatus.Finished, 100L, 0L), (done.StatusKind, done.Processed, done.Skipped));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void An_exception_from_the_observer_rolls_back_the_batch_in_hand_leaves_the_job_resumable_and_Resume_finishes()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 100, _ => "v1");
        // As PowerShell's WriteProgress throws once the pipeline is stopping.
        // Pages of 10, a commit at 30: the fourth report comes with rows 31-40 written but not committed.
        var observer = new RecordingObserver { OnProgress = (_, n) => { if (n == 4) throw new OperationCanceledException("the pipeline is stopping"); } };

        Assert.Throws<OperationCanceledException>(() => db.Engine(keys.Ring).Run(Options(Standard, batch: 10, commit: 25), observer, CancellationToken.None));

        var stopped = db.Jobs().Single();
        Assert.NotEqual(JobStatus.Running, stopped.StatusKind);
        Assert.Equal((30L, "30"), (stopped.Processed, stopped.LastKey));
        var stored = db.Read(Standard);
        Assert.All(Enumerable.Range(1, 100), i => Assert.StartsWith(i <= 30 ? "v2:" : "v1:", stored[K(i)]));

        var done = db.Engine(keys.Ring).Run(Options(Standard, batch: 10, commit: 25) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(stopped.Id, done.Id);
        Assert.Equal((JobStatus.Finished, 100L, 0L), (done.StatusKind, done.Processed, done.Skipped));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void Resuming_after_a_rotation_is_refused_as_another_target_and_a_new_job_moves_every_value_to_the_new_version()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 60, _ => "v1");
        var paused = db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 20 }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Paused, "v2"), (paused.StatusKind, paused.TargetVersion));

        // The operator rotates again; the application now writes with v3 (rows ahead of the job's cursor).
        KeyFileOperations.Rotate(keys.Path, new RotationOptions { NewVersion = "v3" }, KeyFileFixture.NoEnvironment);
        using var rotated = KeyConfiguration.Load(keys.Path, KeyFileFixture.NoEnvironment);
        var written = new Dictionary<string, string>();
        foreach (var i in new[] { 30L, 40L, 50L })
        {
            var value = rotated.Ring.Protect("written after the rotation " + i);
            db.Execute("UPDATE secrets SET secret = @p0 WHERE id = @p1", value, i);
            written[K(i)] = value;
            expected[K(i)] = "written after the rotation " + i;
        }

        // The job's rows before its cursor are at v2, not v3: continuing it to v3 would leave them behind.
        var refused = Refused(() => db.Engine(rotated.Ring).Run(Options(Standard) with { Resume = true }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobOptionsMismatch", refused.ErrorId);
        Assert.Contains("'v2'", refused.Message);
        Assert.Contains("'v3'", refused.Message);
        Assert.Equal(JobStatus.Paused, db.Job(paused.Id)!.StatusKind);

        var job = db.Engine(rotated.Ring).Run(Options(Standard), new RecordingObserver(), CancellationToken.None);

        Assert.NotEqual(paused.Id, job.Id);
        Assert.Equal((JobStatus.Finished, "v3"), (job.StatusKind, job.TargetVersion));
        var stored = db.Read(Standard);
        foreach (var (key, value) in written)
            Assert.True(value == stored[key], $"row {key}: a value already at the active version v3 was rewritten");
        foreach (var (key, value) in stored) Assert.Equal(expected[key], rotated.Ring.UnprotectToString(value));
        Assert.All(stored.Values, v => Assert.StartsWith("v3:", v));
    }

    // ------------------------------------------------------------------ other writers and other runs

    [Fact]
    public void A_concurrent_writer_always_wins_every_row_ends_as_the_writer_left_it_or_reencrypted_and_all_at_the_target_version()
    {
        if (Unavailable()) return;
        const int rows = 20_000;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, rows, _ => "v1");
        bool sqlite = db.Provider == DatabaseProvider.Sqlite;
        if (sqlite) db.Execute("PRAGMA journal_mode = WAL"); // as an application with concurrent writers runs SQLite
        // On SQLite every write queues for the one write lock (and Microsoft.Data.Sqlite retries a busy lock only
        // every 150 ms or so), so the thread writes less often there; the observer adds a write between batches.
        using var writer = new ApplicationWriter(db, Standard, keys, rows, busyTimeoutSeconds: 60, pauseMilliseconds: sqlite ? 20 : 2);
        long reported = 0;
        var observer = new RecordingObserver
        {
            OnProgress = (p, _) =>
            {
                writer.EngineDone = p.Done;
                // SQLite has one writer at a time: the application's writes also land between the engine's transactions.
                // Full pages are committed one by one here, so after a full page the engine holds no lock while it
                // reports (after a short page its transaction is still open: writing then would wait on ourselves).
                bool fullPage = p.Done - reported == 200;
                reported = p.Done;
                if (sqlite && fullPage) writer.WriteOne();
            },
        };

        writer.Start();
        var job = db.Engine(keys.Ring).Run(Options(Standard, batch: 200, commit: sqlite ? 200 : 400), observer, CancellationToken.None);
        writer.Stop();

        Assert.Null(writer.Failure);
        Output.WriteLine($"{writer.WritesDuringRun} application writes during the run ({writer.Inserts} inserts), longest {writer.MaxLatency.TotalMilliseconds:F0} ms; " +
                         $"job: processed {job.Processed}, skipped {job.Skipped}, errors {job.Errors}");
        Assert.True(writer.WritesDuringRun >= 50, $"only {writer.WritesDuringRun} application writes during the run: the test proves nothing");
        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal(0, job.Errors);
        Assert.Empty(db.JobErrors());

        var stored = db.Read(Standard);
        foreach (var (key, (value, plain)) in writer.Written)
        {
            Assert.True(value == stored[key], $"row {key}: the application's write was overwritten");
            expected[key] = plain;
        }
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public async Task A_second_run_on_the_same_target_while_one_runs_is_refused_with_JobAlreadyRunning()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 300, _ => "v1");
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var blocking = new RecordingObserver
        {
            OnProgress = (_, n) =>
            {
                if (n != 1) return;
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            },
        };
        // Pages of 10 committed one by one: the first run holds no lock while its observer waits.
        var options = Options(Standard, batch: 10, commit: 10);
        var first = Task.Run(() => db.Engine(keys.Ring).Run(options, blocking, CancellationToken.None));
        try
        {
            Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the first run never reported progress");
            var runningJob = db.Jobs().Single();
            Assert.Equal(JobStatus.Running, runningJob.StatusKind);

            var second = await Task.Run(() => Assert.Throws<SecretsPSException>(() =>
                db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None)));
            Assert.Equal("JobAlreadyRunning", second.ErrorId);
            var resume = await Task.Run(() => Assert.Throws<SecretsPSException>(() =>
                db.Engine(keys.Ring).Run(options with { Resume = true }, new RecordingObserver(), CancellationToken.None)));
            Assert.Equal("JobAlreadyRunning", resume.ErrorId);
            var byId = await Task.Run(() => Assert.Throws<SecretsPSException>(() =>
                db.Engine(keys.Ring).Run(options with { JobId = runningJob.Id }, new RecordingObserver(), CancellationToken.None)));
            Assert.Equal("JobAlreadyRunning", byId.ErrorId);
            Assert.Single(db.Jobs());
        }
        finally
        {
            release.Set();
        }

        var job = await first;
        Assert.Equal((JobStatus.Finished, 300L), (job.StatusKind, job.Processed));
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    [Fact]
    public void A_running_job_of_another_host_is_respected_while_its_heartbeat_is_fresh_and_resumed_once_it_is_stale()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var expected = Seed(db, Standard, keys, 100, _ => "v1");
        var paused = db.Engine(keys.Ring).Run(Options(Standard) with { MaxRows = 40 }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal(JobStatus.Paused, paused.StatusKind);

        // As a runner on another machine that died would have left it.
        db.Execute("UPDATE reencrypt_jobs SET status = 'running', owner = 'another-host:4242', updated_at = @p0 WHERE id = @p1", DateTime.UtcNow, paused.Id);
        var fresh = Refused(() => db.Engine(keys.Ring).Run(Options(Standard) with { Resume = true }, new RecordingObserver(), CancellationToken.None));
        Assert.Equal("JobAlreadyRunning", fresh.ErrorId);

        db.Execute("UPDATE reencrypt_jobs SET updated_at = @p0 WHERE id = @p1", DateTime.UtcNow.AddDays(-1), paused.Id);
        var job = db.Engine(keys.Ring).Run(Options(Standard) with { Resume = true }, new RecordingObserver(), CancellationToken.None);

        Assert.Equal(paused.Id, job.Id);
        Assert.Equal((JobStatus.Finished, 100L, 0L), (job.StatusKind, job.Processed, job.Skipped));
        Assert.StartsWith(ReencryptionEngine.Owner + ":w0-", db.Job(job.Id)!.Owner);
        AssertHolds(db, Standard, keys, expected, "v2");
    }

    // ------------------------------------------------------------------ names

    internal static readonly TestTable Hostile = new(null, "weird \"table\"; DROP TABLE x; --", "k\"ey /* */", "se\"cret'; DROP TABLE x; --");

    [Fact]
    public void A_table_and_columns_named_with_quotes_semicolons_and_comment_markers_are_reencrypted_as_names_never_run_as_SQL()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute("CREATE TABLE x (id INTEGER)");
        db.CreateTable(Hostile);
        var expected = Seed(db, Hostile, keys, 40, i => i % 9 == 0 ? null : "v1");
        var options = Options(Hostile) with { KeyColumn = null };

        var preview = db.Engine(keys.Ring).Preview(options, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((Hostile.Name, Hostile.Column, Hostile.Key, 36L), (preview.Table, preview.Column, preview.KeyColumn, preview.WouldReencrypt));

        var job = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);

        Assert.Equal((JobStatus.Finished, 36L, 0L), (job.StatusKind, job.Processed, job.Errors));
        Assert.Equal((Hostile.JobName, Hostile.Column, Hostile.Key), (job.Table, job.Column, job.KeyColumn));
        Assert.Contains(db.TableNames(), n => n.EndsWith("x", StringComparison.Ordinal) && !n.Contains("weird"));
        AssertHolds(db, Hostile, keys, expected, "v2");

        var again = db.Engine(keys.Ring).Run(options with { KeyColumn = Hostile.Key }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((0L, 36L), (again.Processed, again.Skipped));
    }

    [Fact]
    public void A_table_name_given_with_quotes_inside_it_names_that_table_or_is_refused_never_another_table()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var hostile = Hostile with { Key = "id", Column = "secret" };
        // What Identifier.ParseTable makes of the raw name (it drops the inner quotes): a decoy that must stay untouched.
        var decoy = hostile with { Name = "weird table; DROP TABLE x; --" };
        db.CreateTable(hostile);
        db.CreateTable(decoy);
        var expected = Seed(db, hostile, keys, 10, _ => "v1");
        var decoyExpected = Seed(db, decoy, keys, 10, _ => "v1");

        ReencryptJob? job = null;
        SecretsPSException? refused = null;
        try
        {
            // The name exactly as the table is called, as a user would type it: -Table 'weird "table"; DROP TABLE x; --'
            job = db.Engine(keys.Ring).Run(Options(hostile) with { Table = hostile.Name }, new RecordingObserver(), CancellationToken.None);
        }
        catch (SecretsPSException e)
        {
            refused = e;
        }

        var touched = db.Read(decoy).Where(r => !r.Value!.StartsWith("v1:", StringComparison.Ordinal)).Select(r => r.Key).ToList();
        Assert.True(touched.Count == 0,
            $"asked for table '{hostile.Name}', the engine re-encrypted rows {string.Join(", ", touched)} of table '{decoy.Name}' (job table_name '{job?.Table}')");
        AssertHolds(db, decoy, keys, decoyExpected, "v1");
        if (refused is not null)
        {
            Assert.Equal("IdentifierInvalid", refused.ErrorId);
            AssertHolds(db, hostile, keys, expected, "v1");
        }
        else
        {
            Assert.Equal(hostile.Name, job!.Table);
            AssertHolds(db, hostile, keys, expected, "v2");
        }
    }

    [Fact]
    public void Empty_names_and_names_with_control_characters_are_refused_with_IdentifierInvalid_before_anything_is_written()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        Seed(db, Standard, keys, 5, _ => "v1");
        var before = db.Fingerprint(Standard);
        var cases = new (string Table, string Column, string? Key, string JobTable)[]
        {
            ("", "secret", null, JobStore.DefaultTable),
            ("   ", "secret", null, JobStore.DefaultTable),
            ("sec\nrets", "secret", null, JobStore.DefaultTable),
            ("secrets\0", "secret", null, JobStore.DefaultTable),
            ("secrets", "", null, JobStore.DefaultTable),
            ("secrets", "sec\tret", null, JobStore.DefaultTable),
            ("secrets", "secret", "i\rd", JobStore.DefaultTable),
            ("secrets", "secret", "", JobStore.DefaultTable),
            ("app.", "secret", null, JobStore.DefaultTable),
            ("a.b.c", "secret", null, JobStore.DefaultTable),
            ("secrets", "secret", null, "jobs\n; DROP TABLE secrets"),
            ("secrets", "secret", null, ""),
        };

        foreach (var (table, column, key, jobTable) in cases)
        {
            var options = new ReencryptionOptions { Table = table, Column = column, KeyColumn = key, JobTable = jobTable };
            var run = Refused(() => db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None));
            Assert.True(run.ErrorId == "IdentifierInvalid", $"Run({table}, {column}, {key}, {jobTable}): {run.ErrorId}");
            if (jobTable != JobStore.DefaultTable) continue; // a preview has no job table
            var preview = Refused(() => db.Engine(keys.Ring).Preview(options, new RecordingObserver(), CancellationToken.None));
            Assert.True(preview.ErrorId == "IdentifierInvalid", $"Preview({table}, {column}, {key}): {preview.ErrorId}");
        }
        Assert.Equal(before, db.Fingerprint(Standard));
    }

    // ------------------------------------------------------------------ the key column

    [Fact]
    public void A_text_primary_key_is_found_and_used_as_the_cursor_across_pauses()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var table = new TestTable(null, "users", "login", "secret");
        db.CreateTable(table, keyType: TextKeyType);
        string[] names = ["Zoë", "alice", "Bob", "bob", "carol-10", "carol-9", "dave", "émile", "frank", "Grace", "a", "aa", "ab", "b", "z-last"];
        var expected = Seed(db, table, keys, names.Length * 3, i => i % 8 == 0 ? null : "v1", i => names[(i - 1) % names.Length] + "#" + ((i - 1) / names.Length));

        int runs = 0;
        ReencryptJob job;
        do
        {
            job = db.Engine(keys.Ring).Run(Options(table, batch: 3, commit: 3) with { Resume = true, MaxRows = 7 }, new RecordingObserver(), CancellationToken.None);
            runs++;
        }
        while (job.StatusKind == JobStatus.Paused && runs < 20);

        Assert.Equal(JobStatus.Finished, job.StatusKind);
        Assert.Equal("login", job.KeyColumn);
        Assert.Equal((expected.Count(e => e.Value is not null), 0L, 0L), (job.Processed, job.Skipped, job.Errors));
        Assert.True(runs > 3);
        AssertHolds(db, table, keys, expected, "v2");
    }

    [Fact]
    public void A_table_without_a_primary_key_needs_KeyColumn_and_works_with_it()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var table = new TestTable(null, "nopk", "id", "secret");
        db.CreateTable(table, keyType: PlainIntegerType);
        var expected = Seed(db, table, keys, 30, _ => "v1");

        var e = Refused(() => db.Engine(keys.Ring).Run(Options(table), new RecordingObserver(), CancellationToken.None));
        Assert.Equal("KeyColumnRequired", e.ErrorId);
        Assert.Equal("KeyColumnRequired", Refused(() => db.Engine(keys.Ring).Preview(Options(table), new RecordingObserver(), CancellationToken.None)).ErrorId);

        var job = db.Engine(keys.Ring).Run(Options(table) with { KeyColumn = "id" }, new RecordingObserver(), CancellationToken.None);
        Assert.Equal((JobStatus.Finished, 30L, "id"), (job.StatusKind, job.Processed, job.KeyColumn));
        AssertHolds(db, table, keys, expected, "v2");
    }

    /// <summary>A -KeyColumn that is not unique (pairs of equal values) or holds NULLs: the rows it cannot tell apart.</summary>
    [Theory]
    [InlineData("duplicates")]
    [InlineData("nulls")]
    public void A_KeyColumn_that_is_not_unique_and_non_NULL_is_refused_or_every_row_is_still_reencrypted_never_a_finished_job_with_rows_left_behind(string kind)
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE loose (id {PlainIntegerType} NOT NULL, grp {PlainIntegerType}, secret TEXT)");
        var expected = new Dictionary<string, string?>();
        for (long i = 1; i <= 30; i++)
        {
            object? grp = kind == "duplicates" ? (i + 1) / 2 : i % 4 == 0 ? null : i;
            db.Execute("INSERT INTO loose (id, grp, secret) VALUES (@p0, @p1, @p2)", i, grp, keys.Ring.Protect(Plain(i), "v1"));
            expected[K(i)] = Plain(i);
        }
        var table = new TestTable(null, "loose", "id", "secret");

        ReencryptJob? job = null;
        SecretsPSException? refused = null;
        try
        {
            job = db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "loose", Column = "secret", KeyColumn = "grp", BatchSize = 3, CommitEvery = 3 },
                new RecordingObserver(), CancellationToken.None);
        }
        catch (SecretsPSException e)
        {
            refused = e;
        }

        var stored = db.Read(table);
        if (refused is not null)
        {
            Output.WriteLine($"refused: {refused.ErrorId}");
            Assert.All(stored.Values, v => Assert.StartsWith("v1:", v));
            return;
        }
        var left = stored.Where(r => !r.Value!.StartsWith("v2:", StringComparison.Ordinal)).Select(r => r.Key).ToList();
        Output.WriteLine($"job {job!.Status}: total {job.TotalRows}, processed {job.Processed}, skipped {job.Skipped}, errors {job.Errors}; rows left at v1: {string.Join(", ", left)}");
        Assert.True(left.Count == 0 || job.StatusKind != JobStatus.Finished,
            $"the job says '{job.Status}' ({job.Message}) with {job.Processed + job.Skipped + job.Errors} of {job.TotalRows} rows accounted for, but rows {string.Join(", ", left)} are still at v1");
        AssertHolds(db, table, keys, expected, "v2");
    }

    [Fact]
    public void A_table_with_a_composite_primary_key_needs_KeyColumn()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.Execute($"CREATE TABLE pairs (a {PlainIntegerType} NOT NULL, b {PlainIntegerType} NOT NULL, secret TEXT, PRIMARY KEY (a, b))");

        var e = Refused(() => db.Engine(keys.Ring).Run(new ReencryptionOptions { Table = "pairs", Column = "secret" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("KeyColumnRequired", e.ErrorId);
        Assert.Contains("2 columns", e.Message);
    }

    [Fact]
    public void A_missing_table_or_column_is_TargetNotFound_and_creates_nothing()
    {
        if (Unavailable()) return;
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        db.CreateTable(Standard);
        var tables = db.TableNames();

        var noColumn = Refused(() => db.Engine(keys.Ring).Run(Options(Standard) with { Column = "nope" }, new RecordingObserver(), CancellationToken.None));
        var noTable = Refused(() => db.Engine(keys.Ring).Run(Options(Standard) with { Table = "nope", KeyColumn = "id" }, new RecordingObserver(), CancellationToken.None));

        Assert.Equal("TargetNotFound", noColumn.ErrorId);
        Assert.Equal("TargetNotFound", noTable.ErrorId);
        Assert.Equal(tables, db.TableNames());
    }
}

/// <summary>
/// The application, writing while the engine runs: its own key ring loaded from the same file, its own connection,
/// UPDATEs of random rows (half of them just ahead of the engine's cursor) and INSERTs of new rows, every value
/// protected with the ACTIVE version. It records the last value it committed per key, and how long each write waited.
/// </summary>
internal sealed class ApplicationWriter : IDisposable
{
    private readonly object _gate = new();
    private readonly KeyConfiguration _app;
    private readonly System.Data.Common.DbConnection _connection;
    private readonly System.Data.Common.DbCommand _update;
    private readonly System.Data.Common.DbCommand _insert;
    private readonly Random _random = new(1234);
    private readonly int _rows;
    private readonly int _pause;
    private readonly ManualResetEventSlim _stop = new();
    private Thread? _thread;
    private long _nextKey, _seq, _engineDone, _writesDuringRun;
    private volatile bool _running;

    public ApplicationWriter(TestDatabase db, TestTable table, TestKeys keys, int rows, int busyTimeoutSeconds, int pauseMilliseconds)
    {
        _pause = pauseMilliseconds;
        _rows = rows;
        _nextKey = rows + 1;
        _app = KeyConfiguration.Load(keys.Path, KeyFileFixture.NoEnvironment);
        _connection = db.OpenApplication(busyTimeoutSeconds);
        _update = TestDatabase.Command(_connection, null, $"UPDATE {TestDatabase.Q(table)} SET {TestDatabase.Q(table.Column)} = @p0 WHERE {TestDatabase.Q(table.Key)} = @p1", "", 0L);
        _insert = TestDatabase.Command(_connection, null, $"INSERT INTO {TestDatabase.Q(table)} ({TestDatabase.Q(table.Key)}, {TestDatabase.Q(table.Column)}) VALUES (@p1, @p0)", "", 0L);
    }

    public ConcurrentDictionary<string, (string Stored, string Plain)> Written { get; } = new();
    public long Inserts { get; private set; }
    public long WritesDuringRun => Interlocked.Read(ref _writesDuringRun);
    public TimeSpan MaxLatency { get; private set; }
    public Exception? Failure { get; private set; }

    public long EngineDone
    {
        get => Interlocked.Read(ref _engineDone);
        set => Interlocked.Exchange(ref _engineDone, value);
    }

    /// <summary>One write, committed (autocommit), then recorded.</summary>
    public void WriteOne()
    {
        lock (_gate)
        {
            long seq = ++_seq;
            bool isInsert = seq % 5 == 0;
            long key = isInsert ? _nextKey++
                : _random.Next(2) == 0 ? _random.NextInt64(1, _rows + 1)
                : Math.Clamp(EngineDone + _random.Next(1, 400), 1, _rows);
            var plain = $"written by the application {seq} for {key}";
            var stored = _app.Ring.Protect(plain);
            var command = isInsert ? _insert : _update;
            command.Parameters[0].Value = stored;
            command.Parameters[1].Value = key;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var changed = command.ExecuteNonQuery();
            if (_running && clock.Elapsed > MaxLatency) MaxLatency = clock.Elapsed;
            if (changed != 1) throw new InvalidOperationException($"the application's write of row {key} changed {changed} rows");
            Written[ReencryptionEngineTests.K(key)] = (stored, plain);
            if (isInsert) Inserts++;
            if (_running) Interlocked.Increment(ref _writesDuringRun);
        }
    }

    /// <summary>A thread writing at a steady rate (a write, then the pause) until <see cref="Stop"/>.</summary>
    public void Start()
    {
        _running = true;
        _thread = new Thread(() =>
        {
            try
            {
                while (!_stop.IsSet)
                {
                    WriteOne();
                    Thread.Sleep(_pause);
                }
            }
            catch (Exception e)
            {
                Failure = e;
            }
        });
        _thread.Start();
    }

    public void Stop()
    {
        _running = false;
        _stop.Set();
        _thread?.Join();
    }

    public void Dispose()
    {
        Stop();
        _update.Dispose();
        _insert.Dispose();
        _connection.Dispose();
        _app.Dispose();
        _stop.Dispose();
    }
}
