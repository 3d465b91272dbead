using System.Text.RegularExpressions;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>Every change of a key file: validated first, backed up, written atomically (FORMATS.md §1, §7).</summary>
public sealed class KeyFileOperationsTests : IDisposable
{
    private static readonly DateTimeOffset Noon = new(2025, 1, 14, 12, 34, 56, TimeSpan.Zero);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string KeyFile => _folder.File(".env.crypto");

    private byte[] Bytes() => System.IO.File.ReadAllBytes(KeyFile);

    private string[] Lines() => System.IO.File.ReadAllText(KeyFile).Split('\n');

    private KeyConfiguration Load() => KeyConfiguration.Load(KeyFile, NoEnvironment);

    private void CreateV1() => KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);

    private void AssertUnchangedAndNoNewBackup(byte[] before, int backups)
    {
        Assert.Equal(before, Bytes());
        Assert.Equal(backups, KeyFileStore.ListBackups(KeyFile).Count);
    }

    // ---- Create ----

    [Fact]
    public void Create_writes_the_header_the_active_line_and_the_five_version_lines()
    {
        var result = KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon.AddTicks(1234567));

        var text = System.IO.File.ReadAllText(KeyFile);
        Assert.DoesNotContain('\r', text);
        Assert.EndsWith("\n", text);
        var lines = text[..^1].Split('\n');
        Assert.Equal(9, lines.Length);
        Assert.Equal("# Gerado em 2025-01-14T12:34:56Z", lines[0]);
        Assert.Equal("# MANTENHA ESTE ARQUIVO SEGURO - NÃO VERSIONE EM GIT", lines[1]);
        Assert.Equal("", lines[2]);
        Assert.Equal("ACTIVE_ENCRYPTION_VERSION=\"v1\"", lines[3]);
        var key = Regex.Match(lines[4], "^ENCRYPTION_KEYS__v1=\"([A-Za-z0-9+/]+=*)\"$");
        var salt = Regex.Match(lines[5], "^ENCRYPTION_SALT__v1=\"([A-Za-z0-9+/]+=*)\"$");
        Assert.True(key.Success, lines[4]);
        Assert.True(salt.Success, lines[5]);
        Assert.Equal(32, Convert.FromBase64String(key.Groups[1].Value).Length);
        var saltBytes = Convert.FromBase64String(salt.Groups[1].Value);
        Assert.Equal(16, saltBytes.Length);
        Assert.Equal($"ENCRYPTION_SALT_HASH__v1=\"{Sha256Hex(saltBytes)}\"", lines[6]);
        Assert.Equal("ENCRYPTION_KDF__v1=\"hkdf-sha256\"", lines[7]);
        Assert.Equal("ENCRYPTION_CREATED__v1=\"2025-01-14T12:34:56Z\"", lines[8]);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(KeyFile));

        Assert.Null(result.BackupPath);
        Assert.Equal("v1", result.Version.Version);
        Assert.True(result.Version.IsActive);
        Assert.Equal(Noon, result.Version.Created);
        using var config = Load();
        Assert.Equal("v1", config.Ring.Active.Name);
        Assert.Equal(Noon, config.Ring.Active.Created);
    }

    [Fact]
    public void Create_takes_the_key_and_salt_sizes_and_the_KDF_it_is_given()
    {
        KeyFileOperations.Create(KeyFile, "v2-prod", 48, 24, "pbkdf2-sha256:1000", overwrite: false, Noon);

        using var config = Load();
        var v = config.Ring.Active;
        Assert.Equal("v2-prod", v.Name);
        Assert.Equal(48, v.KeyLength);
        Assert.Equal(24, v.SaltLength);
        Assert.Equal("pbkdf2-sha256:1000", v.Kdf.Name);
        Assert.Contains("ENCRYPTION_KDF__v2-prod=\"pbkdf2-sha256:1000\"", Lines());
    }

    [Fact]
    public void Create_makes_a_new_random_key_each_time()
    {
        var other = _folder.File("other.env");
        CreateV1();
        KeyFileOperations.Create(other, "v1", 32, 16, null, overwrite: false, Noon);

        using var a = Load();
        using var b = KeyConfiguration.Load(other, NoEnvironment);
        Assert.NotEqual(a.Ring.Active.SaltHash, b.Ring.Active.SaltHash);
        Assert.Throws<TokenInvalidException>(() => b.Ring.Unprotect(a.Ring.Protect("x")));
    }

    [Fact]
    public void Create_over_an_existing_file_without_overwrite_fails_with_KeyFileExists_and_leaves_it()
    {
        CreateV1();
        var before = Bytes();

        var e = Assert.Throws<KeyFileException>(() => KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false));

        Assert.Equal("KeyFileExists", e.ErrorId);
        Assert.Equal(ErrorKind.ResourceExists, e.Kind);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    [Fact]
    public void Create_with_overwrite_backs_the_old_file_up_first()
    {
        CreateV1();
        var before = Bytes();

        var result = KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: true);

        Assert.NotNull(result.BackupPath);
        Assert.Equal(before, System.IO.File.ReadAllBytes(result.BackupPath));
        Assert.NotEqual(before, Bytes());
    }

    [Fact]
    public void Create_with_an_invalid_version_name_writes_nothing()
    {
        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.Create(KeyFile, "v:1", 32, 16, null, overwrite: false));

        Assert.Equal("VersionNameInvalid", e.ErrorId);
        Assert.Empty(_folder.Snapshot());
    }

    [Fact]
    public void Create_makes_the_missing_folder()
    {
        var path = _folder.File("instance", ".env.crypto");

        KeyFileOperations.Create(path, "v1", 32, 16, null, overwrite: false);

        Assert.True(System.IO.File.Exists(path));
    }

    // ---- Rotate ----

    [Fact]
    public void Rotate_without_a_name_adds_v2_then_v3_and_activates_each()
    {
        CreateV1();
        var before = Bytes();

        var first = KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment, Noon.AddDays(1));
        var afterFirst = Bytes();
        var second = KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment, Noon.AddDays(2));

        Assert.Equal("v2", first.Version.Version);
        Assert.Equal("v1", first.PreviousActive);
        Assert.Equal("v3", second.Version.Version);
        Assert.Equal("v2", second.PreviousActive);
        Assert.Empty(first.SettingLines);
        Assert.Equal(before, System.IO.File.ReadAllBytes(first.BackupPath!));
        Assert.Equal(afterFirst, System.IO.File.ReadAllBytes(second.BackupPath!));
        using var config = Load();
        Assert.Equal(new[] { "v1", "v2", "v3" }, config.Ring.Versions.Select(v => v.Name));
        Assert.Equal("v3", config.Ring.Active.Name);
        Assert.Equal(Noon.AddDays(2), config.Ring.Active.Created);
        var lines = Lines();
        Assert.Single(lines, l => l.StartsWith("ACTIVE_ENCRYPTION_VERSION="));
        Assert.Equal("ACTIVE_ENCRYPTION_VERSION=\"v3\"", lines[3]); // replaced where it stood
    }

    [Fact]
    public void Rotate_with_a_name_uses_it()
    {
        CreateV1();

        var result = KeyFileOperations.Rotate(KeyFile, new RotationOptions { NewVersion = "v2-prod", Kdf = "pbkdf2-sha256:1000" }, NoEnvironment);

        Assert.Equal("v2-prod", result.Version.Version);
        using var config = Load();
        Assert.Equal("v2-prod", config.Ring.Active.Name);
        Assert.Equal("pbkdf2-sha256:1000", config.Ring.Active.Kdf.Name);
        Assert.Equal("v2", KeyFileOperations.NextVersion(KeyFile, NoEnvironment));
    }

    [Fact]
    public void Rotate_to_an_existing_name_fails_with_KeyVersionExists_and_changes_nothing()
    {
        CreateV1();
        var before = Bytes();

        var e = Assert.ThrowsAny<SecretsPSException>(() =>
            KeyFileOperations.Rotate(KeyFile, new RotationOptions { NewVersion = "v1" }, NoEnvironment));

        Assert.Equal("KeyVersionExists", e.ErrorId);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    [Fact]
    public void Rotate_to_a_name_only_in_the_environment_fails_with_KeyVersionExists()
    {
        CreateV1();
        var before = Bytes();
        var environment = Version("v2", 2).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 2)..^1]);

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.Rotate(KeyFile, new RotationOptions { NewVersion = "v2" }, environment));

        Assert.Equal("KeyVersionExists", e.ErrorId);
        Assert.Contains("environment", e.Message);
        AssertUnchangedAndNoNewBackup(before, 0);
        Assert.Equal("v3", KeyFileOperations.Rotate(KeyFile, new RotationOptions(), environment).Version.Version);
    }

    [Fact]
    public void Rotate_with_an_invalid_name_changes_nothing()
    {
        CreateV1();
        var before = Bytes();

        var e = Assert.ThrowsAny<SecretsPSException>(() =>
            KeyFileOperations.Rotate(KeyFile, new RotationOptions { NewVersion = "v2:bad" }, NoEnvironment));

        Assert.Equal("VersionNameInvalid", e.ErrorId);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    [Fact]
    public void Rotate_with_Activate_false_adds_the_version_and_keeps_the_active_one()
    {
        CreateV1();

        var result = KeyFileOperations.Rotate(KeyFile, new RotationOptions { Activate = false }, NoEnvironment);

        Assert.False(result.Version.IsActive);
        Assert.NotNull(result.BackupPath);
        using var config = Load();
        Assert.Equal("v1", config.Ring.Active.Name);
        Assert.True(config.Ring.TryGet("v2", out _));
    }

    [Fact]
    public void Rotate_with_Persist_false_writes_nothing_and_returns_the_lines()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment, Noon.AddDays(1));
        var before = Bytes();
        var backups = KeyFileStore.ListBackups(KeyFile).Count;

        var dry = KeyFileOperations.Rotate(KeyFile, new RotationOptions { Persist = false }, NoEnvironment, Noon.AddDays(2));

        AssertUnchangedAndNoNewBackup(before, backups);
        Assert.Null(dry.BackupPath);
        Assert.Equal("v3", dry.Version.Version);
        Assert.Equal(6, dry.SettingLines.Count);
        Assert.Equal("ACTIVE_ENCRYPTION_VERSION=\"v3\"", dry.SettingLines[0]);
        Assert.Matches("^ENCRYPTION_KEYS__v3=\"", dry.SettingLines[1]);
        Assert.Equal("ENCRYPTION_CREATED__v3=\"2025-01-16T12:34:56Z\"", dry.SettingLines[5]);

        // The lines are a working version: laid over the file, they load and encrypt.
        var withLines = KeyFileDocument.Parse(System.IO.File.ReadAllText(KeyFile) + string.Join("\n", dry.SettingLines.Skip(1)) + "\n");
        withLines.Set("ACTIVE_ENCRYPTION_VERSION", "v3");
        using var config = KeyConfiguration.FromDocument(KeyFile, withLines, NoEnvironment);
        Assert.StartsWith("v3:", config.Ring.Protect("x"));
    }

    [Fact]
    public void Rotate_with_Persist_false_and_Activate_false_returns_only_the_version_lines()
    {
        CreateV1();

        var dry = KeyFileOperations.Rotate(KeyFile, new RotationOptions { Persist = false, Activate = false }, NoEnvironment);

        Assert.Equal(5, dry.SettingLines.Count);
        Assert.DoesNotContain(dry.SettingLines, l => l.StartsWith("ACTIVE_ENCRYPTION_VERSION"));
    }

    [Fact]
    public void Rotate_keeps_the_lines_it_does_not_own()
    {
        _folder.Write(".env.crypto",
            "# my notes\n" + FileText("v1", Version("v1", 1)) + "\nDATABASE_URL=postgres://db # app\nnot an assignment\n");

        KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);

        var lines = Lines();
        Assert.Equal("# my notes", lines[0]);
        Assert.Contains("DATABASE_URL=postgres://db # app", lines);
        Assert.Contains("not an assignment", lines);
    }

    // ---- SetActive ----

    [Fact]
    public void SetActive_changes_the_active_version_after_a_backup()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions { Activate = false }, NoEnvironment);
        var before = Bytes();

        var result = KeyFileOperations.SetActive(KeyFile, "v2", NoEnvironment);

        Assert.Equal("v2", result.Version);
        Assert.Equal("v1", result.PreviousActive);
        Assert.False(result.ActiveOverriddenByEnvironment);
        Assert.Equal(before, System.IO.File.ReadAllBytes(result.BackupPath!));
        using var config = Load();
        Assert.Equal("v2", config.Ring.Active.Name);
    }

    [Fact]
    public void SetActive_to_an_unknown_version_fails_with_KeyVersionNotFound_and_changes_nothing()
    {
        CreateV1();
        var before = Bytes();

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.SetActive(KeyFile, "v9", NoEnvironment));

        Assert.Equal("KeyVersionNotFound", e.ErrorId);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    [Fact]
    public void SetActive_to_a_version_only_the_environment_defines_fails_with_VersionFromEnvironment_and_changes_nothing()
    {
        CreateV1();
        var environment = Version("v9", 9).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 2)..^1]);
        var before = Bytes();

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.SetActive(KeyFile, "v9", environment));
        var check = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.CheckActivatable(KeyFile, "v9", environment));

        Assert.Equal("VersionFromEnvironment", e.ErrorId);
        Assert.Equal("VersionFromEnvironment", check.ErrorId);
        Assert.Contains("ENCRYPTION_KEYS__v9", e.Message);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    [Fact]
    public void SetActive_to_a_version_whose_salt_only_the_environment_gives_is_refused_too()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions { Activate = false }, NoEnvironment);
        var salt = Lines().Single(l => l.StartsWith("ENCRYPTION_SALT__v2="));
        var hash = Lines().Single(l => l.StartsWith("ENCRYPTION_SALT_HASH__v2="));
        var text = string.Join('\n', Lines().Where(l => l != salt));
        System.IO.File.WriteAllText(KeyFile, text);
        var environment = new Dictionary<string, string> { ["ENCRYPTION_SALT__v2"] = salt[(salt.IndexOf('=') + 2)..^1] };
        var before = Bytes();

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.SetActive(KeyFile, "v2", environment));

        Assert.Equal("VersionFromEnvironment", e.ErrorId);
        Assert.Contains("ENCRYPTION_SALT__v2", e.Message);
        Assert.DoesNotContain(hash, e.Message);
        AssertUnchangedAndNoNewBackup(before, 1);
    }

    [Fact]
    public void CheckActivatable_accepts_a_version_of_the_file_and_refuses_an_unknown_one_without_touching_the_file()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions { Activate = false }, NoEnvironment);
        var before = Bytes();

        KeyFileOperations.CheckActivatable(KeyFile, "v2", NoEnvironment);
        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.CheckActivatable(KeyFile, "v9", NoEnvironment));

        Assert.Equal("KeyVersionNotFound", e.ErrorId);
        AssertUnchangedAndNoNewBackup(before, 1);
    }

    [Fact]
    public void SetActive_to_the_active_version_writes_nothing()
    {
        CreateV1();
        var before = Bytes();

        var result = KeyFileOperations.SetActive(KeyFile, "v1", NoEnvironment);

        Assert.Null(result.BackupPath);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    [Fact]
    public void SetActive_reports_when_the_environment_overrides_the_active_version()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions { Activate = false }, NoEnvironment);
        var environment = new Dictionary<string, string> { ["ACTIVE_ENCRYPTION_VERSION"] = "v1" };

        var result = KeyFileOperations.SetActive(KeyFile, "v2", environment);

        Assert.True(result.ActiveOverriddenByEnvironment);
        Assert.Contains("ACTIVE_ENCRYPTION_VERSION=\"v2\"", Lines());
    }

    // ---- RemoveVersions ----

    [Fact]
    public void RemoveVersions_refuses_the_active_version_and_changes_nothing()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);
        var before = Bytes();
        var backups = KeyFileStore.ListBackups(KeyFile).Count;

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.RemoveVersions(KeyFile, new[] { "v1", "v2" }, NoEnvironment));

        Assert.Equal("ActiveVersionRemoval", e.ErrorId);
        Assert.Equal("v2", e.Target);
        AssertUnchangedAndNoNewBackup(before, backups);
    }

    [Fact]
    public void CheckRemovable_refuses_what_RemoveVersions_refuses_without_touching_the_file()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);
        var before = Bytes();
        var backups = KeyFileStore.ListBackups(KeyFile).Count;
        var overridden = new Dictionary<string, string> { ["ACTIVE_ENCRYPTION_VERSION"] = "v1" };

        Assert.Equal("ActiveVersionRemoval", Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.CheckRemovable(KeyFile, new[] { "v2" }, NoEnvironment)).ErrorId);
        // The file's own active version, while the environment activates another: refused all the same.
        Assert.Equal("ActiveVersionRemoval", Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.CheckRemovable(KeyFile, new[] { "v2" }, overridden)).ErrorId);
        Assert.Equal("KeyVersionNotFound", Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.CheckRemovable(KeyFile, new[] { "v9" }, NoEnvironment)).ErrorId);
        KeyFileOperations.CheckRemovable(KeyFile, new[] { "v1" }, NoEnvironment);
        AssertUnchangedAndNoNewBackup(before, backups);
    }

    [Fact]
    public void RemoveVersions_refuses_an_unknown_version_and_changes_nothing()
    {
        CreateV1();
        KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);
        var before = Bytes();
        var backups = KeyFileStore.ListBackups(KeyFile).Count;

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.RemoveVersions(KeyFile, new[] { "v1", "v9" }, NoEnvironment));

        Assert.Equal("KeyVersionNotFound", e.ErrorId);
        AssertUnchangedAndNoNewBackup(before, backups);
    }

    [Fact]
    public void RemoveVersions_removes_all_five_lines_of_a_version_and_keeps_the_lines_it_does_not_own()
    {
        _folder.Write(".env.crypto",
            "# notes\nAPP_SECRET=keep\n\n" +
            FileText("v2", Version("v1", 1, created: "2025-01-01T00:00:00Z"), new[] { "# between" }, Version("v2", 2, created: "2025-02-01T00:00:00Z")) +
            "garbage that is not an assignment\n");
        var before = Bytes();

        var result = KeyFileOperations.RemoveVersions(KeyFile, new[] { "v1" }, NoEnvironment);

        Assert.Equal(new[] { "v1" }, result.Removed);
        Assert.Equal(before, System.IO.File.ReadAllBytes(result.BackupPath));
        var text = System.IO.File.ReadAllText(KeyFile);
        Assert.DoesNotContain("__v1=", text);
        Assert.Equal(
            "# notes\nAPP_SECRET=keep\n\n" + FileText("v2", new[] { "# between" }, Version("v2", 2, created: "2025-02-01T00:00:00Z")) +
            "garbage that is not an assignment\n",
            text);
        using var config = Load();
        Assert.Equal(new[] { "v2" }, config.Ring.Versions.Select(v => v.Name));
    }

    [Fact]
    public void RemoveVersions_refuses_the_version_the_file_names_as_active_even_when_the_environment_overrides_it()
    {
        // The file says v1 is active; the environment (e.g. a deployment) says v2. Removing v1 from the file
        // must not leave a file whose own ACTIVE_ENCRYPTION_VERSION names a version it no longer has.
        _folder.Write(".env.crypto", FileText("v1", Version("v1", 1), Version("v2", 2)));
        var environment = new Dictionary<string, string> { ["ACTIVE_ENCRYPTION_VERSION"] = "v2" };
        var before = Bytes();

        var e = Record.Exception(() => KeyFileOperations.RemoveVersions(KeyFile, new[] { "v1" }, environment));

        Assert.True(e is SecretsPSException, "the removal was allowed; the file left behind loads only with the environment");
        Assert.Equal(before, Bytes());
        using var onItsOwn = KeyConfiguration.Load(KeyFile, NoEnvironment);
    }

    [Fact]
    public void RemoveVersions_refuses_a_version_that_only_the_environment_defines()
    {
        CreateV1();
        var environment = Version("v2", 2).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 2)..^1]);
        var before = Bytes();

        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileOperations.RemoveVersions(KeyFile, new[] { "v2" }, environment));

        Assert.Equal("VersionFromEnvironment", e.ErrorId);
        AssertUnchangedAndNoNewBackup(before, 0);
    }

    // ---- Restore ----

    [Fact]
    public void Restore_puts_the_backup_back_after_backing_up_the_current_file()
    {
        CreateV1();
        var original = Bytes();
        var rotation = KeyFileOperations.Rotate(KeyFile, new RotationOptions(), NoEnvironment);
        var rotated = Bytes();

        var result = KeyFileOperations.Restore(rotation.BackupPath!, KeyFile);

        Assert.Equal(original, Bytes());
        Assert.Equal(KeyFile, result.Path);
        Assert.Equal(rotation.BackupPath, result.RestoredFrom);
        Assert.NotNull(result.BackupOfReplaced);
        Assert.Equal(rotated, System.IO.File.ReadAllBytes(result.BackupOfReplaced));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(KeyFile));
        using var config = Load();
        Assert.Equal("v1", config.Ring.Active.Name);
    }

    [Fact]
    public void Restore_of_an_invalid_backup_fails_with_BackupInvalid_and_leaves_the_current_file()
    {
        CreateV1();
        var before = Bytes();
        var broken = Version("v1", 1);
        broken[2] = Line("ENCRYPTION_SALT_HASH__v1", new string('0', 64));
        var bad = _folder.Write(".env.crypto.backup_20250101_000000", FileText("v1", broken));

        var e = Assert.Throws<KeyFileException>(() => KeyFileOperations.Restore(bad, KeyFile));

        Assert.Equal("BackupInvalid", e.ErrorId);
        Assert.Contains("SaltIntegrityCheckFailed", e.Message);
        Assert.Equal(before, Bytes());
        Assert.Equal(new[] { bad }, KeyFileStore.ListBackups(KeyFile).Select(f => f.FullName));
    }

    [Fact]
    public void Restore_of_a_backup_without_an_active_version_fails_with_BackupInvalid()
    {
        CreateV1();
        var before = Bytes();
        var bad = _folder.Write("old.env", Text(Version("v1", 1)));

        var e = Assert.Throws<KeyFileException>(() => KeyFileOperations.Restore(bad, KeyFile));

        Assert.Equal("BackupInvalid", e.ErrorId);
        Assert.Contains("ActiveVersionMissing", e.Message);
        Assert.Equal(before, Bytes());
    }

    [Fact]
    public void Restore_of_a_file_that_is_not_UTF8_fails_with_BackupInvalid()
    {
        CreateV1();
        var before = Bytes();
        var bad = _folder.File("binary.backup");
        System.IO.File.WriteAllBytes(bad, new byte[] { 0xFF, 0xFE, 0x00, 0x41 });

        Assert.Equal("BackupInvalid", Assert.Throws<KeyFileException>(() => KeyFileOperations.Restore(bad, KeyFile)).ErrorId);
        Assert.Equal(before, Bytes());
    }

    // ---- backups before every change ----

    [Fact]
    public void Every_change_backs_up_the_file_as_it_was_just_before()
    {
        CreateV1();
        var changes = new List<(string Name, Func<string?> Run)>
        {
            ("Rotate", () => KeyFileOperations.Rotate(KeyFile, new RotationOptions { Activate = false }, NoEnvironment).BackupPath),
            ("SetActive", () => KeyFileOperations.SetActive(KeyFile, "v2", NoEnvironment).BackupPath),
            ("RemoveVersions", () => KeyFileOperations.RemoveVersions(KeyFile, new[] { "v1" }, NoEnvironment).BackupPath),
            ("Restore", () => KeyFileOperations.Restore(KeyFileStore.ListBackups(KeyFile).Last().FullName, KeyFile).BackupOfReplaced),
            ("Create -Force", () => KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: true).BackupPath),
        };

        int expectedBackups = 0;
        foreach (var (name, run) in changes)
        {
            var before = Bytes();
            var backup = run();
            expectedBackups++;
            Assert.True(backup is not null, name + " made no backup");
            Assert.True(before.AsSpan().SequenceEqual(System.IO.File.ReadAllBytes(backup)), name + ": the backup is not the file as it was");
            Assert.False(before.AsSpan().SequenceEqual(Bytes()), name + " did not change the file");
            Assert.Equal(expectedBackups, KeyFileStore.ListBackups(KeyFile).Count);
        }
    }
}
