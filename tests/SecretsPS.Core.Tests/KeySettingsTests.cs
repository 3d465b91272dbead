using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §1 and §2: the key file with the environment laid over it, checked into a key ring.</summary>
public class KeySettingsTests
{
    private static KeySettings Settings(string text, IReadOnlyDictionary<string, string>? environment = null) =>
        KeySettings.From(KeyFileDocument.Parse(text), environment ?? NoEnvironment);

    private static SecretsPSException BuildFails(string text, IReadOnlyDictionary<string, string>? environment = null) =>
        Assert.ThrowsAny<SecretsPSException>(() => Settings(text, environment).BuildKeyRing("test.env").Dispose());

    [Fact]
    public void A_valid_file_builds_a_ring_with_every_version_and_the_active_one()
    {
        using var ring = Settings(FileText("v2", Version("v1", 1), Version("v2", 2))).BuildKeyRing();

        Assert.Equal(new[] { "v1", "v2" }, ring.Versions.Select(v => v.Name));
        Assert.Equal("v2", ring.Active.Name);
        Assert.All(ring.Versions, v => Assert.Equal(KeySource.File, v.Source));
    }

    [Fact]
    public void The_environment_overrides_the_file_and_marks_the_version_as_coming_from_the_environment()
    {
        var fromEnvironment = Version("v1", seed: 9);
        var environment = new Dictionary<string, string>
        {
            ["ENCRYPTION_KEYS__v1"] = Value(fromEnvironment[0]),
            ["ENCRYPTION_SALT__v1"] = Value(fromEnvironment[1]),
            ["ENCRYPTION_SALT_HASH__v1"] = Value(fromEnvironment[2]),
        };

        var settings = Settings(FileText("v1", Version("v1", seed: 1)), environment);

        var v1 = Assert.Single(settings.Versions);
        Assert.Equal(Value(fromEnvironment[0]), v1.Key);
        Assert.Equal(Value(fromEnvironment[1]), v1.Salt);
        Assert.Equal(KeySource.Environment, v1.Source);

        // The ring uses the environment's key: a value protected with it opens with a ring built from it alone.
        using var ring = settings.BuildKeyRing();
        using var environmentOnly = Settings(FileText("v1", fromEnvironment)).BuildKeyRing();
        Assert.Equal("x", environmentOnly.UnprotectToString(ring.Protect("x")));
        Assert.Equal(KeySource.Environment, ring.Get("v1").Source);
    }

    [Fact]
    public void The_environment_can_name_the_active_version()
    {
        var environment = new Dictionary<string, string> { ["ACTIVE_ENCRYPTION_VERSION"] = "v1" };

        var settings = Settings(FileText("v2", Version("v1", 1), Version("v2", 2)), environment);

        Assert.Equal("v1", settings.ActiveVersion);
        Assert.Equal(KeySource.Environment, settings.ActiveSource);
        Assert.Equal(KeySource.File, Settings(FileText("v2", Version("v1", 1), Version("v2", 2))).ActiveSource);
    }

    [Fact]
    public void A_version_only_in_the_environment_is_added_after_the_file_versions()
    {
        var environment = Version("v2", seed: 2).ToDictionary(Name, Value);
        environment["PATH"] = "/usr/bin"; // not the key file's: ignored
        environment["ACTIVE_ENCRYPTION_VERSION"] = "v2";

        var settings = Settings(FileText("v1", Version("v1", 1)), environment);

        Assert.Equal(new[] { "v1", "v2" }, settings.Versions.Select(v => v.Name));
        Assert.Equal(KeySource.Environment, settings.Versions[1].Source);
        Assert.Equal(1, settings.Versions[1].Order);
        using var ring = settings.BuildKeyRing();
        Assert.Equal("v2", ring.Active.Name);
        Assert.StartsWith("v2:", ring.Protect("x"));
    }

    [Fact]
    public void ProcessEnvironment_takes_only_the_key_file_names()
    {
        var environment = KeySettings.ProcessEnvironment();

        Assert.All(environment.Keys, name =>
            Assert.True(name == "ACTIVE_ENCRYPTION_VERSION" || KeyFileNames.TrySplit(name, out _, out _), name));
        Assert.DoesNotContain("PATH", environment.Keys);
    }

    [Fact]
    public void A_name_assigned_twice_in_the_file_is_reported_and_refused()
    {
        var text = FileText("v1", Version("v1", 1)) + Version("v1", 2)[0] + "\n";

        var settings = Settings(text);

        Assert.Equal(new[] { "ENCRYPTION_KEYS__v1" }, settings.NamesDefinedTwice);
        var e = Assert.Throws<KeyFileException>(() => settings.BuildKeyRing());
        Assert.Equal("VersionDefinedTwice", e.ErrorId);
        Assert.Equal("v1", e.Target);
    }

    [Fact]
    public void A_name_set_in_the_file_and_in_the_environment_is_not_defined_twice()
    {
        var environment = new Dictionary<string, string> { ["ENCRYPTION_KDF__v1"] = "hkdf-sha256" };

        var settings = Settings(FileText("v1", Version("v1", 1)), environment);

        Assert.Empty(settings.NamesDefinedTwice);
    }

    public static TheoryData<string, string, string?> BadFiles()
    {
        var good = Version("v1", 1);
        List<string> With(int index, string line) { var l = good.ToList(); l[index] = line; return l; }
        List<string> Without(int index) { var l = good.ToList(); l.RemoveAt(index); return l; }
        var shortSalt = Bytes(7, 5);
        var longName = new string('a', 33);

        return new TheoryData<string, string, string?>
        {
            { "ActiveVersionMissing", Text(good), "test.env" },
            { "ActiveVersionMissing", Text(new[] { Active("  ") }.Concat(good)), "test.env" },
            { "ActiveVersionNotDefined", FileText("v9", good), "v9" },
            { "VersionDefinedTwice", FileText("v1", good, Version("v1", 2).Take(1)), "v1" },
            { "VersionNameInvalid", FileText("v 1", good), null },
            { "VersionNameInvalid", FileText("v1", good, Version(longName, 2)), null },
            { "VersionNameInvalid", FileText("v1", good, Version("-v2", 2)), null },
            { "KeyNotBase64", FileText("v1", With(0, Line("ENCRYPTION_KEYS__v1", "not*base64!"))), "v1" },
            { "KeyNotBase64", FileText("v1", With(0, Line("ENCRYPTION_KEYS__v1", "AAAAA"))), "v1" },
            { "KeyTooShort", FileText("v1", Version("v1", 1, keyBytes: 15)), "v1" },
            { "SaltNotBase64", FileText("v1", With(1, Line("ENCRYPTION_SALT__v1", "%%%"))), "v1" },
            {
                "SaltTooShort",
                FileText("v1", With(1, Line("ENCRYPTION_SALT__v1", Convert.ToBase64String(shortSalt))).Select(l =>
                    l.StartsWith("ENCRYPTION_SALT_HASH__") ? Line("ENCRYPTION_SALT_HASH__v1", Sha256Hex(shortSalt)) : l)),
                "v1"
            },
            { "SaltIntegrityCheckFailed", FileText("v1", With(2, Line("ENCRYPTION_SALT_HASH__v1", Sha256Hex(Bytes(16, 77))))), "v1" },
            { "SaltIntegrityCheckFailed", FileText("v1", With(1, Line("ENCRYPTION_SALT__v1", Convert.ToBase64String(Bytes(16, 77))))), "v1" },
            { "KdfUnknown", FileText("v1", With(3, Line("ENCRYPTION_KDF__v1", "scrypt"))), null },
            { "KdfInvalid", FileText("v1", With(3, Line("ENCRYPTION_KDF__v1", "pbkdf2-sha256:999"))), null },
            { "RawKeyLength", FileText("v1", Version("v1", 1, keyBytes: 16, kdf: "raw")), "v1" },
            { "RawKeyLength", FileText("v1", Version("v1", 1, keyBytes: 33, kdf: "raw")), "v1" },
            { "KeyMissing", FileText("v1", Without(0)), "v1" },
            { "KeyMissing", FileText("v1", With(0, Line("ENCRYPTION_KEYS__v1", " "))), "v1" },
            { "SaltMissing", FileText("v1", Without(1)), "v1" },
            { "SaltHashMissing", FileText("v1", Without(2)), "v1" },
            { "CreatedInvalid", FileText("v1", Version("v1", 1, created: "yesterday")), "v1" },
        };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Each_bad_input_fails_with_its_own_error_id(string errorId, string text, string? target)
    {
        var e = BuildFails(text);

        Assert.Equal(errorId, e.ErrorId);
        if (target is not null) Assert.Equal(target, e.Target);
        Assert.DoesNotContain(Convert.ToBase64String(Bytes(32, 1)), e.Message);
    }

    [Fact]
    public void A_broken_version_that_is_not_active_still_stops_the_ring()
    {
        var broken = Version("v1", 1);
        broken[2] = Line("ENCRYPTION_SALT_HASH__v1", new string('0', 64));

        var e = BuildFails(FileText("v2", broken, Version("v2", 2)));

        Assert.Equal("SaltIntegrityCheckFailed", e.ErrorId);
        Assert.Equal(ErrorKind.SecurityError, e.Kind);
        Assert.Contains("Salt integrity check failed", e.Message);
    }

    [Fact]
    public void A_bad_value_in_the_environment_is_reported_like_a_bad_value_in_the_file()
    {
        var environment = new Dictionary<string, string> { ["ENCRYPTION_SALT_HASH__v1"] = new string('f', 64) };

        var e = BuildFails(FileText("v1", Version("v1", 1)), environment);

        Assert.Equal("SaltIntegrityCheckFailed", e.ErrorId);
    }

    [Fact]
    public void The_salt_hash_may_be_upper_case_hex()
    {
        var lines = Version("v1", 1);
        lines[2] = Line("ENCRYPTION_SALT_HASH__v1", Sha256Hex(Bytes(16, 1001)).ToUpperInvariant());

        using var ring = Settings(FileText("v1", lines)).BuildKeyRing();

        Assert.Equal("v1", ring.Active.Name);
    }

    [Fact]
    public void Key_and_salt_written_as_base64url_without_padding_are_accepted()
    {
        // Bytes whose standard base64 holds '+' and '/' and needs padding.
        var key = Enumerable.Range(0, 32).Select(i => (byte)(i % 2 == 0 ? 0xFB : 0xFF)).ToArray();
        var salt = Enumerable.Repeat((byte)0xFE, 17).ToArray();
        string standardKey = Convert.ToBase64String(key), standardSalt = Convert.ToBase64String(salt);
        Assert.Contains('+', standardKey);
        Assert.Contains('/', standardKey);
        Assert.EndsWith("=", standardKey);
        static string Url(string s) => s.TrimEnd('=').Replace('+', '-').Replace('/', '_');

        var standard = FileText("v1", new[]
        {
            Line("ENCRYPTION_KEYS__v1", standardKey), Line("ENCRYPTION_SALT__v1", standardSalt), Line("ENCRYPTION_SALT_HASH__v1", Sha256Hex(salt)),
        });
        var url = FileText("v1", new[]
        {
            Line("ENCRYPTION_KEYS__v1", Url(standardKey)), Line("ENCRYPTION_SALT__v1", Url(standardSalt)), Line("ENCRYPTION_SALT_HASH__v1", Sha256Hex(salt)),
        });

        using var fromStandard = Settings(standard).BuildKeyRing();
        using var fromUrl = Settings(url).BuildKeyRing();

        Assert.Equal(32, fromUrl.Active.KeyLength);
        Assert.Equal(17, fromUrl.Active.SaltLength);
        Assert.Equal("same key", fromUrl.UnprotectToString(fromStandard.Protect("same key")));
    }

    [Fact]
    public void Versions_are_ordered_by_file_order_even_when_their_creation_times_disagree()
    {
        // FORMATS.md §1: the file order wins over ENCRYPTION_CREATED__ (Test-EncryptionConfig warns about the disagreement).
        // This test used to assert the opposite (v1, v2, v3 by creation time); that order is what the rule forbids.
        var text = FileText("v1",
            Version("v3", 3, created: "2025-03-01T00:00:00Z"),
            Version("v1", 1, created: "2025-01-01T00:00:00Z"),
            Version("v2", 2, created: "2025-02-01T00:00:00Z"));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { "v3", "v1", "v2" }, ring.Versions.Select(v => v.Name));
        Assert.Equal(new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero), ring.Versions[0].Created);
    }

    [Fact]
    public void Versions_without_a_creation_time_keep_the_order_they_first_appear_in_the_file()
    {
        var text = FileText("b", Version("zeta", 1), Version("b", 2), Version("alpha", 3));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { "zeta", "b", "alpha" }, ring.Versions.Select(v => v.Name));
    }

    [Fact]
    public void Versions_created_at_the_same_time_keep_the_file_order()
    {
        const string same = "2025-01-14T12:34:56Z";
        var text = FileText("b", Version("zeta", 1, created: same), Version("b", 2, created: same), Version("alpha", 3, created: same));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { "zeta", "b", "alpha" }, ring.Versions.Select(v => v.Name));
    }

    [Fact]
    public void The_first_appearance_of_any_of_a_versions_lines_sets_its_file_order()
    {
        var v1 = Version("v1", 1);
        var v2 = Version("v2", 2);
        // v2's KDF line comes first, before any line of v1.
        var text = Text(new[] { Active("v1"), v2[3] }.Concat(v1).Concat(v2.Take(3)));

        var settings = Settings(text);

        Assert.Equal(new[] { "v2", "v1" }, settings.Versions.Select(v => v.Name));
    }

    private static string Name(string line) => line[..line.IndexOf('=')];

    private static string Value(string line) => line[(line.IndexOf('=') + 2)..^1];
}
