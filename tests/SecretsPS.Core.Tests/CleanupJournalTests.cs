using System.Text;
using System.Text.Json;
using SecretsPS.Core.Audit;
using SecretsPS.Core.Tests.CleanupSupport;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The cleanup audit journal (FORMATS.md §6): &lt;key file&gt;.audit.jsonl, one JSON line per operation, mode 0600,
/// read back by operation id; never key material.
/// </summary>
public sealed class CleanupJournalTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void The_journal_is_the_key_file_path_plus_audit_jsonl()
    {
        var key = _folder.File(".env.crypto.production");
        Assert.Equal(Path.GetFullPath(key) + ".audit.jsonl", CleanupJournal.PathFor(key));
    }

    [Fact]
    public void Append_creates_the_journal_with_mode_0600_and_keeps_it_when_appending()
    {
        var key = _folder.File(".env.crypto");
        CleanupJournal.Append(key, Sample("cleanup_20250101_000000_aaaa"));
        CleanupJournal.Append(key, Sample("cleanup_20250101_000001_bbbb"));

        var journal = CleanupJournal.PathFor(key);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(journal));
        var lines = File.ReadAllText(journal, Encoding.UTF8).Split('\n');
        Assert.Equal(3, lines.Length); // two lines, each ended by LF
        Assert.Equal("", lines[2]);
        foreach (var line in lines[..2]) using (JsonDocument.Parse(line)) { }
    }

    [Fact]
    public void Every_field_reads_back_as_written()
    {
        var key = _folder.File(".env.crypto");
        var written = Sample("cleanup_20250102_030405_c0de");

        CleanupJournal.Append(key, written);
        var read = Assert.Single(CleanupJournal.Read(key, out var damaged));

        Assert.Equal(0, damaged);
        Assert.Equal(written.OperationId, read.OperationId);
        Assert.Equal(written.KeyFile, read.KeyFile);
        Assert.Equal(written.StartedAt, read.StartedAt);
        Assert.Equal(written.DurationMs, read.DurationMs);
        Assert.Equal(written.Keep, read.Keep);
        Assert.Equal(written.Outcome, read.Outcome);
        Assert.Equal(written.Candidates, read.Candidates);
        Assert.Equal(written.Removed, read.Removed);
        Assert.Equal(written.Kept.Select(k => (k.Version, k.Reason)), read.Kept.Select(k => (k.Version, k.Reason)));
        Assert.Equal(written.BackupPath, read.BackupPath);
        var usage = Assert.Single(read.Targets);
        Assert.Equal(("users", "otp"), (usage.Table, usage.Column));
        Assert.Equal(written.Targets[0].RowsByVersion, usage.RowsByVersion);
        Assert.Equal(written.Steps.Select(t => (t.Time, t.Step, t.Status, t.Message)), read.Steps.Select(t => (t.Time, t.Step, t.Status, t.Message)));
        Assert.Equal(written.Message, read.Message);
        Assert.Equal(written.User, read.User);
        Assert.Equal(written.Host, read.Host);
        Assert.Equal(written.RemovedCount, read.RemovedCount);
        Assert.Equal(written.KeptCount, read.KeptCount);
        Assert.Contains("\"outcome\":\"Succeeded\"", File.ReadAllText(CleanupJournal.PathFor(key)));
    }

    [Fact]
    public void Operations_read_back_by_id_oldest_first()
    {
        var key = _folder.File(".env.crypto");
        var ids = new[] { "cleanup_20250101_000000_0001", "cleanup_20250101_000000_0002", "cleanup_20250101_000000_0003" };
        foreach (var id in ids) CleanupJournal.Append(key, Sample(id));

        var read = CleanupJournal.Read(key, out _);

        Assert.Equal(ids, read.Select(o => o.OperationId));
        Assert.Equal("cleanup_20250101_000000_0002", Assert.Single(read, o => o.OperationId == ids[1]).OperationId);
    }

    [Fact]
    public void A_damaged_line_is_skipped_and_counted_and_the_others_still_read()
    {
        var key = _folder.File(".env.crypto");
        CleanupJournal.Append(key, Sample("cleanup_20250101_000000_0001"));
        File.AppendAllText(CleanupJournal.PathFor(key), "{\"operationId\": \"cleanup_trunc\n\nnot json at all\n");
        CleanupJournal.Append(key, Sample("cleanup_20250101_000000_0002"));

        var read = CleanupJournal.Read(key, out var damaged);

        Assert.Equal(2, damaged);
        Assert.Equal(new[] { "cleanup_20250101_000000_0001", "cleanup_20250101_000000_0002" }, read.Select(o => o.OperationId));
    }

    [Fact]
    public void A_key_file_without_a_journal_reads_as_no_operations()
    {
        var read = CleanupJournal.Read(_folder.File(".env.crypto"), out var damaged);
        Assert.Empty(read);
        Assert.Equal(0, damaged);
    }

    [Fact]
    public void A_journal_that_cannot_be_written_is_an_AuditJournalUnwritable_error()
    {
        var key = _folder.File(".env.crypto");
        Directory.CreateDirectory(CleanupJournal.PathFor(key)); // a folder where the file should be
        var e = Assert.Throws<SecretsPSException>(() => CleanupJournal.Append(key, Sample("cleanup_20250101_000000_0001")));
        Assert.Equal("AuditJournalUnwritable", e.ErrorId);
    }

    [Fact]
    public void Each_cleanup_run_appends_one_line_except_an_unconfirmed_one()
    {
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3", "v4");

        var nothing = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1).Run(_ => true);                                         // no target: NothingToRemove
        var declined = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true).Run(_ => false);    // NotConfirmed
        var removed = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 3, skipUsageCheck: true, force: true).Run(_ => true);      // Succeeded
        var rolled = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true);
        rolled.AfterWrite = _ => throw new SecretsPSException("Injected", ErrorKind.InvalidData, "injected");
        var rolledBack = rolled.Run(_ => true);                                                                                          // RolledBack

        var read = CleanupJournal.Read(key, out var damaged);

        Assert.Equal(0, damaged);
        Assert.Equal(new[] { nothing.OperationId, removed.OperationId, rolledBack.OperationId }, read.Select(o => o.OperationId));
        Assert.DoesNotContain(read, o => o.OperationId == declined.OperationId);
        Assert.Equal(new[] { CleanupOutcome.NothingToRemove, CleanupOutcome.Succeeded, CleanupOutcome.RolledBack }, read.Select(o => o.OutcomeKind));
        Assert.Equal(new[] { "v1" }, read[1].Removed);
        Assert.Equal(removed.Steps.Select(s => (s.Step, s.Status, s.Message)), read[1].Steps.Select(s => (s.Step, s.Status, s.Message)));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CleanupJournal.PathFor(key)));
    }

    [Fact]
    public void The_journal_never_contains_key_material()
    {
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3", "v4");
        var secrets = CleanupKeys.SecretForms(_folder.Path);
        Assert.Equal(CleanupOutcome.Succeeded, CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 3, skipUsageCheck: true, force: true).Run(_ => true).OutcomeKind);
        var broken = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 2, skipUsageCheck: true, force: true);
        broken.AfterWrite = p => File.WriteAllText(p, CleanupKeys.WithWrongSaltHash(File.ReadAllText(p), "v4"));
        Assert.Equal(CleanupOutcome.RolledBack, broken.Run(_ => true).OutcomeKind);
        Assert.Equal(CleanupOutcome.NothingToRemove, CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1).Run(_ => true).OutcomeKind);

        var text = File.ReadAllText(CleanupJournal.PathFor(key));

        Assert.NotEmpty(secrets);
        foreach (var s in secrets) Assert.False(text.Contains(s.Text, StringComparison.Ordinal), $"{s.What} is in the journal");
        Assert.DoesNotContain("ENCRYPTION_KEYS__", text);
        Assert.DoesNotContain("ENCRYPTION_SALT__", text);
    }

    private static KeyCleanupOperation Sample(string id) => new(
        id,
        "/srv/app/.env.crypto",
        new DateTimeOffset(2025, 1, 2, 3, 4, 5, 678, TimeSpan.FromHours(-3)),
        1234,
        2,
        CleanupOutcome.Succeeded,
        new[] { "v1", "v2" },
        new[] { "v1" },
        new[] { new KeptVersion("v2", "still used by 3 row(s) of users.otp"), new KeptVersion("v4", "the active version") },
        "/srv/app/.env.crypto.backup_20250102_060405",
        new[] { new CleanupTargetUsage("users", "otp", new Dictionary<string, long> { ["v2"] = 3, ["v4"] = 10 }) },
        new[]
        {
            new CleanupStep(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.FromHours(-3)), "Start", "OK", "Operation started - ID: " + id),
            new CleanupStep(new DateTimeOffset(2025, 1, 2, 3, 4, 6, TimeSpan.FromHours(-3)), "UsageCheck", "WARNING", "Version v2 kept: 3 row(s) of users.otp still use it"),
        },
        "Removed v1.",
        "operator",
        "host-1");
}
