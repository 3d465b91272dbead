using System.Text;
using SecretsPS.Core.Config;
using Xunit.Abstractions;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §1 (0600, atomic writes) and §7 (backups): the key file on disk.</summary>
public sealed class KeyFileStoreTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // Bytes that a text round trip would change: a BOM, CRLF, non-ASCII, no final line end.
    private static readonly byte[] Awkward =
        Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("# não mexa\r\nACTIVE_ENCRYPTION_VERSION=v1\r\nX=ç")).ToArray();

    private static readonly DateTimeOffset Noon = new(2025, 1, 14, 12, 34, 56, TimeSpan.Zero);

    private readonly TempFolder _folder = new();
    private readonly ITestOutputHelper _output;

    public KeyFileStoreTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Backup_waits_for_the_lock_every_change_holds_so_it_never_copies_a_file_half_way_through_an_edit()
    {
        var path = _folder.Write(".env.crypto", "ACTIVE_ENCRYPTION_VERSION=\"v1\"\n");
        Task<string> backup;
        using (KeyFileStore.AcquireLock(path, TimeSpan.FromSeconds(5)))
        {
            backup = Task.Run(() => KeyFileStore.Backup(path));
            Assert.False(backup.Wait(TimeSpan.FromMilliseconds(400)), "the backup did not wait for the lock");
        }
        Assert.True(backup.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(backup.Result));
    }

    private string KeyFile => _folder.File(".env.crypto");

    private IEnumerable<string> TempFiles(string folder) =>
        Directory.EnumerateFiles(folder).Select(Path.GetFileName).Where(n => n!.StartsWith('.') && n.Contains(".tmp-"))!;

    // ---- WriteAtomically ----

    [Fact]
    public void WriteAtomically_creates_the_file_with_mode_0600()
    {
        KeyFileStore.WriteAtomically(KeyFile, "A=1\n");

        Assert.Equal("A=1\n", File.ReadAllText(KeyFile));
        if (!OperatingSystem.IsWindows()) Assert.Equal(OwnerOnly, File.GetUnixFileMode(KeyFile));
        Assert.Empty(TempFiles(_folder.Path));
    }

    [Fact]
    public void WriteAtomically_replaces_the_content_and_leaves_the_file_0600()
    {
        File.WriteAllText(KeyFile, "OLD=content that is longer than the new one\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(KeyFile, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        KeyFileStore.WriteAtomically(KeyFile, "NEW=ção\n");

        Assert.Equal(Encoding.UTF8.GetBytes("NEW=ção\n"), File.ReadAllBytes(KeyFile));
        if (!OperatingSystem.IsWindows()) Assert.Equal(OwnerOnly, File.GetUnixFileMode(KeyFile));
        Assert.Empty(TempFiles(_folder.Path));
    }

    [Fact]
    public void WriteAtomically_into_a_missing_folder_fails_with_KeyFileWriteFailed_and_leaves_nothing()
    {
        var path = _folder.File("missing", ".env.crypto");

        var e = Assert.Throws<KeyFileException>(() => KeyFileStore.WriteAtomically(path, "A=1\n"));

        Assert.Equal("KeyFileWriteFailed", e.ErrorId);
        Assert.Equal(ErrorKind.WriteError, e.Kind);
        Assert.False(Directory.Exists(_folder.File("missing")));
        Assert.Empty(_folder.Snapshot());
    }

    [Fact]
    public void A_failed_write_on_a_read_only_file_system_leaves_the_old_file_byte_identical()
    {
        using var tmpfs = SmallTmpfs.TryMount(_folder.File("ro"), "size=64k", out var reason);
        if (tmpfs is null) { _output.WriteLine("Skipped: " + reason); return; }
        var path = Path.Combine(tmpfs.Path, ".env.crypto");
        KeyFileStore.WriteAtomically(path, Awkward);
        tmpfs.RemountReadOnly();

        var e = Assert.Throws<KeyFileException>(() => KeyFileStore.WriteAtomically(path, "NEW=1\n"));

        Assert.Equal("KeyFileWriteFailed", e.ErrorId);
        Assert.Equal(Awkward, File.ReadAllBytes(path));
        Assert.Equal(new[] { ".env.crypto" }, Directory.EnumerateFiles(tmpfs.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_failed_write_on_a_full_file_system_removes_its_temporary_file_and_leaves_the_old_file_byte_identical()
    {
        using var tmpfs = SmallTmpfs.TryMount(_folder.File("full"), "size=64k", out var reason);
        if (tmpfs is null) { _output.WriteLine("Skipped: " + reason); return; }
        var path = Path.Combine(tmpfs.Path, ".env.crypto");
        KeyFileStore.WriteAtomically(path, Awkward);

        var e = Assert.Throws<KeyFileException>(() => KeyFileStore.WriteAtomically(path, new byte[256 * 1024]));

        Assert.Equal("KeyFileWriteFailed", e.ErrorId);
        Assert.Equal(Awkward, File.ReadAllBytes(path));
        Assert.Empty(TempFiles(tmpfs.Path));
        Assert.Equal(new[] { ".env.crypto" }, Directory.EnumerateFiles(tmpfs.Path).Select(Path.GetFileName));
    }

    // ---- reading ----

    [Fact]
    public void Reading_a_missing_file_fails_with_KeyFileNotFound()
    {
        var e = Assert.Throws<KeyFileException>(() => KeyFileStore.ReadDocument(KeyFile));

        Assert.Equal("KeyFileNotFound", e.ErrorId);
        Assert.Equal(KeyFile, e.Target);
    }

    [Fact]
    public void Reading_a_file_that_is_not_UTF8_fails_with_KeyFileNotUtf8()
    {
        File.WriteAllBytes(KeyFile, new byte[] { 0x41, 0x3D, 0xC3, 0x28, 0x0A });

        Assert.Equal("KeyFileNotUtf8", Assert.Throws<KeyFileException>(() => KeyFileStore.ReadDocument(KeyFile)).ErrorId);
    }

    // ---- backups ----

    [Fact]
    public void CreateBackup_copies_the_file_byte_for_byte_to_a_UTC_stamped_name_with_mode_0600()
    {
        File.WriteAllBytes(KeyFile, Awkward);
        var localNoon = Noon.ToOffset(TimeSpan.FromHours(-3)); // 09:34:56-03:00 is 12:34:56Z

        var backup = KeyFileStore.CreateBackup(KeyFile, now: localNoon);

        Assert.Equal(KeyFile + ".backup_20250114_123456", backup);
        Assert.Equal(Awkward, File.ReadAllBytes(backup));
        if (!OperatingSystem.IsWindows()) Assert.Equal(OwnerOnly, File.GetUnixFileMode(backup));
        Assert.Equal(Awkward, File.ReadAllBytes(KeyFile));
    }

    [Fact]
    public void Backups_taken_in_the_same_second_get_suffixes_2_and_3()
    {
        File.WriteAllText(KeyFile, "A=1\n");

        var first = KeyFileStore.CreateBackup(KeyFile, now: Noon);
        File.WriteAllText(KeyFile, "A=2\n");
        var second = KeyFileStore.CreateBackup(KeyFile, now: Noon);
        File.WriteAllText(KeyFile, "A=3\n");
        var third = KeyFileStore.CreateBackup(KeyFile, now: Noon);

        Assert.Equal(KeyFile + ".backup_20250114_123456", first);
        Assert.Equal(KeyFile + ".backup_20250114_123456_2", second);
        Assert.Equal(KeyFile + ".backup_20250114_123456_3", third);
        Assert.Equal("A=1\n", File.ReadAllText(first));
        Assert.Equal("A=2\n", File.ReadAllText(second));
        Assert.Equal("A=3\n", File.ReadAllText(third));
    }

    [Fact]
    public void CreateBackup_writes_the_content_it_is_given()
    {
        File.WriteAllText(KeyFile, "CURRENT=1\n");

        var backup = KeyFileStore.CreateBackup(KeyFile, Awkward, Noon);

        Assert.Equal(Awkward, File.ReadAllBytes(backup));
    }

    [Fact]
    public void A_backup_that_cannot_be_written_fails_with_BackupFailed_and_leaves_no_partial_backup()
    {
        using var tmpfs = SmallTmpfs.TryMount(_folder.File("full"), "size=64k,nr_inodes=64", out var reason);
        if (tmpfs is null) { _output.WriteLine("Skipped: " + reason); return; }
        var path = Path.Combine(tmpfs.Path, ".env.crypto");
        KeyFileStore.WriteAtomically(path, Awkward);

        var e = Assert.Throws<KeyFileException>(() => KeyFileStore.CreateBackup(path, new byte[256 * 1024], Noon));

        Assert.Equal("BackupFailed", e.ErrorId);
        Assert.Equal(Awkward, File.ReadAllBytes(path));
        // A write that fails after the file was created is not "name taken": it must not move on to _2, _3…
        Assert.Equal(new[] { ".env.crypto" }, Directory.EnumerateFiles(tmpfs.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ListBackups_lists_only_this_files_backups_newest_first()
    {
        File.WriteAllText(KeyFile, "A=1\n");
        var jan = KeyFileStore.CreateBackup(KeyFile, now: Noon);
        var mar = KeyFileStore.CreateBackup(KeyFile, now: Noon.AddMonths(2));
        var sameSecond = Enumerable.Range(0, 10).Select(_ => KeyFileStore.CreateBackup(KeyFile, now: Noon.AddMonths(1))).ToList();
        _folder.Write(".env.crypto.backup_notadate", "x");
        _folder.Write(".env.crypto.backup_20250114_123456.bak", "x");
        _folder.Write(".env.crypto.production.backup_20260101_000000", "x");
        _folder.Write("other.env.crypto.backup_20260101_000000", "x");

        var listed = KeyFileStore.ListBackups(KeyFile).Select(f => f.FullName).ToList();

        var expected = new[] { mar }.Concat(Enumerable.Reverse(sameSecond)).Append(jan).ToList();
        Assert.Equal(expected, listed);
        Assert.EndsWith(".backup_20250214_123456_10", listed[1]);
        Assert.EndsWith(".backup_20250214_123456", listed[10]);
    }

    [Fact]
    public void ListBackups_of_a_file_in_a_missing_folder_is_empty()
    {
        Assert.Empty(KeyFileStore.ListBackups(_folder.File("nowhere", ".env.crypto")));
    }

    [Fact]
    public void PruneBackups_keeps_the_newest_N_and_touches_no_other_file()
    {
        File.WriteAllText(KeyFile, "A=1\n");
        var backups = Enumerable.Range(0, 5).Select(i => KeyFileStore.CreateBackup(KeyFile, now: Noon.AddDays(i))).ToList();
        KeyFileStore.CreateBackup(KeyFile, now: Noon.AddDays(4)); // _2 of the newest second
        _folder.Write(".env.crypto.lock", "");
        _folder.Write(".env.crypto.backup_notadate", "x");
        _folder.Write(".env.crypto.backup_20200101_000000.bak", "x");
        _folder.Write(".env.crypto.production", "P=1\n");
        _folder.Write(".env.crypto.production.backup_20200101_000000", "x");
        _folder.Write("other.env.crypto.backup_20200101_000000", "x");
        _folder.Write("notes.txt", "keep me");
        var before = _folder.Snapshot();

        var removed = KeyFileStore.PruneBackups(KeyFile, keep: 3);

        Assert.Equal(new[] { backups[2], backups[1], backups[0] }, removed);
        var after = _folder.Snapshot();
        Assert.Equal(before.Keys.Except(removed.Select(r => Path.GetFileName(r))).Order(StringComparer.Ordinal), after.Keys);
        foreach (var (name, bytes) in after) Assert.Equal(before[name], bytes);
        Assert.Equal(3, KeyFileStore.ListBackups(KeyFile).Count);
    }

    [Fact]
    public void PruneBackups_never_removes_the_newest_backup()
    {
        File.WriteAllText(KeyFile, "A=1\n");
        KeyFileStore.CreateBackup(KeyFile, now: Noon);

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileStore.PruneBackups(KeyFile, keep: 0));

        Assert.Equal("KeepOutOfRange", e.ErrorId);
        Assert.Single(KeyFileStore.ListBackups(KeyFile));
        Assert.Empty(KeyFileStore.PruneBackups(KeyFile, keep: 1));
    }

    // ---- Update and the lock ----

    [Fact]
    public void Update_backs_the_old_bytes_up_and_then_writes_the_change()
    {
        File.WriteAllBytes(KeyFile, Awkward);
        var modeBefore = OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(KeyFile);

        var backup = KeyFileStore.Update(KeyFile, (document, before) =>
        {
            Assert.Equal(Awkward, before);
            document.Set("X", "changed");
            return true;
        });

        Assert.NotNull(backup);
        Assert.Equal(Awkward, File.ReadAllBytes(backup));
        Assert.Equal("# não mexa\nACTIVE_ENCRYPTION_VERSION=v1\nX=\"changed\"\n", File.ReadAllText(KeyFile));
        // A rewrite keeps the mode the deployment set (FORMATS.md §1); the backup is 0600 whatever it is.
        if (!OperatingSystem.IsWindows()) Assert.Equal(modeBefore, File.GetUnixFileMode(KeyFile));
        if (!OperatingSystem.IsWindows()) Assert.Equal(OwnerOnly, File.GetUnixFileMode(backup));
    }

    [Fact]
    public void Update_that_changes_nothing_writes_nothing_and_makes_no_backup()
    {
        File.WriteAllBytes(KeyFile, Awkward);

        var backup = KeyFileStore.Update(KeyFile, (_, _) => false);

        Assert.Null(backup);
        Assert.Equal(Awkward, File.ReadAllBytes(KeyFile));
        Assert.Empty(KeyFileStore.ListBackups(KeyFile));
    }

    [Fact]
    public void Update_whose_change_throws_leaves_the_file_and_makes_no_backup()
    {
        File.WriteAllBytes(KeyFile, Awkward);

        Assert.Throws<InvalidOperationException>(() => KeyFileStore.Update(KeyFile, (d, _) =>
        {
            d.Set("X", "half done");
            throw new InvalidOperationException("boom");
        }));

        Assert.Equal(Awkward, File.ReadAllBytes(KeyFile));
        Assert.Empty(KeyFileStore.ListBackups(KeyFile));
        Assert.Empty(TempFiles(_folder.Path));
    }

    [Fact]
    public void A_held_lock_makes_another_change_wait_and_then_fail_with_KeyFileLocked()
    {
        File.WriteAllText(KeyFile, "A=1\n");
        using (KeyFileStore.AcquireLock(KeyFile, TimeSpan.FromSeconds(1)))
        {
            var e = Assert.Throws<KeyFileException>(() =>
                KeyFileStore.Update(KeyFile, (d, _) => { d.Set("A", "2"); return true; }, TimeSpan.FromMilliseconds(200)));

            Assert.Equal("KeyFileLocked", e.ErrorId);
        }

        Assert.Equal("A=1\n", File.ReadAllText(KeyFile));
        Assert.NotNull(KeyFileStore.Update(KeyFile, (d, _) => { d.Set("A", "2"); return true; }, TimeSpan.FromMilliseconds(200)));
    }

    // ---- Edit: the one write path ----

    [Fact]
    public void Edit_holds_the_lock_through_the_verification_and_a_failed_verification_puts_the_old_bytes_back()
    {
        File.WriteAllBytes(KeyFile, Awkward);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(KeyFile, OwnerOnly | UnixFileMode.GroupRead);
        string? lockedOut = null;

        var e = Assert.Throws<InvalidOperationException>(() => KeyFileStore.Edit(KeyFile, state =>
        {
            Assert.Equal(Awkward, state.Bytes);
            return Encoding.UTF8.GetBytes("NEW=1\n");
        }, written =>
        {
            Assert.Equal("NEW=1\n", File.ReadAllText(KeyFile));
            Assert.Equal(Awkward, File.ReadAllBytes(written.BackupPath!));
            // Another writer waits for the lock while the verification runs.
            var other = Task.Run(() => Record.Exception(() => KeyFileStore.Update(KeyFile, (_, _) => true, TimeSpan.FromMilliseconds(200))));
            lockedOut = (other.Result as KeyFileException)?.ErrorId;
            throw new InvalidOperationException("verification failed");
        }));

        Assert.Equal("verification failed", e.Message);
        Assert.Equal("KeyFileLocked", lockedOut);
        Assert.Equal(Awkward, File.ReadAllBytes(KeyFile));
        if (!OperatingSystem.IsWindows()) Assert.Equal(OwnerOnly | UnixFileMode.GroupRead, File.GetUnixFileMode(KeyFile));
        Assert.Single(KeyFileStore.ListBackups(KeyFile));
        Assert.Empty(TempFiles(_folder.Path));
    }

    [Fact]
    public void Edit_whose_rollback_cannot_be_written_fails_with_KeyFileRollbackFailed_naming_the_backup()
    {
        var reason = OperatingSystem.IsLinux() ? ChattrProblem() : "not Linux";
        if (reason is not null)
        {
            _output.WriteLine("SKIPPED: needs chattr +i on Linux to make a folder read-only for root: " + reason);
            return;
        }
        File.WriteAllBytes(KeyFile, Awkward);
        string? backup = null;
        try
        {
            var e = Assert.Throws<KeyFileException>(() => KeyFileStore.Edit(KeyFile, _ => Encoding.UTF8.GetBytes("NEW=1\n"), written =>
            {
                backup = written.BackupPath;
                Chattr("+i", _folder.Path);
                throw new InvalidOperationException("verification failed");
            }));

            Assert.Equal("KeyFileRollbackFailed", e.ErrorId);
            Assert.Contains(backup!, e.Message);
        }
        finally
        {
            Chattr("-i", _folder.Path);
        }
        Assert.Equal("NEW=1\n", File.ReadAllText(KeyFile));
        Assert.Equal(Awkward, File.ReadAllBytes(backup!));
    }

    /// <summary>Null when chattr +i makes a folder read-only even for root here; else why not.</summary>
    private static string? ChattrProblem()
    {
        using var probe = new TempFolder();
        try
        {
            Chattr("+i", probe.Path);
            try
            {
                File.WriteAllText(probe.File("x"), "x");
                return "chattr +i did not stop a write";
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return null; }
            finally { Chattr("-i", probe.Path); }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return e.Message;
        }
    }

    private static void Chattr(string flag, string path) => KeyFileDeploymentTests.Run("chattr", flag, path);

    [Fact]
    public async Task Concurrent_rotations_under_the_lock_all_land()
    {
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);
        using var start = new ManualResetEventSlim();

        var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return Enumerable.Range(0, 10)
                .Select(_ => KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment).Version.Version)
                .ToList();
        })).ToList();
        start.Set();
        var created = (await Task.WhenAll(workers)).SelectMany(n => n).ToList();

        Assert.Equal(20, created.Distinct().Count());
        using var config = KeyConfiguration.Load(KeyFile, NoEnvironment);
        var names = config.Ring.Versions.Select(v => v.Name).ToList();
        Assert.Equal(21, names.Count);
        Assert.Equal(Enumerable.Range(1, 21).Select(i => "v" + i).Order(), names.Order());
        Assert.Equal("v21", config.Ring.Active.Name);
        Assert.Empty(config.Settings.NamesDefinedTwice);
        Assert.Equal(20, KeyFileStore.ListBackups(KeyFile).Count);
        Assert.Empty(TempFiles(_folder.Path));
        Assert.All(config.Ring.Versions, v => Assert.Equal("ok", config.Ring.UnprotectToString(config.Ring.Protect("ok", v.Name))));
    }
}
