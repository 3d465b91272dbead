using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Inputs far larger than anything normal — a 1 MB value, a key file of 10,000 versions, a 10,000-character version or
/// table name, a key file over the size limit — each handled in bounded time and memory, or refused with a clear error
/// whose message does not echo the oversized input.
/// </summary>
public sealed class OversizedInputTests : IDisposable
{
    private const int OneMegabyte = 1024 * 1024;

    /// <summary>Every message here must be short enough to read: no echo of a 10,000-character input.</summary>
    private const int MaxMessageLength = 1_000;

    private readonly ITestOutputHelper _output;
    private readonly TempFolder _folder = new();

    public OversizedInputTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    private string KeyFile => _folder.File(".env.crypto");

    /// <summary>
    /// Runs the work on its own thread and fails the test once it has taken longer than <paramref name="limit"/>
    /// (the thread is abandoned; the suite goes on). Reports the time and the bytes the work allocated on its thread.
    /// </summary>
    private T Bounded<T>(string what, TimeSpan limit, Func<T> work, long? maxAllocatedBytes = null)
    {
        long allocated = 0;
        var clock = Stopwatch.StartNew();
        var task = Task.Factory.StartNew(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { return work(); }
            finally { allocated = GC.GetAllocatedBytesForCurrentThread() - before; }
        }, TaskCreationOptions.LongRunning);
        if (!task.Wait(limit))
            Assert.Fail($"{what}: still running after {limit.TotalSeconds:F0} s (the limit); abandoned");
        var result = task.GetAwaiter().GetResult();
        _output.WriteLine($"{what}: {clock.Elapsed.TotalSeconds:F2} s, {allocated / (1024.0 * 1024):F1} MiB allocated");
        if (maxAllocatedBytes is { } max)
            Assert.True(allocated <= max, $"{what}: allocated {allocated / (1024.0 * 1024):F1} MiB, more than {max / (1024.0 * 1024):F0} MiB");
        return result;
    }

    private void Bounded(string what, TimeSpan limit, Action work, long? maxAllocatedBytes = null) =>
        Bounded<object?>(what, limit, () => { work(); return null; }, maxAllocatedBytes);

    private static SecretsPSException Refused(Action action) => Assert.ThrowsAny<SecretsPSException>(action);

    private static SecretsPSException Refused(Func<object?> action) => Assert.ThrowsAny<SecretsPSException>(action);

    /// <summary>The message is short and repeats no run of 100 characters of the oversized input.</summary>
    private static void AssertShortMessage(SecretsPSException e, string oversized)
    {
        Assert.True(e.Message.Length <= MaxMessageLength, $"{e.ErrorId}: a message of {e.Message.Length} characters: {e.Message[..Math.Min(200, e.Message.Length)]}…");
        var run = oversized[..100];
        Assert.False(e.Message.Contains(run, StringComparison.Ordinal), $"{e.ErrorId}: the message repeats the oversized input");
    }

    private static string OneMegabyteText(int seed)
    {
        // Mostly ASCII with some multi-byte characters, so that the UTF-8 length differs from the character count.
        var pieces = new[] { "secret-", "ção ", "日本語 ", "🔑", "\n", "abcdefghij", "0123456789" };
        var random = new Random(seed);
        var sb = new StringBuilder(OneMegabyte + 16);
        while (sb.Length < OneMegabyte) sb.Append(pieces[random.Next(pieces.Length)]);
        return sb.ToString(0, OneMegabyte - (char.IsHighSurrogate(sb[OneMegabyte - 1]) ? 1 : 0));
    }

    // ------------------------------------------------------------------ a 1 MB value

    [Fact]
    public void OversizedInput_a_1_MB_plaintext_is_protected_unprotected_and_reencrypted_in_bounded_time_and_memory()
    {
        using var ring = KeySettings.From(KeyFileDocument.Parse(FileText("v2", Version("v1", 1), Version("v2", 2))), null).BuildKeyRing();
        var plaintext = OneMegabyteText(1);
        int utf8 = Encoding.UTF8.GetByteCount(plaintext);

        var stored = Bounded("Protect 1 MB", TimeSpan.FromSeconds(20), () => ring.Protect(plaintext, "v1"), maxAllocatedBytes: 64L * OneMegabyte);
        Assert.Equal(StoredValue.LengthFor(2, utf8), stored.Length);

        var back = Bounded("Unprotect 1 MB", TimeSpan.FromSeconds(20), () => ring.UnprotectToString(stored), maxAllocatedBytes: 64L * OneMegabyte);
        Assert.Equal(plaintext, back);

        var moved = Bounded("Reencrypt 1 MB", TimeSpan.FromSeconds(20), () => ring.Reencrypt(StoredValue.Parse(stored), ring.Get("v2")), maxAllocatedBytes: 64L * OneMegabyte);
        Assert.StartsWith("v2:", moved);
        Assert.Equal(plaintext, ring.UnprotectToString(moved));
    }

    [Fact]
    public void OversizedInput_a_1_MB_value_that_is_not_ciphertext_is_refused_quickly_without_echoing_it()
    {
        using var ring = KeySettings.From(KeyFileDocument.Parse(FileText("v1", Version("v1", 1))), null).BuildKeyRing();
        var garbage = new string[]
        {
            "v1:" + new string('A', OneMegabyte),                     // base64url, but not of a token
            "v1:Z0FBQUFB" + new string('@', OneMegabyte),              // a token's start, then not base64url
            new string('x', OneMegabyte),                              // no colon
            new string('v', OneMegabyte) + ":Z0FBQUFB",                // a 1 MB "version"
            "v1:" + Base64Url.Encode(Encoding.ASCII.GetBytes("gAAAAA" + new string('A', OneMegabyte))), // token-shaped, 1 MB, no valid MAC
        };
        foreach (var value in garbage)
        {
            var e = Bounded($"Unprotect {value.Length} chars of garbage", TimeSpan.FromSeconds(10), () => Refused(() => ring.Unprotect(value)), 64L * OneMegabyte);
            Assert.Contains(e.ErrorId, new[] { "StoredValueMalformed", "TokenMalformed", "TokenSignatureInvalid", "TokenVersionUnsupported" });
            AssertShortMessage(e, value.Length > 200 ? value[3..] : value);
            Assert.False(StoredValue.TryParse(value, out _) && e.ErrorId == "StoredValueMalformed");
        }
        var token = Bounded("Decrypt a 1 MB forged token", TimeSpan.FromSeconds(10),
            () => Assert.Throws<TokenInvalidException>(() => ring.Active.FernetKey.Decrypt("gAAAAA" + new string('A', OneMegabyte - 6))));
        Assert.True(token.Message.Length <= MaxMessageLength);
    }

    [Fact]
    public void OversizedInput_1_MB_values_in_a_SQLite_TEXT_column_are_reencrypted_by_the_engine_and_never_truncated_into_a_short_column()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = new SqliteTestDatabase();
        var wide = new TestTable(null, "documents", "id", "body");
        var narrow = new TestTable(null, "short_documents", "id", "body");
        db.CreateTable(wide);
        db.CreateTable(narrow, columnType: "VARCHAR(1000)");
        var plain = new Dictionary<string, string> { ["1"] = OneMegabyteText(1), ["2"] = "small", ["3"] = OneMegabyteText(3) };
        db.Insert(wide, plain.Select(p => ((object)long.Parse(p.Key), (string?)keys.Ring.Protect(p.Value, "v1"))));
        var narrowValue = keys.Ring.Protect(plain["1"], "v1");
        db.Insert(narrow, [(1L, narrowValue)]);

        var job = Bounded("engine, 2 × 1 MB rows", TimeSpan.FromSeconds(60),
            () => db.Engine(keys.Ring).Run(ReencryptionEngineTests.Options(wide, batch: 2, commit: 2), new RecordingObserver(), CancellationToken.None));
        Assert.Equal((JobStatus.Finished, 3L, 0L), (job.StatusKind, job.Processed, job.Errors));
        foreach (var (key, value) in db.Read(wide))
        {
            Assert.StartsWith("v2:", value);
            Assert.Equal(plain[key], keys.Ring.UnprotectToString(value));
        }

        // A column declared VARCHAR(1000) (SQLite does not enforce it; the application's other databases do): a row error, never a truncation.
        var observer = new RecordingObserver();
        var refused = Bounded("engine, 1 MB into VARCHAR(1000)", TimeSpan.FromSeconds(30),
            () => db.Engine(keys.Ring).Run(ReencryptionEngineTests.Options(narrow), observer, CancellationToken.None));
        Assert.Equal((0L, 1L), (refused.Processed, refused.Errors));
        Assert.StartsWith("ValueTooLong", Assert.Single(observer.Failures).Reason);
        Assert.Equal(narrowValue, db.Read(narrow)["1"]);
    }

    // ------------------------------------------------------------------ a key file of 10,000 versions

    private const int ManyVersions = 10_000;

    /// <summary>The file of <see cref="ManyVersions"/> versions, the last one active: made once for the class.</summary>
    private static readonly Lazy<string> ManyVersionsText = new(() => ManyVersionsFile(ManyVersions, "v" + ManyVersions));

    private static string ManyVersionsFile(int count, string active)
    {
        var sb = new StringBuilder("# Gerado em 2025-01-14T12:34:56Z\n\n").Append(Active(active)).Append('\n');
        var start = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (int i = 1; i <= count; i++)
        {
            foreach (var line in Version("v" + i, i, created: KeyVersion.FormatTime(start.AddHours(i)))) sb.Append(line).Append('\n');
        }
        return sb.ToString();
    }

    [Fact]
    public void OversizedInput_a_key_file_of_10000_versions_loads_validates_and_rotates_in_bounded_time()
    {
        var text = ManyVersionsText.Value;
        _folder.Write(".env.crypto", text);
        _output.WriteLine($"key file: {ManyVersions} versions, {text.Length / 1024} KiB");

        // Each version derives its Fernet key on first use only: loading derives none.
        var limit = TimeSpan.FromSeconds(30);
        using (var config = Bounded("KeyConfiguration.Load", limit, () => KeyConfiguration.Load(KeyFile, NoEnvironment), 512L * OneMegabyte))
        {
            Assert.Equal(ManyVersions, config.Ring.Versions.Count);
            Assert.Equal("v" + ManyVersions, config.Ring.Active.Name);
            Assert.Equal("v1", config.Ring.Versions[0].Name);
            var old = config.Ring.Protect("old", "v1");
            Assert.Equal("old", config.Ring.UnprotectToString(old));
            Assert.Equal("new", config.Ring.UnprotectToString(config.Ring.Protect("new")));
            Assert.Equal(ManyVersions, Bounded("Describe", limit, () => config.Describe().Count));
        }

        // Test-EncryptionConfig derives and self-tests every version.
        var checks = Bounded("ConfigValidator.Check", limit, () => ConfigValidator.Check(KeyFile, NoEnvironment, maxKeyAgeDays: 100_000, now: DateTimeOffset.UtcNow));
        Assert.All(checks, c => Assert.True(c.StatusKind != CheckStatus.Failed, $"{c.Check} {c.Version}: {c.Message}"));
        Assert.Equal(ManyVersions, checks.Count(c => c.Check == "SelfTest"));

        var rotated = Bounded("Rotate", limit, () => KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment));
        Assert.Equal("v" + (ManyVersions + 1), rotated.Version.Version);
        Assert.Contains("ENCRYPTION_KEYS__v" + (ManyVersions + 1) + "=", File.ReadAllText(KeyFile));
    }

    [Fact]
    public void OversizedInput_an_unknown_version_in_a_key_file_of_10000_versions_is_reported_in_a_message_of_bounded_length()
    {
        var document = KeyFileDocument.Parse(ManyVersionsText.Value);
        using var ring = KeySettings.From(document, null).BuildKeyRing();

        var notFound = Refused(() => ring.Get("v99999"));
        Assert.Equal("KeyVersionNotFound", notFound.ErrorId);
        document.Set(KeyFileNames.Active, "v99999");
        var active = Refused(() => KeySettings.From(document, null).BuildKeyRing());
        Assert.Equal("ActiveVersionNotDefined", active.ErrorId);

        // Listing the known versions helps with three of them; with ten thousand it buries the error.
        Assert.True(notFound.Message.Length <= MaxMessageLength, $"KeyVersionNotFound: a message of {notFound.Message.Length:N0} characters");
        Assert.True(active.Message.Length <= MaxMessageLength, $"ActiveVersionNotDefined: a message of {active.Message.Length:N0} characters");
    }

    /// <summary>
    /// The size limit bounds the file, not the work: a 1.5 MB file (a tenth of the 16 MB limit) may name 60,000 versions,
    /// one short line each, and reading it must stay linear — a fraction of a second, not several seconds growing with the
    /// square of the count (at the limit itself, ~600,000 such lines, minutes). It fails on the first missing salt either way.
    /// </summary>
    [Fact]
    public void OversizedInput_a_key_file_of_60000_one_line_versions_under_the_size_limit_is_read_and_refused_in_bounded_time()
    {
        const int count = 60_000;
        var sb = new StringBuilder(Active("v1")).Append('\n');
        for (int i = 1; i <= count; i++) sb.Append("ENCRYPTION_KEYS__v").Append(i).Append("=x\n");
        _folder.Write(".env.crypto", sb.ToString());
        Assert.True(new FileInfo(KeyFile).Length < KeyFileStore.MaxFileBytes);
        _output.WriteLine($"key file: {count} versions, {new FileInfo(KeyFile).Length / 1024} KiB");

        var e = Bounded("KeyConfiguration.Load of 60,000 one-line versions", TimeSpan.FromSeconds(3),
            () => Refused(() => KeyConfiguration.Load(KeyFile, NoEnvironment)));
        Assert.Equal("SaltMissing", e.ErrorId);
    }

    // ------------------------------------------------------------------ a 10,000-character version name

    private static readonly string LongName = "v" + new string('9', 9_999);

    [Fact]
    public void OversizedInput_a_10000_character_version_name_is_VersionNameInvalid_with_a_short_message_everywhere_it_can_be_given()
    {
        Assert.Equal(10_000, LongName.Length);
        AssertVersionNameInvalid(Refused(() => VersionName.Validate(LongName)));
        Assert.False(VersionName.IsValid(LongName));
        Assert.Equal("v1", VersionName.Next([LongName])); // over 18 digits: not a counter, ignored

        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);
        var before = File.ReadAllBytes(KeyFile);
        AssertVersionNameInvalid(Bounded("Rotate -NewVersion <10,000 chars>", TimeSpan.FromSeconds(10),
            () => Refused(() => KeyFileOperations.Rotate(KeyFile, new RotationOptions { NewVersion = LongName }, NoEnvironment))));
        AssertVersionNameInvalid(Refused(() => KeyFileOperations.SetActive(KeyFile, LongName, NoEnvironment)));
        AssertVersionNameInvalid(Refused(() => KeyFileOperations.RemoveVersions(KeyFile, [LongName], NoEnvironment)));
        AssertVersionNameInvalid(Refused(() => KeyFileOperations.Create(_folder.File("other.env"), LongName, 32, 16, null, overwrite: false)));
        Assert.Equal(before, File.ReadAllBytes(KeyFile));
        Assert.Empty(KeyFileStore.ListBackups(KeyFile));
        Assert.False(File.Exists(_folder.File("other.env")));

        using var config = KeyConfiguration.Load(KeyFile, NoEnvironment);
        var notFound = Refused(() => config.Ring.Protect("x", LongName));
        Assert.Equal("KeyVersionNotFound", notFound.ErrorId);
        AssertShortMessage(notFound, LongName);
        var malformed = Refused(() => config.Ring.Unprotect(LongName + ":" + config.Ring.Protect("x")[3..]));
        Assert.Equal("StoredValueMalformed", malformed.ErrorId);
        AssertShortMessage(malformed, LongName);
    }

    private static void AssertVersionNameInvalid(SecretsPSException e)
    {
        Assert.Equal("VersionNameInvalid", e.ErrorId);
        AssertShortMessage(e, LongName);
    }

    [Fact]
    public void OversizedInput_a_10000_character_version_name_in_the_key_file_is_VersionNameInvalid_with_a_short_message()
    {
        // As a version's name, and as the active version.
        foreach (var text in new[]
                 {
                     FileText("v1", Version("v1", 1), Version(LongName, 2)),
                     FileText(LongName, Version("v1", 1)),
                 })
        {
            _folder.Write(".env.crypto", text);
            var e = Bounded("Load", TimeSpan.FromSeconds(10), () => Refused(() => KeyConfiguration.Load(KeyFile, NoEnvironment)));
            AssertVersionNameInvalid(e);
            var checks = ConfigValidator.Check(KeyFile, NoEnvironment);
            Assert.All(checks, c => Assert.True(c.Message.Length <= MaxMessageLength && !c.Message.Contains(LongName[..100], StringComparison.Ordinal),
                $"{c.Check}: a message of {c.Message.Length} characters"));
        }
    }

    [Fact]
    public void OversizedInput_a_10000_character_version_name_assigned_twice_is_reported_without_echoing_it()
    {
        var lines = Version(LongName, 2);
        _folder.Write(".env.crypto", FileText("v1", Version("v1", 1), lines, [lines[0]]));

        var e = Refused(() => KeyConfiguration.Load(KeyFile, NoEnvironment));

        Assert.Contains(e.ErrorId, new[] { "VersionDefinedTwice", "VersionNameInvalid" });
        AssertShortMessage(e, LongName);
    }

    // ------------------------------------------------------------------ a 10,000-character table name

    [Fact]
    public void OversizedInput_10000_character_table_column_key_and_job_table_names_are_IdentifierInvalid_with_short_messages_and_nothing_is_written()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = new SqliteTestDatabase();
        var table = new TestTable(null, "secrets", "id", "secret");
        db.CreateTable(table);
        ReencryptionEngineTests.Seed(db, table, keys, 5, _ => "v1");
        var before = db.Fingerprint(table);
        var longName = new string('t', 10_000);

        var cases = new (string Table, string Column, string? Key, string JobTable)[]
        {
            (longName, "secret", null, JobStore.DefaultTable),
            ("\"" + longName + "\"", "secret", null, JobStore.DefaultTable),
            ("main." + longName, "secret", null, JobStore.DefaultTable),
            (longName + ".secrets", "secret", null, JobStore.DefaultTable),
            ("secrets", longName, null, JobStore.DefaultTable),
            ("secrets", "secret", longName, JobStore.DefaultTable),
            ("secrets", "secret", null, longName),
            ("secrets", "secret", null, "\"" + longName + "\""),
        };
        foreach (var (t, column, key, jobTable) in cases)
        {
            var options = new ReencryptionOptions { Table = t, Column = column, KeyColumn = key, JobTable = jobTable };
            var run = Bounded("Run with a 10,000-character name", TimeSpan.FromSeconds(10),
                () => Refused(() => db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None)));
            Assert.Equal("IdentifierInvalid", run.ErrorId);
            AssertShortMessage(run, longName);
            if (jobTable == JobStore.DefaultTable)
            {
                var preview = Refused(() => db.Engine(keys.Ring).Preview(options, new RecordingObserver(), CancellationToken.None));
                Assert.Equal("IdentifierInvalid", preview.ErrorId);
                AssertShortMessage(preview, longName);
            }
            if (key is null && jobTable == JobStore.DefaultTable)
            {
                using var connection = db.Open();
                var status = Refused(() => ColumnStatusReader.Read(db.Dialect, connection, t, column, keys.Ring));
                Assert.Equal("IdentifierInvalid", status.ErrorId);
                AssertShortMessage(status, longName);
            }
        }
        foreach (var name in new[] { longName, "\"" + longName + "\"", "app." + longName })
        {
            var store = Refused(() => new JobStore(db.Dialect, name));
            Assert.Equal("IdentifierInvalid", store.ErrorId);
            AssertShortMessage(store, longName);
            foreach (var dialect in new[] { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql, DatabaseProvider.SqlServer }.Select(SqlDialect.For))
                AssertShortMessage(Refused(() => dialect.Quote(name)), longName);
        }
        Assert.Equal(before, db.Fingerprint(table));
        Assert.DoesNotContain(db.TableNames(), n => n.StartsWith("reencrypt", StringComparison.Ordinal));
    }

    // ------------------------------------------------------------------ a key file over the size limit

    [Fact]
    public void OversizedInput_a_20_MB_key_file_is_KeyFileTooLarge_for_every_reader_and_writer_without_being_read()
    {
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);
        using (var stream = new FileStream(KeyFile, FileMode.Append, FileAccess.Write))
        {
            // The key file as written, then 20 MB of comment lines: a real file, as large as it says.
            var comment = Encoding.UTF8.GetBytes("# " + new string('c', 1020) + "\n");
            for (int i = 0; i < 21 * 1024; i++) stream.Write(comment);
        }
        long size = new FileInfo(KeyFile).Length;
        Assert.True(size > 20L * OneMegabyte);
        var hash = SHA256.HashData(File.ReadAllBytes(KeyFile));

        foreach (var (what, action) in new (string, Action)[]
                 {
                     ("KeyFileStore.ReadBytes", () => KeyFileStore.ReadBytes(KeyFile)),
                     ("KeyConfiguration.Load", () => KeyConfiguration.Load(KeyFile, NoEnvironment).Dispose()),
                     ("Rotate", () => KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment)),
                     ("SetActive", () => KeyFileOperations.SetActive(KeyFile, "v1", NoEnvironment)),
                     ("RemoveVersions", () => KeyFileOperations.RemoveVersions(KeyFile, ["v1"], NoEnvironment)),
                     ("NextVersion", () => KeyFileOperations.NextVersion(KeyFile, NoEnvironment)),
                     ("Restore from it", () => KeyFileOperations.Restore(KeyFile, _folder.File("restored.env"))),
                 })
        {
            // Refused from the size alone: nothing near 20 MB is read into memory.
            var e = Bounded(what, TimeSpan.FromSeconds(10), () => Refused(action), maxAllocatedBytes: 4L * OneMegabyte);
            Assert.Equal("KeyFileTooLarge", e.ErrorId);
            Assert.Equal(ErrorKind.LimitsExceeded, e.Kind);
            Assert.True(e.Message.Length <= MaxMessageLength);
        }
        var checks = ConfigValidator.Check(KeyFile, NoEnvironment);
        Assert.Equal("KeyFileTooLarge", Assert.Single(checks).ErrorId);

        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(KeyFile)));
        Assert.Empty(KeyFileStore.ListBackups(KeyFile));
        Assert.False(File.Exists(_folder.File("restored.env")));
    }

    [Fact]
    public void OversizedInput_a_key_file_exactly_at_the_size_limit_is_read_and_one_byte_more_is_KeyFileTooLarge()
    {
        var text = FileText("v1", Version("v1", 1));
        var padding = (int)KeyFileStore.MaxFileBytes - Encoding.UTF8.GetByteCount(text) - 3;
        _folder.Write(".env.crypto", text + "# " + new string('p', padding) + "\n");
        Assert.Equal(KeyFileStore.MaxFileBytes, new FileInfo(KeyFile).Length);

        using (var config = Bounded("Load at the limit", TimeSpan.FromSeconds(20), () => KeyConfiguration.Load(KeyFile, NoEnvironment)))
            Assert.Equal("v1", config.Ring.Active.Name);

        File.AppendAllText(KeyFile, "x");
        Assert.Equal("KeyFileTooLarge", Refused(() => KeyConfiguration.Load(KeyFile, NoEnvironment).Dispose()).ErrorId);
    }

    /// <summary>
    /// The limit is checked against the size the file system reports. A pipe (or /dev/zero, /proc files) reports 0, so
    /// the same limit must hold while reading: a key file path that streams 20 MB is refused, not read whole.
    /// </summary>
    [Fact]
    public async Task OversizedInput_a_key_file_that_reports_no_size_but_streams_20_MB_is_still_KeyFileTooLarge()
    {
        if (OperatingSystem.IsWindows()) return;
        var fifo = _folder.File("stream.env");
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [fifo]) { RedirectStandardError = true })!)
        {
            mkfifo.WaitForExit();
            if (mkfifo.ExitCode != 0)
            {
                _output.WriteLine("NOT RUN: mkfifo failed: " + mkfifo.StandardError.ReadToEnd());
                return;
            }
        }

        const int streamed = 20 * OneMegabyte;
        long written = 0;
        var writer = Task.Factory.StartNew(() =>
        {
            try
            {
                using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                var line = Encoding.UTF8.GetBytes(FileText("v1", Version("v1", 1)) + "# " + new string('c', 4000) + "\n");
                while (written < streamed)
                {
                    stream.Write(line);
                    written += line.Length;
                }
            }
            catch (IOException)
            {
                // The reader stopped reading: what a refusal looks like from this side.
            }
        }, TaskCreationOptions.LongRunning);

        Exception? outcome = null;
        byte[]? bytes = null;
        try
        {
            bytes = Bounded("ReadBytes of a 20 MB stream", TimeSpan.FromSeconds(30), () => KeyFileStore.ReadBytes(fifo));
        }
        catch (Exception e)
        {
            outcome = e is AggregateException { InnerException: { } inner } ? inner : e;
        }
        finally
        {
            // Never leave the writer blocked on a pipe nobody opens.
            if (await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(2))) != writer)
            {
                using (var drain = new FileStream(fifo, FileMode.Open, FileAccess.Read)) await drain.CopyToAsync(Stream.Null);
                await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(10)));
            }
        }

        Assert.True(bytes is null,
            $"a key file path that reports size {new FileInfo(fifo).Length} was read whole: {bytes?.Length:N0} bytes, over the {KeyFileStore.MaxFileBytes:N0}-byte limit");
        Assert.Equal("KeyFileTooLarge", Assert.IsType<KeyFileException>(outcome).ErrorId);
    }
}
