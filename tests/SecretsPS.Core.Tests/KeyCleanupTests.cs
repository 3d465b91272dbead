using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using SecretsPS.Core.Audit;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Tests.CleanupSupport;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests
{
    /// <summary>
    /// KeyCleanup (Remove-UnusedEncryptionKey, the original Flask CLI's cleanup-keys) on SQLite and PostgreSQL: a used version is
    /// kept and reported, an unused one is removed, the active one never; a failure after the write is rolled back to
    /// a byte-identical file with a Rollback audit line; no log line, journal line or message holds key material.
    /// </summary>
    /// <remarks>Where the machine has no PostgreSQL binaries the PostgreSQL cases say so in their output and pass: xunit 2 cannot skip at run time.</remarks>
    [Collection("postgres")]
    public sealed class KeyCleanupTests : IDisposable
    {
        private static readonly Regex OperationIdShape = new(@"^cleanup_(\d{8}_\d{6})_[0-9a-f]{4}$", RegexOptions.CultureInvariant);

        private readonly PostgresServer _server;
        private readonly ITestOutputHelper _output;
        private readonly TempFolder _folder = new();

        public KeyCleanupTests(PostgresServer server, ITestOutputHelper output)
        {
            _server = server;
            _output = output;
        }

        public void Dispose() => _folder.Dispose();

        // ------------------------------------------------------------------ used, unused, active

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void A_version_still_used_by_rows_is_kept_and_reported_while_unused_older_ones_are_removed(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3", "v4");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            var plain = Enumerable.Range(1, 6).Select(i => $"otp-{i}-ção").ToArray();
            var values = new List<string?>();
            values.AddRange(CleanupKeys.Protect(key, "v1", plain[..3]));
            values.AddRange(CleanupKeys.Protect(key, "v4", plain[3..5]));
            values.Add(null);
            db.CreateTable("accounts", values);
            var log = new CleanupLog();

            var op = CleanupKeys.Cleanup(key, log, db, keep: 1, targets: new[] { new CleanupTarget("accounts", "otp") }).Run(_ => true);

            Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
            Assert.Equal(new[] { "v1", "v2", "v3" }, op.Candidates.Order());
            Assert.Equal(new[] { "v2", "v3" }, op.Removed.Order());
            var kept = Assert.Single(op.Kept, k => k.Version == "v1");
            Assert.Contains("still used by 3 row(s) of accounts.otp", kept.Reason);
            var usage = Assert.Single(op.Targets);
            Assert.Equal("accounts", usage.Table);
            Assert.Equal("otp", usage.Column);
            Assert.Equal(3, usage.RowsByVersion["v1"]);
            Assert.Equal(2, usage.RowsByVersion["v4"]);
            Assert.Contains(op.Steps, s => s.Step == "UsageCheck" && s.Status == "WARNING" && s.Message.Contains("v1", StringComparison.Ordinal));
            Assert.Contains(log.Messages, m => m.Level == LogLevel.Warning && m.Text.StartsWith(KeyCleanup.AuditTag + " Version v1 kept: 3 row(s)", StringComparison.Ordinal));
            Assert.Equal(new[] { "v1", "v4" }, CleanupKeys.Versions(key));
            Assert.DoesNotContain(File.ReadAllLines(key), l => l.Contains("__v2", StringComparison.Ordinal) || l.Contains("__v3", StringComparison.Ordinal));

            var read = CleanupIndependentReader.ReadAll(key, db.Rows("accounts"), null, _output);
            Assert.Equal(plain.Take(5).Append(null), read.Values);
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void An_unused_version_is_removed_after_a_byte_for_byte_backup_and_every_row_still_reads(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            var plain = Enumerable.Range(1, 20).Select(i => $"otp-{i}").ToArray();
            db.CreateTable("users", CleanupKeys.Protect(key, "v2", plain).Append(null).ToList());
            var before = File.ReadAllBytes(key);

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), db, keep: 1, targets: new[] { new CleanupTarget("users", "otp") }).Run(_ => true);

            Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
            Assert.Equal(new[] { "v1" }, op.Removed);
            Assert.NotNull(op.BackupPath);
            Assert.Equal(before, File.ReadAllBytes(op.BackupPath!));
            Assert.Matches(@"\.env\.crypto\.backup_\d{8}_\d{6}(_\d+)?$", op.BackupPath);
            Assert.Equal(new[] { "v2" }, CleanupKeys.Versions(key));
            Assert.Contains(op.Steps, s => s.Step == "SampleDecrypt" && s.Status == "OK" && s.Message.Contains("20 of 20", StringComparison.Ordinal));
            Assert.Contains(op.Steps, s => s.Step == "Validate" && s.Status == "OK");

            var read = CleanupIndependentReader.ReadAll(key, db.Rows("users"), "v2", _output);
            Assert.Equal(plain.Append(null), read.Values);
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void The_active_version_is_never_removed_even_when_it_is_the_oldest_and_no_row_uses_it(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            KeyFileOperations.SetActive(key, "v1", KeyFileFixture.NoEnvironment); // rolled back to v1
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            db.CreateTable("empty_col", new string?[] { null, null });

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), db, keep: 1, targets: new[] { new CleanupTarget("empty_col", "otp") }).Run(_ => true);

            Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
            Assert.DoesNotContain("v1", op.Candidates);
            Assert.Equal(new[] { "v2" }, op.Removed);
            Assert.Contains(op.Kept, k => k.Version == "v1" && k.Reason == "the active version");
            Assert.Contains(op.Kept, k => k.Version == "v3" && k.Reason.Contains("newest 1", StringComparison.Ordinal));
            Assert.Equal(new[] { "v1", "v3" }, CleanupKeys.Versions(key));
            using var config = KeyConfiguration.Load(key, KeyFileFixture.NoEnvironment);
            Assert.Equal("v1", config.Ring.Active.Name);
        }

        [Fact]
        public void The_active_version_alone_is_never_a_candidate_whatever_Keep_says()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1");
            var before = File.ReadAllBytes(key);
            var backups = Backups(key);

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true).Run(_ => true);

            Assert.Equal(CleanupOutcome.NothingToRemove, op.OutcomeKind);
            Assert.Empty(op.Candidates);
            Assert.Equal(before, File.ReadAllBytes(key));
            Assert.Equal(backups, Backups(key));
        }

        [Fact]
        public void A_journal_that_cannot_be_written_after_a_removal_is_an_error_that_says_the_removal_was_made()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            Directory.CreateDirectory(CleanupJournal.PathFor(key)); // appending to a folder fails, even as root
            var before = KeyFileStore.ListBackups(key).Select(f => f.FullName).ToList();

            var e = Assert.Throws<SecretsPSException>(() => CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true).Run(_ => true));

            Assert.Equal("AuditJournalUnwritable", e.ErrorId);
            Assert.DoesNotContain("v1", CleanupKeys.Versions(key));
            Assert.Contains("v1", e.Message, StringComparison.Ordinal);
            var backup = Assert.Single(KeyFileStore.ListBackups(key).Select(f => f.FullName).Except(before));
            Assert.Contains(backup, e.Message, StringComparison.Ordinal);
        }

        [Fact]
        public void The_key_files_own_active_version_is_never_removed_when_the_environment_overrides_ACTIVE_ENCRYPTION_VERSION()
        {
            // Remove-EncryptionKey refuses this (ActiveVersionRemoval): the override holds here, not for every reader of the file.
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            KeyFileOperations.SetActive(key, "v1", KeyFileFixture.NoEnvironment);
            var environment = new Dictionary<string, string> { ["ACTIVE_ENCRYPTION_VERSION"] = "v3" };

            var op = new KeyCleanup(new KeyCleanupRequest
            {
                KeyFile = key, Keep = 1, SkipUsageCheck = true, Force = true, Environment = environment,
            }, (_, _) => { }).Run(_ => true);

            Assert.DoesNotContain("v1", op.Removed);
            // Without the override (another application instance, a deploy without the variable) the file must still load.
            using var alone = KeyConfiguration.Load(key, KeyFileFixture.NoEnvironment);
            Assert.Equal("v1", alone.Ring.Active.Name);
        }

        [Fact]
        public void A_version_defined_only_in_the_environment_is_never_a_candidate()
        {
            // Environment-only versions come after the file's (FORMATS.md §1), so they are the newest: two of them, so that
            // v0 is not kept merely as one of the newest 1. (This used to be one, v0, taken as the oldest by its CREATED.)
            var key = CleanupKeys.Create(_folder.Path, "v2", "v3");
            var environment = KeyFileFixture.Version("v0", seed: 9, created: "2020-01-01T00:00:00Z")
                .Concat(KeyFileFixture.Version("v1", seed: 8, created: "2020-02-01T00:00:00Z"))
                .Select(l => l.Split('=', 2))
                .ToDictionary(p => p[0], p => p[1].Trim('"'));

            var op = new KeyCleanup(new KeyCleanupRequest
            {
                KeyFile = key, Keep = 1, SkipUsageCheck = true, Force = true, Environment = environment,
            }, (_, _) => { }).Run(_ => true);

            Assert.Equal(new[] { "v2" }, op.Removed);
            Assert.Contains(op.Kept, k => k.Version == "v0" && k.Reason.Contains("environment", StringComparison.Ordinal));
        }

        // ------------------------------------------------------------------ -Keep and the order of versions

        [Fact]
        public void Keep_counts_the_newest_versions_by_file_order_even_when_ENCRYPTION_CREATED_disagrees_and_the_audit_says_so()
        {
            // FORMATS.md §1: the file order wins over ENCRYPTION_CREATED__. This test used to assert the opposite (vA the
            // oldest, by its creation time), which is the order the rule forbids.
            // File order vB, vA, vC; creation order vA < vB < vC.
            var key = _folder.Write(".env.crypto", KeyFileFixture.FileText("vC",
                KeyFileFixture.Version("vB", seed: 2, created: "2024-06-01T00:00:00Z"),
                KeyFileFixture.Version("vA", seed: 1, created: "2023-01-01T00:00:00Z"),
                KeyFileFixture.Version("vC", seed: 3, created: "2025-01-01T00:00:00Z")));

            var log = new CleanupLog();
            var keep2 = CleanupKeys.Cleanup(key, log, null, keep: 2, skipUsageCheck: true, force: true).Run(_ => false);
            var keep1 = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true).Run(_ => false);

            Assert.Equal(new[] { "vB" }, keep2.Candidates);
            Assert.Equal(new[] { "vA", "vB" }, keep1.Candidates.Order(StringComparer.Ordinal));
            Assert.Contains(keep2.Kept, k => k.Version == "vA" && k.Reason.Contains("newest 2", StringComparison.Ordinal));
            var order = Assert.Single(keep2.Steps, s => s.Step == "Order");
            Assert.Equal("WARNING", order.Status);
            Assert.Contains("ENCRYPTION_CREATED__vA", order.Message, StringComparison.Ordinal);
            Assert.Contains("the file order is used (vB is the older)", order.Message, StringComparison.Ordinal);
        }

        [Fact]
        public void Without_ENCRYPTION_CREATED_the_file_order_decides_which_versions_are_the_newest()
        {
            var key = _folder.Write(".env.crypto", KeyFileFixture.FileText("vZ",
                KeyFileFixture.Version("vX", seed: 1),
                KeyFileFixture.Version("vY", seed: 2),
                KeyFileFixture.Version("vZ", seed: 3)));

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 2, skipUsageCheck: true, force: true).Run(_ => true);

            Assert.Equal(new[] { "vX" }, op.Candidates);
            Assert.Equal(new[] { "vX" }, op.Removed);
            Assert.Equal(new[] { "vY", "vZ" }, CleanupKeys.Versions(key));
        }

        [Fact]
        public void Keep_below_one_is_refused_before_anything_is_read_or_written()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var snapshot = _folder.Snapshot();

            var e = Assert.Throws<SecretsPSException>(() =>
                CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 0, skipUsageCheck: true, force: true).Run(_ => true));

            Assert.Equal("KeepOutOfRange", e.ErrorId);
            Assert.Equal(snapshot, _folder.Snapshot());
        }

        // ------------------------------------------------------------------ no target named

        [Theory]
        [InlineData(false, false)]
        [InlineData(true, false)]
        [InlineData(false, true)]
        public void With_no_target_nothing_is_removed_unless_SkipUsageCheck_and_Force_come_together(bool skipUsageCheck, bool force)
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            var before = File.ReadAllBytes(key);
            var backups = Backups(key);
            var asked = false;

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: skipUsageCheck, force: force)
                .Run(_ => asked = true);

            Assert.Equal(CleanupOutcome.NothingToRemove, op.OutcomeKind);
            Assert.False(asked, "nothing removable: no confirmation is asked");
            Assert.Empty(op.Removed);
            Assert.Equal(new[] { "v1", "v2" }, op.Candidates.Order());
            Assert.All(op.Kept.Where(k => k.Version is "v1" or "v2"), k => Assert.Contains("no target named", k.Reason));
            Assert.Equal(before, File.ReadAllBytes(key));
            Assert.Equal(backups, Backups(key));
        }

        [Fact]
        public void With_no_target_SkipUsageCheck_and_Force_together_remove_the_candidates()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true).Run(_ => true);

            Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
            Assert.Equal(new[] { "v1", "v2" }, op.Removed.Order());
            Assert.Equal(new[] { "v3" }, CleanupKeys.Versions(key));
            Assert.Contains(op.Steps, s => s.Step == "UsageCheck" && s.Status == "WARNING");
        }

        [Fact]
        public void What_is_removed_is_chosen_from_the_file_as_read_under_the_lock_not_from_the_earlier_read()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");

            // Between the checks and the lock, someone else makes v1 the active version again (a rollback).
            var op = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true).Run(versions =>
            {
                Assert.Equal(new[] { "v1", "v2" }, versions.Order());
                KeyFileOperations.SetActive(key, "v1", KeyFileFixture.NoEnvironment);
                return true;
            });

            Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
            Assert.Equal(new[] { "v2" }, op.Removed);
            Assert.Equal(new[] { "v1", "v3" }, CleanupKeys.Versions(key));
            Assert.Contains(op.Kept, k => k.Version == "v1" && k.Reason.Contains("changed since the check"));
            using var config = KeyConfiguration.Load(key, KeyFileFixture.NoEnvironment);
            Assert.Equal("v1", config.Ring.Active.Name);
        }

        // ------------------------------------------------------------------ confirmation

        [Fact]
        public void Not_confirmed_changes_nothing_no_key_file_byte_no_backup_no_journal_line()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            var snapshot = _folder.Snapshot();
            IReadOnlyList<string>? asked = null;
            var log = new CleanupLog();

            var op = CleanupKeys.Cleanup(key, log, null, keep: 1, skipUsageCheck: true, force: true).Run(v => { asked = v; return false; });

            Assert.Equal(CleanupOutcome.NotConfirmed, op.OutcomeKind);
            Assert.Equal(new[] { "v1", "v2" }, asked!.Order());
            Assert.Empty(op.Removed);
            Assert.Null(op.BackupPath);
            Assert.Equal(snapshot.Keys.Where(k => !k.EndsWith(".lock", StringComparison.Ordinal)),
                _folder.Snapshot().Keys.Where(k => !k.EndsWith(".lock", StringComparison.Ordinal)));
            Assert.Equal(snapshot[".env.crypto"], File.ReadAllBytes(key));
            Assert.False(File.Exists(CleanupJournal.PathFor(key)));
            Assert.Single(log.Messages, m => m.Text.StartsWith(KeyCleanup.SummaryTag, StringComparison.Ordinal));
        }

        // ------------------------------------------------------------------ failure after the write: rollback

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void A_key_file_that_fails_validation_after_the_write_is_rolled_back_byte_for_byte(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            db.CreateTable("t", CleanupKeys.Protect(key, "v3", new[] { "a", "b" }).ToList());
            var before = File.ReadAllBytes(key);
            var log = new CleanupLog();
            var cleanup = CleanupKeys.Cleanup(key, log, db, keep: 1, targets: new[] { new CleanupTarget("t", "otp") });
            string? written = null;
            cleanup.AfterWrite = path =>
            {
                written = File.ReadAllText(path);
                File.WriteAllText(path, CleanupKeys.WithWrongSaltHash(written, "v3"));
            };

            var op = cleanup.Run(_ => true);

            Assert.NotNull(written);
            Assert.DoesNotContain("ENCRYPTION_KEYS__v1", written!); // the write did happen before the failure
            AssertRolledBack(op, key, before, log);
            Assert.Contains(op.Steps, s => s.Step == "Verify" && s.Status == "ERROR");
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void A_library_error_raised_after_the_write_is_rolled_back_byte_for_byte(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            db.CreateTable("t", CleanupKeys.Protect(key, "v2", new[] { "a" }).ToList());
            var before = File.ReadAllBytes(key);
            var log = new CleanupLog();
            var cleanup = CleanupKeys.Cleanup(key, log, db, keep: 1, targets: new[] { new CleanupTarget("t", "otp") });
            cleanup.AfterWrite = _ => throw new SecretsPSException("InjectedFailure", ErrorKind.InvalidData, "injected after the write");

            var op = cleanup.Run(_ => true);

            AssertRolledBack(op, key, before, log);
            Assert.Contains("InjectedFailure", op.Message);
        }

        [Fact]
        public void A_cleanup_request_prints_without_its_password_or_connection_string()
        {
            var request = new KeyCleanupRequest { KeyFile = "k", ConnectionString = "Host=h;Password=Cs-secret-1", SignIn = new DatabaseSignIn("app", "Pw-secret-2", "Tok-secret-3") };

            var text = request.ToString();

            Assert.Contains("user app", text);
            Assert.DoesNotContain("secret", text);
        }

        [Fact]
        public void The_key_file_is_restored_even_when_the_log_fails_while_the_failure_is_reported()
        {
            // A host whose log sink throws at error level (a -Debug verbose prompt that cannot be shown, a full log disk):
            // the file comes back first, whatever then happens to the report.
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var before = File.ReadAllBytes(key);
            var cleanup = new KeyCleanup(new KeyCleanupRequest
            {
                KeyFile = key,
                Keep = 1,
                Targets = Array.Empty<CleanupTarget>(),
                SkipUsageCheck = true,
                Force = true,
                Environment = KeyFileFixture.NoEnvironment,
            }, (level, _) => { if (level == LogLevel.Error) throw new InvalidOperationException("the log sink failed"); });
            cleanup.AfterWrite = _ => throw new SecretsPSException("InjectedFailure", ErrorKind.InvalidData, "injected after the write");

            Assert.Throws<InvalidOperationException>(() => cleanup.Run(_ => true));

            Assert.Equal(before, File.ReadAllBytes(key));
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void A_value_that_no_longer_decrypts_with_the_new_file_makes_it_roll_back(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            db.CreateTable("t", CleanupKeys.Protect(key, "v1", new[] { "old-1", "old-2" }).Append(null).ToList());
            var before = File.ReadAllBytes(key);
            var log = new CleanupLog();

            // The usage check is skipped, so v1 reaches the write; the sample decryption catches it.
            var op = CleanupKeys.Cleanup(key, log, db, keep: 1, targets: new[] { new CleanupTarget("t", "otp") }, skipUsageCheck: true).Run(_ => true);

            AssertRolledBack(op, key, before, log);
            Assert.Contains("SampleDecryptFailed", op.Message);
            var read = CleanupIndependentReader.ReadAll(key, db.Rows("t"), "v1", _output);
            Assert.Equal(new[] { "old-1", "old-2", null }, read.Values);
        }

        [Fact]
        public void An_unexpected_exception_after_the_write_still_restores_the_key_file_byte_for_byte()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var before = File.ReadAllBytes(key);
            var cleanup = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1, skipUsageCheck: true, force: true);
            cleanup.AfterWrite = _ => throw new InvalidOperationException("injected: not a library, database or I/O error");

            try
            {
                var op = cleanup.Run(_ => true);
                Assert.Equal(CleanupOutcome.RolledBack, op.OutcomeKind);
            }
            catch (InvalidOperationException)
            {
                // Passing the exception on is acceptable; leaving the half-done change behind is not.
            }

            Assert.True(before.AsSpan().SequenceEqual(File.ReadAllBytes(key)),
                "the key file must be restored after any failure between the write and the end of the checks");
        }

        private static void AssertRolledBack(KeyCleanupOperation op, string key, byte[] before, CleanupLog log)
        {
            Assert.Equal(CleanupOutcome.RolledBack, op.OutcomeKind);
            Assert.Empty(op.Removed);
            Assert.Equal(before, File.ReadAllBytes(key));
            Assert.NotNull(op.BackupPath);
            Assert.Equal(before, File.ReadAllBytes(op.BackupPath!));
            Assert.Contains(op.Steps, s => s.Step == "Rollback" && s.Status == "OK");
            Assert.Equal("Rollback", op.Steps[^1].Step);
            Assert.Contains(log.Messages, m => m.Text.StartsWith(KeyCleanup.AuditTag + " Rollback", StringComparison.Ordinal));
            var summary = Assert.Single(log.Messages, m => m.Text.StartsWith(KeyCleanup.SummaryTag, StringComparison.Ordinal));
            Assert.Equal(LogLevel.Error, summary.Level);
            Assert.Contains("outcome: RolledBack", summary.Text);
            Assert.Contains("removed: none", summary.Text);
            var journal = CleanupJournal.Read(key, out var damaged);
            Assert.Equal(0, damaged);
            var entry = Assert.Single(journal, o => o.OperationId == op.OperationId);
            Assert.Equal(CleanupOutcome.RolledBack, entry.OutcomeKind);
            Assert.Contains(entry.Steps, s => s.Step == "Rollback");
        }

        // ------------------------------------------------------------------ before the write: nothing changes

        [Fact]
        public void A_named_target_without_a_database_is_refused_before_anything_is_written()
        {
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var before = File.ReadAllBytes(key);
            var backups = Backups(key);

            var e = Assert.Throws<SecretsPSException>(() => new KeyCleanup(new KeyCleanupRequest
            {
                KeyFile = key, Keep = 1, Targets = new[] { new CleanupTarget("t", "otp") }, Environment = KeyFileFixture.NoEnvironment,
            }, (_, _) => { }).Run(_ => true));

            Assert.Equal("ConnectionStringMissing", e.ErrorId);
            Assert.Equal(before, File.ReadAllBytes(key));
            Assert.Equal(backups, Backups(key));
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void A_missing_target_table_is_refused_before_anything_is_written(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            var before = File.ReadAllBytes(key);
            var backups = Backups(key);

            var e = Assert.Throws<SecretsPSException>(() =>
                CleanupKeys.Cleanup(key, new CleanupLog(), db, keep: 1, targets: new[] { new CleanupTarget("no_such_table", "otp") }).Run(_ => true));

            Assert.Equal("TargetNotFound", e.ErrorId);
            Assert.Equal(before, File.ReadAllBytes(key));
            Assert.Equal(backups, Backups(key));
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void A_version_used_by_the_second_of_two_targets_is_kept(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            db.CreateTable("first", CleanupKeys.Protect(key, "v3", new[] { "a" }).ToList());
            db.CreateTable("second", CleanupKeys.Protect(key, "v2", new[] { "b", "c" }).ToList(), column: "token");

            var op = CleanupKeys.Cleanup(key, new CleanupLog(), db, keep: 1,
                targets: new[] { new CleanupTarget("first", "otp"), new CleanupTarget("second", "token") }).Run(_ => true);

            Assert.Equal(new[] { "v1" }, op.Removed);
            Assert.Contains(op.Kept, k => k.Version == "v2" && k.Reason.Contains("2 row(s) of second.token", StringComparison.Ordinal));
            Assert.Equal(2, op.Targets.Count);
            Assert.Equal(2, op.Steps.Count(s => s.Step == "SampleDecrypt"));
        }

        // ------------------------------------------------------------------ operation id, audit lines, no secrets

        [Fact]
        public void The_operation_id_is_cleanup_yyyyMMdd_HHmmss_and_four_random_hex_digits()
        {
            var fixedTime = new DateTime(2024, 10, 15, 14, 30, 22, DateTimeKind.Local);
            var ids = Enumerable.Range(0, 40).Select(_ => KeyCleanup.NewOperationId(fixedTime)).ToList();
            Assert.All(ids, id => Assert.Matches(@"^cleanup_20241015_143022_[0-9a-f]{4}$", id));
            Assert.True(ids.Distinct().Count() > 1, "the last four digits are random");

            var key = CleanupKeys.Create(_folder.Path, "v1");
            var before = DateTime.Now.AddSeconds(-1);
            var cleanup = CleanupKeys.Cleanup(key, new CleanupLog(), null, keep: 1);
            var after = DateTime.Now.AddSeconds(1);
            var match = OperationIdShape.Match(cleanup.OperationId);
            Assert.True(match.Success, cleanup.OperationId);
            var stamp = DateTime.ParseExact(match.Groups[1].Value, "yyyyMMdd_HHmmss", CultureInfo.InvariantCulture);
            Assert.InRange(stamp, before.AddTicks(-before.Ticks % TimeSpan.TicksPerSecond), after);
            Assert.Equal(cleanup.OperationId, cleanup.Run(_ => true).OperationId);
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void Every_step_is_an_audit_line_and_each_operation_ends_with_one_summary_line(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            db.CreateTable("t", CleanupKeys.Protect(key, "v3", new[] { "x" }).Append(null).ToList());
            var log = new CleanupLog();

            var op = CleanupKeys.Cleanup(key, log, db, keep: 1, targets: new[] { new CleanupTarget("t", "otp") }).Run(_ => true);

            Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
            Assert.All(log.Messages, m => Assert.True(
                m.Text.StartsWith(KeyCleanup.AuditTag + " ", StringComparison.Ordinal) || m.Text.StartsWith(KeyCleanup.SummaryTag + " ", StringComparison.Ordinal), m.Text));
            var audit = log.Messages.Where(m => m.Text.StartsWith(KeyCleanup.AuditTag, StringComparison.Ordinal)).ToList();
            Assert.Equal(op.Steps.Count, audit.Count);
            Assert.Equal(op.Steps.Select(s => KeyCleanup.AuditTag + " " + s.Message), audit.Select(m => m.Text));
            Assert.Equal(new[] { "Start", "Candidates", "UsageCheck", "Discovery", "Discovery", "Backup", "Write", "Validate", "SampleDecrypt" }, op.Steps.Select(s => s.Step));
            Assert.StartsWith(KeyCleanup.AuditTag + " Operation started - ID: " + op.OperationId, log.Messages[0].Text);
            var summary = Assert.Single(log.Messages, m => m.Text.StartsWith(KeyCleanup.SummaryTag, StringComparison.Ordinal));
            Assert.Equal(log.Messages.Count - 1, log.Messages.IndexOf(summary));
            Assert.Matches($@"^\[CLEANUP-SUMMARY\] ID: {op.OperationId} \| outcome: Succeeded \| removed: (v1, v2|v2, v1) \| kept: .* \| backup: .+\.backup_\d{{8}}_\d{{6}}(_\d+)? \| duration: \d+ ms$", summary.Text);

            // As the -LogFile writes them (FORMATS.md §6).
            var file = _folder.File("cleanup.log");
            using (var writer = new LogWriter(file, "SecretsPS.Commands.RemoveUnusedEncryptionKey"))
                foreach (var m in log.Messages) writer.Write(m.Level, m.Text);
            Assert.All(File.ReadAllLines(file), line => Assert.Matches(
                @"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - SecretsPS\.Commands\.RemoveUnusedEncryptionKey - (DEBUG|INFO|WARNING|ERROR) - \[CLEANUP-(AUDIT|SUMMARY)\] ", line));
        }

        [Theory]
        [InlineData("Sqlite")]
        [InlineData("PostgreSql")]
        public void No_log_line_journal_line_step_or_message_contains_key_material_or_a_plaintext(string provider)
        {
            if (Unavailable(provider)) return;
            var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3", "v4");
            var db = CleanupDatabase.Create(provider, _server, _folder.Path);
            var plain = new[] { "otp-secret-ção-1", "otp-secret-ção-2", "otp-secret-ção-3" };
            db.CreateTable("t", CleanupKeys.Protect(key, "v1", plain[..1]).Concat(CleanupKeys.Protect(key, "v4", plain[1..])).ToList());
            var secretsBefore = CleanupKeys.SecretForms(_folder.Path);
            var texts = new List<string>();
            void Collect(CleanupLog log, KeyCleanupOperation? op, Exception? e)
            {
                texts.AddRange(log.Messages.Select(m => m.Text));
                if (op is not null) texts.Add(JsonSerializer.Serialize(op));
                if (e is not null) texts.Add(e.ToString());
            }

            // Kept-and-removed, rollback by a bad file, rollback by a sample that no longer decrypts, not confirmed.
            var log1 = new CleanupLog();
            Collect(log1, CleanupKeys.Cleanup(key, log1, db, keep: 1, targets: new[] { new CleanupTarget("t", "otp") }).Run(_ => true), null);
            var log2 = new CleanupLog();
            var bad = CleanupKeys.Cleanup(key, log2, db, keep: 1, targets: new[] { new CleanupTarget("t", "otp") }, skipUsageCheck: true);
            Collect(log2, bad.Run(_ => true), null);
            var log3 = new CleanupLog();
            var broken = CleanupKeys.Cleanup(key, log3, null, keep: 1, skipUsageCheck: true, force: true);
            broken.AfterWrite = p => File.WriteAllText(p, CleanupKeys.WithWrongSaltHash(File.ReadAllText(p), "v4"));
            Collect(log3, broken.Run(_ => true), null);
            var log4 = new CleanupLog();
            Collect(log4, CleanupKeys.Cleanup(key, log4, null, keep: 1, skipUsageCheck: true, force: true).Run(_ => false), null);
            texts.Add(File.ReadAllText(CleanupJournal.PathFor(key)));

            var secrets = secretsBefore.Concat(CleanupKeys.SecretForms(_folder.Path)).Distinct().ToList();
            Assert.True(secrets.Count >= 4 * 2 * 5, "the scan found the keys and salts of every version");
            var all = string.Join("\n", texts);
            foreach (var s in secrets) Assert.False(all.Contains(s.Text, StringComparison.Ordinal), $"{s.What} appears in a log, journal or message");
            foreach (var p in plain) Assert.DoesNotContain(p, all);
            Assert.Equal(3, CleanupJournal.Read(key, out _).Count); // four runs; the unconfirmed one has no journal line
        }

        private static List<string> Backups(string key) => KeyFileStore.ListBackups(key).Select(f => f.FullName).ToList();

        private bool Unavailable(string provider)
        {
            if (provider != "PostgreSql" || _server.Available) return false;
            _output.WriteLine($"PostgreSQL case not run: {_server.Reason}");
            return true;
        }
    }
}

namespace SecretsPS.Core.Tests.CleanupSupport
{
    /// <summary>What KeyCleanup logged, in order.</summary>
    internal sealed class CleanupLog
    {
        public List<(LogLevel Level, string Text)> Messages { get; } = new();

        public void Write(LogLevel level, string text)
        {
            lock (Messages) Messages.Add((level, text));
        }
    }

    /// <summary>A test database on SQLite (a file) or PostgreSQL (a fresh database on the collection's server), filled by plain ADO.NET.</summary>
    internal sealed class CleanupDatabase
    {
        private CleanupDatabase(string provider, string connectionString, ISqlDialect dialect)
        {
            Provider = provider;
            ConnectionString = connectionString;
            Dialect = dialect;
        }

        public string Provider { get; }
        public string ConnectionString { get; }
        public ISqlDialect Dialect { get; }

        public static CleanupDatabase Create(string provider, PostgresServer server, string folder)
        {
            if (provider == "Sqlite")
            {
                var file = Path.Combine(folder, "app-" + Guid.NewGuid().ToString("N")[..8] + ".db");
                using (var c = new SqliteConnection($"Data Source={file};Pooling=False")) c.Open();
                return new CleanupDatabase(provider, file, SqlDialect.For(DatabaseProvider.Sqlite));
            }
            return new CleanupDatabase(provider, server.CreateDatabase(), SqlDialect.For(DatabaseProvider.PostgreSql));
        }

        public DbConnection Open()
        {
            DbConnection c = Provider == "Sqlite"
                ? new SqliteConnection($"Data Source={ConnectionString};Pooling=False")
                : new NpgsqlConnection(ConnectionString);
            c.Open();
            return c;
        }

        public void Execute(string sql)
        {
            using var c = Open();
            using var command = c.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        /// <summary>CREATE TABLE (id INTEGER PRIMARY KEY, column TEXT) with rows id = 1..N holding the values (null = NULL).</summary>
        public void CreateTable(string table, IReadOnlyList<string?> values, string column = "otp")
        {
            Execute($"CREATE TABLE \"{table}\" (id INTEGER PRIMARY KEY, \"{column}\" TEXT)");
            using var c = Open();
            using var tx = c.BeginTransaction();
            using var command = c.CreateCommand();
            command.Transaction = tx;
            command.CommandText = $"INSERT INTO \"{table}\" (id, \"{column}\") VALUES (@id, @v)";
            var id = SqlDialect.AddParameter(command, "@id", 0);
            var v = SqlDialect.AddParameter(command, "@v", "");
            for (int i = 0; i < values.Count; i++)
            {
                id.Value = i + 1;
                v.Value = (object?)values[i] ?? DBNull.Value;
                command.ExecuteNonQuery();
            }
            tx.Commit();
        }

        /// <summary>The rows in key order: (key as text, value or null).</summary>
        public List<(string Key, string? Value)> Rows(string table, string column = "otp")
        {
            using var c = Open();
            using var command = c.CreateCommand();
            command.CommandText = $"SELECT id, \"{column}\" FROM \"{table}\" ORDER BY id";
            using var reader = command.ExecuteReader();
            var rows = new List<(string, string?)>();
            while (reader.Read())
                rows.Add((Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture)!, reader.IsDBNull(1) ? null : reader.GetString(1)));
            return rows;
        }
    }

    internal sealed record SecretForm(string What, string Text);

    /// <summary>Key files made by the library (creation times one day apart), values, and the secrets a file holds.</summary>
    internal static class CleanupKeys
    {
        public static readonly DateTimeOffset FirstCreated = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        /// <summary>Creates .env.crypto in the folder with the first version, then rotates to each other one (the last is active).</summary>
        public static string Create(string folder, params string[] versions)
        {
            var path = Path.Combine(folder, ".env.crypto");
            KeyFileOperations.Create(path, versions[0], KeyVersion.DefaultKeyBytes, KeyVersion.DefaultSaltBytes, kdf: null, overwrite: false, now: FirstCreated);
            for (int i = 1; i < versions.Length; i++)
                KeyFileOperations.Rotate(path, new RotationOptions { NewVersion = versions[i] }, KeyFileFixture.NoEnvironment, FirstCreated.AddDays(i));
            return path;
        }

        public static string[] Protect(string keyFile, string version, IEnumerable<string> plaintexts)
        {
            using var config = KeyConfiguration.Load(keyFile, KeyFileFixture.NoEnvironment);
            return plaintexts.Select(p => config.Ring.Protect(p, version)).ToArray();
        }

        /// <summary>The versions of the file alone, oldest first.</summary>
        public static string[] Versions(string keyFile)
        {
            using var config = KeyConfiguration.Load(keyFile, KeyFileFixture.NoEnvironment);
            return config.Ring.Versions.Select(v => v.Name).ToArray();
        }

        public static KeyCleanup Cleanup(string keyFile, CleanupLog log, CleanupDatabase? db, int keep,
            IReadOnlyList<CleanupTarget>? targets = null, bool skipUsageCheck = false, bool force = false) =>
            new(new KeyCleanupRequest
            {
                KeyFile = keyFile,
                Keep = keep,
                Targets = targets ?? Array.Empty<CleanupTarget>(),
                SkipUsageCheck = skipUsageCheck,
                Force = force,
                Dialect = db?.Dialect,
                ConnectionString = db?.ConnectionString,
                Environment = KeyFileFixture.NoEnvironment,
            }, log.Write);

        /// <summary>The key file text with the salt hash of one version replaced by the hash of other bytes (a salt integrity failure).</summary>
        public static string WithWrongSaltHash(string text, string version)
        {
            var name = KeyFileNames.SaltHash(version);
            var wrong = KeyFileFixture.Sha256Hex(RandomNumberGenerator.GetBytes(16));
            var lines = text.Split('\n').Select(l => l.StartsWith(name + "=", StringComparison.Ordinal) ? $"{name}=\"{wrong}\"" : l).ToArray();
            if (lines.SequenceEqual(text.Split('\n'))) throw new InvalidOperationException($"{name} not found");
            return string.Join('\n', lines);
        }

        /// <summary>
        /// Every key and salt in the key files of a folder (the file and its backups), with the HKDF-derived Fernet key,
        /// in each text form a leak could take: base64, base64 without padding, base64url without padding, hex lower and upper.
        /// </summary>
        public static List<SecretForm> SecretForms(string folder)
        {
            var found = new List<SecretForm>();
            var line = new Regex(@"^ENCRYPTION_(KEYS|SALT)__([^=]+)=""?([^""]*)""?$", RegexOptions.CultureInvariant);
            foreach (var file in Directory.EnumerateFiles(folder, ".env.crypto*")
                         .Where(f => !f.EndsWith(".audit.jsonl", StringComparison.Ordinal) && !f.EndsWith(".lock", StringComparison.Ordinal)))
            {
                var keys = new Dictionary<string, byte[]>();
                var salts = new Dictionary<string, byte[]>();
                foreach (var l in File.ReadAllLines(file))
                {
                    var m = line.Match(l);
                    if (!m.Success) continue;
                    var bytes = Convert.FromBase64String(m.Groups[3].Value);
                    (m.Groups[1].Value == "KEYS" ? keys : salts)[m.Groups[2].Value] = bytes;
                    found.AddRange(Forms($"{m.Groups[1].Value.ToLowerInvariant()} of {m.Groups[2].Value} in {Path.GetFileName(file)}", bytes));
                }
                foreach (var (v, k) in keys)
                    if (salts.TryGetValue(v, out var s))
                        found.AddRange(Forms($"derived key of {v}", HKDF.DeriveKey(HashAlgorithmName.SHA256, k, 32, s, Array.Empty<byte>())));
            }
            return found.DistinctBy(f => f.Text).ToList();
        }

        private static IEnumerable<SecretForm> Forms(string what, byte[] bytes)
        {
            var b64 = Convert.ToBase64String(bytes);
            yield return new SecretForm(what + " (base64)", b64);
            yield return new SecretForm(what + " (base64, no padding)", b64.TrimEnd('='));
            yield return new SecretForm(what + " (base64url)", b64.TrimEnd('=').Replace('+', '-').Replace('/', '_'));
            yield return new SecretForm(what + " (hex)", Convert.ToHexString(bytes).ToLowerInvariant());
            yield return new SecretForm(what + " (HEX)", Convert.ToHexString(bytes));
        }
    }

    /// <summary>
    /// The application's independent reader: tests/interop/secretsps_ref.py check-rows (Python's cryptography, no code shared
    /// with SecretsPS). Where python3 with cryptography is missing, the rows are decrypted with the library instead, and the
    /// test output says so.
    /// </summary>
    internal static class CleanupIndependentReader
    {
        private static readonly Lazy<string?> Python = new(FindPython);

        public sealed record Result(string Reader, List<string?> Values);

        public static Result ReadAll(string keyFile, IReadOnlyList<(string Key, string? Value)> rows, string? expectVersion, ITestOutputHelper output)
        {
            if (Python.Value is not { } python || !File.Exists(RepoPaths.InteropScript))
            {
                output.WriteLine("secretsps_ref.py (python3 + cryptography) is not available: rows read with SecretsPS's own KeyRing instead.");
                using var config = KeyConfiguration.Load(keyFile, KeyFileFixture.NoEnvironment);
                foreach (var r in rows)
                    if (expectVersion is not null && r.Value is not null) Assert.StartsWith(expectVersion + ":", r.Value);
                return new Result("KeyRing", rows.Select(r => r.Value is null ? null : config.Ring.UnprotectToString(r.Value)).ToList());
            }
            var start = new ProcessStartInfo(python)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                StandardInputEncoding = new UTF8Encoding(false),
                StandardOutputEncoding = new UTF8Encoding(false),
                StandardErrorEncoding = new UTF8Encoding(false),
            };
            foreach (var a in new[] { RepoPaths.InteropScript, "check-rows", "--key-file", keyFile, "--ignore-environment" }) start.ArgumentList.Add(a);
            if (expectVersion is not null)
            {
                start.ArgumentList.Add("--expect-version");
                start.ArgumentList.Add(expectVersion);
            }
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(string.Concat(rows.Select(r => $"{r.Key}\t{r.Value ?? "\\N"}\n")));
            process.StandardInput.Close();
            if (!process.WaitForExit(60_000))
            {
                process.Kill(true);
                throw new TimeoutException("secretsps_ref.py check-rows did not finish in 60 s");
            }
            Assert.True(process.ExitCode == 0, $"the independent reader failed: {stderr.Result}");
            var lines = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(rows.Count, lines.Length);
            var values = new List<string?>();
            for (int i = 0; i < lines.Length; i++)
            {
                var parts = lines[i].Split('\t');
                Assert.Equal(rows[i].Key, parts[0]);
                values.Add(parts[1] == "NULL" ? null : Encoding.UTF8.GetString(Convert.FromHexString(parts[1])));
            }
            return new Result("secretsps_ref.py", values);
        }

        private static string? FindPython()
        {
            foreach (var candidate in new[] { "/usr/bin/python3" }.Concat(
                         (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "python3"))))
            {
                if (!File.Exists(candidate)) continue;
                try
                {
                    using var p = Process.Start(new ProcessStartInfo(candidate, "-c \"import cryptography.fernet\"")
                    { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
                    p.WaitForExit(30_000);
                    if (p.ExitCode == 0) return candidate;
                }
                catch (System.ComponentModel.Win32Exception)
                {
                }
            }
            return null;
        }
    }
}
