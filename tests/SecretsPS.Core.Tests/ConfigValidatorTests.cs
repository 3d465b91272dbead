using SecretsPS.Core.Config;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>Test-EncryptionConfig's checks: every problem reported on its own, so one run shows them all.</summary>
public sealed class ConfigValidatorTests : IDisposable
{
    private static readonly DateTimeOffset Noon = new(2025, 1, 14, 12, 34, 56, TimeSpan.Zero);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string KeyFile => _folder.File(".env.crypto");

    private static IReadOnlyList<ConfigCheck> Check(string path, int? maxAge = null, DateTimeOffset? now = null,
        IReadOnlyDictionary<string, string>? environment = null) =>
        ConfigValidator.Check(path, environment ?? NoEnvironment, maxAge, now);

    private static ConfigCheck Single(IEnumerable<ConfigCheck> checks, string check, string? version = null) =>
        Assert.Single(checks, c => c.Check == check && c.Version == version);

    [Fact]
    public void A_file_made_by_Create_passes_every_check()
    {
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);
        KeyFileOperations.Rotate(KeyFile, new RotationOptions { Kdf = "pbkdf2-sha256:1000" }, NoEnvironment, Noon);

        var checks = Check(KeyFile, maxAge: 30, now: Noon.AddDays(1));

        Assert.All(checks, c => Assert.True(c.StatusKind == CheckStatus.Passed, $"{c.Check} {c.Version}: {c.StatusKind} {c.Message}"));
        Assert.Equal(
            new[] { "FileRead", "FileMode", "Parse", "ActivePresent", "KeyMaterial", "SelfTest", "KeyMaterial", "SelfTest", "VersionOrder", "KeyAge" },
            checks.Select(c => c.Check));
        Assert.Equal(new string?[] { null, null, null, "v2", "v1", "v1", "v2", "v2", null, "v2" }, checks.Select(c => c.Version));
        Assert.All(checks, c => Assert.Null(c.ErrorId));
    }

    [Fact]
    public void Each_broken_version_is_reported_with_its_error_id_and_the_others_are_still_checked()
    {
        var badHash = Version("v2", 2);
        badHash[2] = Line("ENCRYPTION_SALT_HASH__v2", new string('a', 64));
        var noSalt = Version("v4", 4);
        noSalt.RemoveAt(1);
        _folder.Write(".env.crypto", FileText("v5",
            Version("v1", 1),
            badHash,
            Version("v3", 3, keyBytes: 8),
            noSalt,
            Version("v5", 5),
            Version("v6", 6, kdf: "bcrypt"),
            Version("v7", 7, keyBytes: 16, kdf: "raw")));

        var checks = Check(KeyFile);

        Assert.Equal("SaltIntegrityCheckFailed", Single(checks, "KeyMaterial", "v2").ErrorId);
        Assert.Equal("KeyTooShort", Single(checks, "KeyMaterial", "v3").ErrorId);
        Assert.Equal("SaltMissing", Single(checks, "KeyMaterial", "v4").ErrorId);
        Assert.Equal("KdfUnknown", Single(checks, "KeyMaterial", "v6").ErrorId);
        Assert.Equal("RawKeyLength", Single(checks, "KeyMaterial", "v7").ErrorId);
        foreach (var bad in new[] { "v2", "v3", "v4", "v6", "v7" })
        {
            Assert.Equal(CheckStatus.Failed, Single(checks, "KeyMaterial", bad).StatusKind);
            Assert.DoesNotContain(checks, c => c.Check == "SelfTest" && c.Version == bad);
        }

        foreach (var good in new[] { "v1", "v5" })
        {
            Assert.Equal(CheckStatus.Passed, Single(checks, "KeyMaterial", good).StatusKind);
            Assert.Equal(CheckStatus.Passed, Single(checks, "SelfTest", good).StatusKind);
        }

        Assert.Equal(CheckStatus.Passed, Single(checks, "ActivePresent", "v5").StatusKind);
    }

    [Fact]
    public void A_missing_file_fails_the_read_check_and_stops()
    {
        var checks = Check(KeyFile);

        var read = Assert.Single(checks);
        Assert.Equal("FileRead", read.Check);
        Assert.Equal(CheckStatus.Failed, read.StatusKind);
        Assert.Equal("KeyFileNotFound", read.ErrorId);
    }

    [Fact]
    public void A_name_assigned_twice_fails_the_parse_check()
    {
        _folder.Write(".env.crypto", FileText("v1", Version("v1", 1), Version("v1", 1).Take(1)));

        var parse = Single(Check(KeyFile), "Parse");

        Assert.Equal(CheckStatus.Failed, parse.StatusKind);
        Assert.Equal("VersionDefinedTwice", parse.ErrorId);
        Assert.Contains("ENCRYPTION_KEYS__v1", parse.Message);
    }

    [Fact]
    public void A_missing_active_version_fails_with_ActiveVersionMissing()
    {
        _folder.Write(".env.crypto", Text(Version("v1", 1)));

        var checks = Check(KeyFile);

        var active = Single(checks, "ActivePresent");
        Assert.Equal(CheckStatus.Failed, active.StatusKind);
        Assert.Equal("ActiveVersionMissing", active.ErrorId);
        Assert.Equal(CheckStatus.Passed, Single(checks, "SelfTest", "v1").StatusKind);
    }

    [Fact]
    public void An_active_version_that_is_not_defined_fails_with_ActiveVersionNotDefined()
    {
        _folder.Write(".env.crypto", FileText("v2", Version("v1", 1)));

        var active = Single(Check(KeyFile), "ActivePresent", "v2");

        Assert.Equal(CheckStatus.Failed, active.StatusKind);
        Assert.Equal("ActiveVersionNotDefined", active.ErrorId);
    }

    [Fact]
    public void A_file_readable_by_its_group_is_a_FileMode_warning()
    {
        if (OperatingSystem.IsWindows()) return;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);
        System.IO.File.SetUnixFileMode(KeyFile,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead); // 0644

        var checks = Check(KeyFile);

        var mode = Single(checks, "FileMode");
        Assert.Equal(CheckStatus.Warning, mode.StatusKind);
        Assert.Equal("KeyFileReadableByOthers", mode.ErrorId);
        Assert.Contains("chmod 600", mode.Message);
        Assert.DoesNotContain(checks, c => c.StatusKind == CheckStatus.Failed);
    }

    [Fact]
    public void A_file_only_its_owner_can_read_passes_the_FileMode_check()
    {
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);

        Assert.Equal(CheckStatus.Passed, Single(Check(KeyFile), "FileMode").StatusKind);
    }

    [Fact]
    public void An_active_key_older_than_MaxKeyAgeDays_is_a_warning()
    {
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false, Noon);

        var old = Single(Check(KeyFile, maxAge: 90, now: Noon.AddDays(91)), "KeyAge", "v1");
        var young = Single(Check(KeyFile, maxAge: 90, now: Noon.AddDays(89)), "KeyAge", "v1");

        Assert.Equal(CheckStatus.Warning, old.StatusKind);
        Assert.Equal("ActiveKeyTooOld", old.ErrorId);
        Assert.Contains("91 days", old.Message);
        Assert.Equal(CheckStatus.Passed, young.StatusKind);
        Assert.DoesNotContain(Check(KeyFile), c => c.Check == "KeyAge");
    }

    [Fact]
    public void An_active_key_without_a_creation_time_has_an_unknown_age()
    {
        _folder.Write(".env.crypto", FileText("v1", Version("v1", 1)));

        var age = Single(Check(KeyFile, maxAge: 90, now: Noon), "KeyAge", "v1");

        Assert.Equal(CheckStatus.Warning, age.StatusKind);
        Assert.Equal("ActiveKeyAgeUnknown", age.ErrorId);
    }

    [Fact]
    public void Creation_times_that_disagree_with_the_file_order_are_a_warning_naming_both_versions_and_the_file_order_is_used()
    {
        _folder.Write(".env.crypto", FileText("v2",
            Version("v1", 1, created: "2025-06-01T00:00:00Z"),
            Version("v2", 2, created: "2025-01-01T00:00:00Z")));

        var checks = Check(KeyFile);

        var order = Single(checks, "VersionOrder", "v2");
        Assert.Equal(CheckStatus.Warning, order.StatusKind);
        Assert.Equal("CreatedDisagreesWithFileOrder", order.ErrorId);
        Assert.Contains("ENCRYPTION_CREATED__v2 (2025-01-01T00:00:00Z)", order.Message, StringComparison.Ordinal);
        Assert.Contains("ENCRYPTION_CREATED__v1 (2025-06-01T00:00:00Z)", order.Message, StringComparison.Ordinal);
        Assert.Contains("The file order is used: v1 is treated as older than v2", order.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(checks, c => c.StatusKind == CheckStatus.Failed); // still a valid file
    }

    [Fact]
    public void A_file_from_the_original_CLI_without_creation_times_passes_the_order_check_in_file_order()
    {
        _folder.Write(".env.crypto", FileText("v3", Version("v1", 1), Version("v3", 3), Version("v2", 2)));

        var order = Single(Check(KeyFile), "VersionOrder");

        Assert.Equal(CheckStatus.Passed, order.StatusKind);
        Assert.Contains("v1, v3, v2", order.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dated_version_before_an_undated_one_is_not_a_disagreement()
    {
        // The file: v1 from New-EncryptionConfig (dated), v2 added by hand (undated), v2 active.
        _folder.Write(".env.crypto", FileText("v2", Version("v1", 1, created: "2025-01-14T12:34:56Z"), Version("v2", 2)));

        var checks = Check(KeyFile);

        Assert.Equal(CheckStatus.Passed, Single(checks, "VersionOrder").StatusKind);
        Assert.Contains("v1, v2", Single(checks, "VersionOrder").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_environment_only_version_created_before_the_files_versions_is_a_disagreement_too()
    {
        _folder.Write(".env.crypto", FileText("v1", Version("v1", 1, created: "2025-06-01T00:00:00Z")));
        var environment = Version("v2", 2, created: "2025-01-01T00:00:00Z").Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1].Trim('"'));

        var order = Single(Check(KeyFile, environment: environment), "VersionOrder", "v2");

        Assert.Equal(CheckStatus.Warning, order.StatusKind);
        Assert.Equal("CreatedDisagreesWithFileOrder", order.ErrorId);
    }

    [Fact]
    public void The_environment_overlay_is_checked_too()
    {
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);
        var environment = new Dictionary<string, string> { ["ENCRYPTION_SALT_HASH__v1"] = new string('0', 64) };

        var material = Single(Check(KeyFile, environment: environment), "KeyMaterial", "v1");

        Assert.Equal("SaltIntegrityCheckFailed", material.ErrorId);
    }

    [Fact]
    public void No_check_message_contains_key_material()
    {
        var badHash = Version("v2", 2);
        badHash[2] = Line("ENCRYPTION_SALT_HASH__v2", new string('a', 64));
        _folder.Write(".env.crypto", FileText("v1", Version("v1", 1), badHash));
        var secrets = new[] { Convert.ToBase64String(Bytes(32, 1)), Convert.ToBase64String(Bytes(32, 2)), Convert.ToBase64String(Bytes(16, 1002)) };

        var checks = Check(KeyFile);

        foreach (var c in checks)
            foreach (var s in secrets)
                Assert.DoesNotContain(s, c.Message);
    }
}
