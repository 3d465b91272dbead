using System.Diagnostics;
using System.Runtime.InteropServices;
using SecretsPS.Core.Audit;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using Xunit.Abstractions;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>
/// FORMATS.md §1, "a key file that stays the deployment's": a rewrite keeps the file's owner, group and mode (or is
/// refused before anything changes); a key file that is a symbolic link is written at its final target, locked and
/// backed up there; the lock, a backup and the journal never follow a link of their own. Real files, real links, real
/// owners: the owner cases need root on Linux and say so in their output elsewhere (xunit 2 cannot skip at run time).
/// </summary>
public sealed class KeyFileDeploymentTests : IDisposable
{
    private const uint Nobody = 65534;
    private const uint NoGroup = 65534;
    private static readonly DateTimeOffset Noon = new(2025, 1, 14, 12, 34, 56, TimeSpan.Zero);

    private readonly TempFolder _folder = new();
    private readonly ITestOutputHelper _output;

    public KeyFileDeploymentTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    private string KeyFile => _folder.File(".env.crypto");

    internal static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    private bool NotRoot()
    {
        if (IsRoot) return false;
        _output.WriteLine("SKIPPED: keeping a file's owner is checked only as root on Linux (chown to another user needs privilege).");
        return true;
    }

    private bool NoLinks()
    {
        if (!OperatingSystem.IsWindows()) return false;
        _output.WriteLine("SKIPPED: symbolic links need Unix here (Windows needs a privilege to create them).");
        return true;
    }

    /// <summary>uid:gid:mode of a file, as stat(1) prints it — not through the code under test.</summary>
    internal static string Stat(string path) => Run("stat", "-c", "%u:%g:%a", path).Trim();

    internal static string Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {output}");
        return output;
    }

    private static void Own(string path, uint uid, uint gid, string mode)
    {
        Run("chown", $"{uid}:{gid}", path);
        Run("chmod", mode, path);
    }

    private static string[] Versions(string path)
    {
        using var config = KeyConfiguration.Load(path, NoEnvironment);
        return config.Ring.Versions.Select(v => v.Name).ToArray();
    }

    private void CreateV1V2V3(string path)
    {
        KeyFileOperations.Create(path, "v1", 32, 16, null, overwrite: false, Noon);
        KeyFileOperations.Rotate(path, new RotationOptions(), NoEnvironment, Noon.AddDays(1));
        KeyFileOperations.Rotate(path, new RotationOptions(), NoEnvironment, Noon.AddDays(2));
    }

    private IEnumerable<string> Leftovers(string folder) =>
        Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Where(n => n!.Contains(".tmp-"))!;

    // ------------------------------------------------------------------ owner, group and mode

    [Fact]
    public void A_rotation_keeps_a_root_app_0640_file_root_app_0640()
    {
        if (NotRoot()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        Own(KeyFile, 0, NoGroup, "0640");

        var result = KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);

        Assert.Equal($"0:{NoGroup}:640", Stat(KeyFile));
        Assert.Equal(new[] { "v1", "v2" }, Versions(KeyFile));
        Assert.Equal("0:0:600", Stat(result.BackupPath!)); // backups stay 0600 (FORMATS.md §7)
    }

    [Fact]
    public void A_rotation_by_root_keeps_a_nobody_0600_file_owned_by_nobody()
    {
        if (NotRoot()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        Own(KeyFile, Nobody, NoGroup, "0600");
        Run("chmod", "0755", _folder.Path);

        KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);

        Assert.Equal($"{Nobody}:{NoGroup}:600", Stat(KeyFile));
        // The application's user can still read its keys: the file loads as nobody.
        Assert.Contains("ENCRYPTION_KEYS__v2", Run("runuser", "-u", "nobody", "--", "cat", KeyFile));
        Assert.Empty(Leftovers(_folder.Path));
    }

    public static TheoryData<string> Writers => new() { "Create -Force", "SetActive", "RemoveVersions", "Restore", "KeyCleanup" };

    [Theory]
    [MemberData(nameof(Writers))]
    public void Every_writer_keeps_the_owner_group_and_mode(string writer)
    {
        if (NotRoot()) return;
        CreateV1V2V3(KeyFile);
        var backup = KeyFileStore.CreateBackup(KeyFile, now: Noon);
        Own(KeyFile, Nobody, 0, "0640");

        switch (writer)
        {
            case "Create -Force": KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: true); break;
            case "SetActive": KeyFileOperations.SetActive(KeyFile, "v1", NoEnvironment); break;
            case "RemoveVersions": KeyFileOperations.RemoveVersions(KeyFile, new[] { "v1" }, NoEnvironment); break;
            case "Restore":
                KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);
                Own(KeyFile, Nobody, 0, "0640");
                KeyFileOperations.Restore(backup, KeyFile);
                break;
            case "KeyCleanup":
                var op = new KeyCleanup(new KeyCleanupRequest
                {
                    KeyFile = KeyFile, Keep = 1, SkipUsageCheck = true, Force = true, Environment = NoEnvironment,
                }, (_, _) => { }).Run(_ => true);
                Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
                break;
        }

        Assert.Equal($"{Nobody}:0:640", Stat(KeyFile));
        Assert.Empty(Leftovers(_folder.Path));
    }

    [Fact]
    public void A_cleanup_rolled_back_puts_the_old_bytes_back_with_the_owner_and_mode()
    {
        if (NotRoot()) return;
        CreateV1V2V3(KeyFile);
        Own(KeyFile, Nobody, NoGroup, "0640");
        var before = File.ReadAllBytes(KeyFile);
        var cleanup = new KeyCleanup(new KeyCleanupRequest
        {
            KeyFile = KeyFile, Keep = 1, SkipUsageCheck = true, Force = true, Environment = NoEnvironment,
        }, (_, _) => { });
        cleanup.AfterWrite = p =>
        {
            Assert.Equal($"{Nobody}:{NoGroup}:640", Stat(p)); // the new file, before its checks
            throw new SecretsPSException("Injected", ErrorKind.InvalidData, "injected");
        };

        var op = cleanup.Run(_ => true);

        Assert.Equal(CleanupOutcome.RolledBack, op.OutcomeKind);
        Assert.Equal(before, File.ReadAllBytes(KeyFile));
        Assert.Equal($"{Nobody}:{NoGroup}:640", Stat(KeyFile));
    }

    [Fact]
    public void A_new_file_is_created_0600_and_owned_by_the_current_user()
    {
        if (OperatingSystem.IsWindows()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);

        Assert.Equal($"{geteuid()}:{getegid()}:600", Stat(KeyFile));
    }

    [Fact]
    public void When_the_owner_cannot_be_kept_the_write_is_refused_with_KeyFileOwnerNotKept_before_anything_changes()
    {
        if (OperatingSystem.IsWindows()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        var before = File.ReadAllBytes(KeyFile);
        var stat = Stat(KeyFile);
        UnixFileOwner.ChownOverride = (_, _, _) => -1; // what fchown answers an unprivileged process (EPERM)
        try
        {
            var e = Assert.Throws<KeyFileException>(() => KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment));

            Assert.Equal("KeyFileOwnerNotKept", e.ErrorId);
            Assert.Equal(ErrorKind.PermissionDenied, e.Kind);
            Assert.Contains("chown", e.Message);
        }
        finally
        {
            UnixFileOwner.ChownOverride = null;
        }
        Assert.Equal(before, File.ReadAllBytes(KeyFile));
        Assert.Equal(stat, Stat(KeyFile));
        Assert.Empty(KeyFileStore.ListBackups(KeyFile));
        Assert.Empty(Leftovers(_folder.Path));
    }

    // ------------------------------------------------------------------ symbolic links

    [Fact]
    public void A_rotation_through_a_link_writes_the_target_and_leaves_the_link_a_link()
    {
        if (NoLinks()) return;
        var real = _folder.File("real.env");
        KeyFileOperations.Create(real, "v1", 32, 16, null, overwrite: false, Noon);
        File.CreateSymbolicLink(KeyFile, "real.env"); // relative, as Kubernetes mounts are

        var result = KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);

        Assert.Equal("real.env", new FileInfo(KeyFile).LinkTarget);
        Assert.Equal(new[] { "v1", "v2" }, Versions(real));
        Assert.StartsWith(real + ".backup_", result.BackupPath);
        Assert.True(File.Exists(real + ".lock"));
        Assert.False(File.Exists(KeyFile + ".lock"));
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, ".env.crypto.backup_*"));
        Assert.Empty(Leftovers(_folder.Path));
    }

    [Fact]
    public void A_chain_of_relative_links_into_other_folders_is_written_at_its_final_target_with_backup_and_lock_beside_it()
    {
        if (NoLinks()) return;
        Directory.CreateDirectory(_folder.File("mount"));
        Directory.CreateDirectory(_folder.File("secrets"));
        var real = _folder.File("secrets", "keys.env");
        KeyFileOperations.Create(real, "v1", 32, 16, null, overwrite: false, Noon);
        File.CreateSymbolicLink(_folder.File("mount", "current"), "../secrets/keys.env");
        File.CreateSymbolicLink(KeyFile, "mount/current");

        var result = KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);
        KeyFileOperations.SetActive(KeyFile, "v1", NoEnvironment);
        KeyFileOperations.RemoveVersions(KeyFile, new[] { "v2" }, NoEnvironment);

        Assert.Equal("mount/current", new FileInfo(KeyFile).LinkTarget);
        Assert.Equal("../secrets/keys.env", new FileInfo(_folder.File("mount", "current")).LinkTarget);
        Assert.Equal(new[] { "v1" }, Versions(real));
        Assert.Equal(_folder.File("secrets"), Path.GetDirectoryName(result.BackupPath));
        Assert.Equal(3, KeyFileStore.ListBackups(KeyFile).Count);
        Assert.Equal(3, KeyFileStore.ListBackups(real).Count);
        Assert.Equal(new[] { ".env.crypto", "mount", "secrets" }, Directory.EnumerateFileSystemEntries(_folder.Path).Select(Path.GetFileName).Order());
        Assert.True(File.Exists(real + ".lock"));
    }

    [Fact]
    public void Create_with_overwrite_and_Restore_through_a_link_keep_the_link()
    {
        if (NoLinks()) return;
        var real = _folder.File("real.env");
        KeyFileOperations.Create(real, "v1", 32, 16, null, overwrite: false, Noon);
        File.CreateSymbolicLink(KeyFile, real);
        var original = File.ReadAllBytes(real);

        var created = KeyFileOperations.Create(KeyFile, "v7", 32, 16, null, overwrite: true, Noon);
        Assert.Equal(real, new FileInfo(KeyFile).LinkTarget);
        Assert.Equal(new[] { "v7" }, Versions(real));
        Assert.StartsWith(real + ".backup_", created.BackupPath);

        KeyFileOperations.Restore(created.BackupPath!, KeyFile);
        Assert.Equal(real, new FileInfo(KeyFile).LinkTarget);
        Assert.Equal(original, File.ReadAllBytes(real));
    }

    [Fact]
    public async Task Two_paths_to_one_file_exclude_each_other_and_lose_no_version()
    {
        if (NoLinks()) return;
        var real = _folder.File("real.env");
        KeyFileOperations.Create(real, "v1", 32, 16, null, overwrite: false, Noon);
        File.CreateSymbolicLink(KeyFile, "real.env");
        using var start = new ManualResetEventSlim();

        var workers = new[] { KeyFile, real }.Select(path => Task.Run(() =>
        {
            start.Wait();
            return Enumerable.Range(0, 10)
                .Select(_ => KeyFileOperations.Rotate(path, new RotationOptions(), NoEnvironment).Version.Version)
                .ToList();
        })).ToList();
        start.Set();
        var created = (await Task.WhenAll(workers)).SelectMany(n => n).ToList();

        Assert.Equal(20, created.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 21).Select(i => "v" + i).Order(), Versions(real).Order());
        Assert.Equal("real.env", new FileInfo(KeyFile).LinkTarget);
        Assert.Equal(20, KeyFileStore.ListBackups(real).Count);
    }

    [Fact]
    public void A_cleanup_through_a_link_writes_the_target_and_journals_beside_it()
    {
        if (NoLinks()) return;
        var real = _folder.File("real.env");
        CreateV1V2V3(real);
        File.CreateSymbolicLink(KeyFile, "real.env");

        var op = new KeyCleanup(new KeyCleanupRequest
        {
            KeyFile = KeyFile, Keep = 1, SkipUsageCheck = true, Force = true, Environment = NoEnvironment,
        }, (_, _) => { }).Run(_ => true);

        Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
        Assert.Equal(new[] { "v3" }, Versions(real));
        Assert.Equal("real.env", new FileInfo(KeyFile).LinkTarget);
        Assert.True(File.Exists(real + ".audit.jsonl"));
        Assert.Equal(real + ".audit.jsonl", CleanupJournal.PathFor(KeyFile));
        Assert.Single(CleanupJournal.Read(KeyFile, out _));
    }

    // ------------------------------------------------------------------ the lock, a backup and the journal never follow a link

    [Fact]
    public void A_lock_file_that_is_a_link_is_refused_and_nothing_is_written_through_it()
    {
        if (NoLinks()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        File.Delete(KeyFile + ".lock");
        var elsewhere = _folder.File("elsewhere");
        File.CreateSymbolicLink(KeyFile + ".lock", elsewhere);
        var before = File.ReadAllBytes(KeyFile);

        var e = Assert.Throws<KeyFileException>(() => KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment));

        Assert.Equal("KeyFileLinkRefused", e.ErrorId);
        Assert.False(File.Exists(elsewhere));
        Assert.Equal(before, File.ReadAllBytes(KeyFile));
        Assert.Empty(KeyFileStore.ListBackups(KeyFile));
    }

    [Fact]
    public void A_backup_name_that_is_a_link_is_refused_and_nothing_is_written_through_it()
    {
        if (NoLinks()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        var victim = _folder.Write("victim.txt", "untouched\n");
        File.CreateSymbolicLink(KeyFile + ".backup_20250114_123456", victim);
        var dangling = _folder.File("nothing-here");
        File.CreateSymbolicLink(KeyFile + ".backup_20250115_123456", dangling);

        var e = Assert.Throws<KeyFileException>(() => KeyFileStore.CreateBackup(KeyFile, now: Noon));
        var e2 = Assert.Throws<KeyFileException>(() => KeyFileStore.CreateBackup(KeyFile, now: Noon.AddDays(1)));

        Assert.Equal("KeyFileLinkRefused", e.ErrorId);
        Assert.Equal("KeyFileLinkRefused", e2.ErrorId);
        Assert.Equal("untouched\n", File.ReadAllText(victim));
        Assert.False(File.Exists(dangling));
    }

    [Fact]
    public void A_journal_that_is_a_link_is_refused_before_the_cleanup_changes_anything()
    {
        if (NoLinks()) return;
        CreateV1V2V3(KeyFile);
        var victim = _folder.Write("victim.txt", "untouched\n");
        File.CreateSymbolicLink(KeyFile + ".audit.jsonl", victim);
        var before = File.ReadAllBytes(KeyFile);
        var backups = KeyFileStore.ListBackups(KeyFile).Count;

        var e = Assert.Throws<KeyFileException>(() => new KeyCleanup(new KeyCleanupRequest
        {
            KeyFile = KeyFile, Keep = 1, SkipUsageCheck = true, Force = true, Environment = NoEnvironment,
        }, (_, _) => { }).Run(_ => true));

        Assert.Equal("KeyFileLinkRefused", e.ErrorId);
        Assert.Equal("untouched\n", File.ReadAllText(victim));
        Assert.Equal(before, File.ReadAllBytes(KeyFile));
        Assert.Equal(backups, KeyFileStore.ListBackups(KeyFile).Count);
    }

    [Fact]
    public void Appending_to_a_journal_that_is_a_link_is_refused()
    {
        if (NoLinks()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        var victim = _folder.Write("victim.txt", "untouched\n");
        File.CreateSymbolicLink(KeyFile + ".audit.jsonl", victim);
        var operation = new KeyCleanupOperation("cleanup_20250114_123456_abcd", KeyFile, Noon, 1, 1, CleanupOutcome.NothingToRemove,
            Array.Empty<string>(), Array.Empty<string>(), Array.Empty<KeptVersion>(), null, Array.Empty<CleanupTargetUsage>(),
            Array.Empty<CleanupStep>(), "nothing", "user", "host");

        var e = Assert.ThrowsAny<SecretsPSException>(() => CleanupJournal.Append(KeyFile, operation));

        Assert.Equal("KeyFileLinkRefused", e.ErrorId);
        Assert.Equal("untouched\n", File.ReadAllText(victim));
    }

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern uint getegid();
}

/// <summary>
/// The refusal for real: the process drops to nobody (seteuid, the saved uid stays root) and rewrites a file root owns in
/// a folder nobody may write to; chown to root fails there as it does for any unprivileged user. Runs alone (no other test
/// runs while the process is not root).
/// </summary>
[CollectionDefinition("unprivileged", DisableParallelization = true)]
public sealed class UnprivilegedCollection { }

[Collection("unprivileged")]
public sealed class KeyFileDeploymentUnprivilegedTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly ITestOutputHelper _output;

    public KeyFileDeploymentUnprivilegedTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void An_unprivileged_rotation_of_a_file_owned_by_root_is_refused_with_KeyFileOwnerNotKept_and_changes_nothing()
    {
        if (!KeyFileDeploymentTests.IsRoot)
        {
            _output.WriteLine("SKIPPED: needs root on Linux to drop to nobody.");
            return;
        }
        var keyFile = _folder.File(".env.crypto");
        KeyFileOperations.Create(keyFile, "v1", 32, 16, null, overwrite: false);
        KeyFileDeploymentTests.Run("chmod", "0644", keyFile);  // nobody may read it (the rewrite needs to)
        KeyFileDeploymentTests.Run("chmod", "0777", _folder.Path); // and create its lock and temporary file beside it
        File.Delete(keyFile + ".lock");
        var before = File.ReadAllBytes(keyFile);

        Exception? thrown;
        if (setegid(65534) != 0 || seteuid(65534) != 0) throw new InvalidOperationException("cannot drop to nobody");
        try
        {
            thrown = Record.Exception(() => KeyFileOperations.Rotate(keyFile, new RotationOptions(), KeyFileFixture.NoEnvironment));
        }
        finally
        {
            if (seteuid(0) != 0 || setegid(0) != 0) Environment.FailFast("cannot return to root");
        }

        var e = Assert.IsType<KeyFileException>(thrown);
        Assert.Equal("KeyFileOwnerNotKept", e.ErrorId);
        Assert.Equal(ErrorKind.PermissionDenied, e.Kind);
        Assert.Equal(before, File.ReadAllBytes(keyFile));
        Assert.Equal("0:0:644", KeyFileDeploymentTests.Stat(keyFile));
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, "*backup_*"));
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, "*.tmp-*", new EnumerationOptions { AttributesToSkip = 0 }));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int seteuid(uint euid);

    [DllImport("libc", SetLastError = true)]
    private static extern int setegid(uint egid);
}
