using CsCheck;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>
/// FORMATS.md §1, the age order of versions, for every reader: the order of first appearance in the file (environment-only
/// versions after the file's, in natural name order) is the order; ENCRYPTION_CREATED__ never moves a version and only feeds
/// Test-EncryptionConfig's warning when it disagrees; a version whose place is unknown is never the oldest.
/// </summary>
public sealed class VersionOrderTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly TempFolder _folder = new();

    public VersionOrderTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    private static KeySettings Settings(string text, IReadOnlyDictionary<string, string>? environment = null) =>
        KeySettings.From(KeyFileDocument.Parse(text), environment ?? NoEnvironment);

    private static Dictionary<string, string> Environment(params IEnumerable<string>[] versions) =>
        versions.SelectMany(v => v).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1].Trim('"'));

    /// <summary>The file New-EncryptionConfig writes (v1 with its creation time) with a v2 added by hand, as the original CLI writes it (no creation time), made active.</summary>
    private string IssueExampleFile(string name = ".env.crypto")
    {
        var path = _folder.File(name);
        KeyFileOperations.Create(path, "v1", 32, 16, null, overwrite: false, new DateTimeOffset(2025, 1, 14, 12, 34, 56, TimeSpan.Zero));
        var text = File.ReadAllText(path).Replace("ACTIVE_ENCRYPTION_VERSION=\"v1\"", "ACTIVE_ENCRYPTION_VERSION=\"v2\"", StringComparison.Ordinal);
        Assert.Contains("ENCRYPTION_CREATED__v1=", text, StringComparison.Ordinal);
        File.WriteAllText(path, text + "\n" + Text(Version("v2", seed: 2)));
        return path;
    }

    // ------------------------------------------------------------------ the key ring

    [Fact]
    public void A_version_added_without_a_creation_time_after_one_with_it_is_the_newer_and_the_ring_knows_it()
    {
        using var config = KeyConfiguration.Load(IssueExampleFile(), NoEnvironment);
        var ring = config.Ring;

        Assert.Equal(new[] { "v1", "v2" }, ring.Versions.Select(v => v.Name));
        Assert.Equal("v2", ring.Active.Name);
        Assert.True(ring.IsOlder("v1", "v2"));
        Assert.False(ring.IsOlder("v2", "v1"));
    }

    [Fact]
    public void In_that_file_a_value_at_v1_is_reencrypted_to_the_active_v2_not_reported_already_at_v2()
    {
        // The data-loss bug: v1 (dated) was taken as newer than v2 (undated), so every v1 row was "already at v2" and
        // a later cleanup would remove the key that still reads them.
        using var config = KeyConfiguration.Load(IssueExampleFile(), NoEnvironment);
        var ring = config.Ring;
        var atV1 = ring.Protect("secret", "v1");

        var outcome = new ValueTransformer(ring, ring.Get("v2"), encryptPlaintext: false, maxLength: null)
            .Transform(atV1, out var moved, out var reason);

        Assert.Null(reason);
        Assert.Equal(RowOutcome.Reencrypted, outcome);
        Assert.StartsWith("v2:", moved);
        Assert.Equal("secret", ring.UnprotectToString(moved));
    }

    [Fact]
    public void A_file_from_the_original_CLI_without_any_creation_time_is_in_file_order()
    {
        // Names that sort otherwise (by name v10 < v2 ordinally, v2 < v10 naturally): only the file order counts.
        var text = FileText("v10", Version("v2", 2), Version("v10", 10), Version("v3", 3));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { "v2", "v10", "v3" }, ring.Versions.Select(v => v.Name));
        Assert.True(ring.IsOlder("v10", "v3"));
        Assert.Empty(VersionOrder.Disagreements(ring.Versions));
    }

    [Fact]
    public void A_version_with_a_creation_time_never_moves_before_one_that_appears_earlier_without_one()
    {
        var text = FileText("v3", Version("v1", 1), Version("v2", 2, created: "2001-01-01T00:00:00Z"), Version("v3", 3));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { "v1", "v2", "v3" }, ring.Versions.Select(v => v.Name));
    }

    [Fact]
    public void When_creation_times_disagree_with_the_file_order_the_file_order_wins_and_the_pair_is_reported()
    {
        var text = FileText("v2",
            Version("v1", 1, created: "2025-06-01T00:00:00Z"),
            Version("v2", 2, created: "2025-01-01T00:00:00Z"));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { "v1", "v2" }, ring.Versions.Select(v => v.Name));
        var d = Assert.Single(VersionOrder.Disagreements(ring.Versions));
        Assert.Equal(("v1", "v2"), (d.Earlier, d.Later));
        Assert.Equal(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero), d.EarlierCreated);
        Assert.Equal(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero), d.LaterCreated);
    }

    [Fact]
    public void Each_version_whose_creation_time_contradicts_an_earlier_one_is_reported_once_with_the_earlier_created_last()
    {
        var text = FileText("v4",
            Version("v1", 1, created: "2025-02-01T00:00:00Z"),
            Version("v2", 2, created: "2025-03-01T00:00:00Z"),
            Version("v3", 3, created: "2025-01-01T00:00:00Z"),
            Version("v4", 4),
            Version("v5", 5, created: "2025-04-01T00:00:00Z"));

        using var ring = Settings(text).BuildKeyRing();

        Assert.Equal(new[] { ("v2", "v3") }, VersionOrder.Disagreements(ring.Versions).Select(d => (d.Earlier, d.Later)));
    }

    [Fact]
    public void A_version_whose_place_is_unknown_is_never_the_oldest()
    {
        using var generated = KeyVersion.Generate("v0", 32, 16, KeyDerivation.HkdfSha256, new DateTimeOffset(1990, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var v1 = KeyVersion.FromText("v1", Value(Version("v1", 1)[0]), Value(Version("v1", 1)[1]), Value(Version("v1", 1)[2]), null, null, KeySource.File, 0);

        using var ring = new KeyRing(new[] { generated, v1 }, "v1");

        Assert.Equal(VersionOrder.UnknownPlace, generated.Order);
        Assert.Equal(new[] { "v1", "v0" }, ring.Versions.Select(v => v.Name));
        Assert.False(ring.IsOlder("v0", "v1"));
    }

    [Fact]
    public void IsOlder_with_a_version_the_ring_does_not_hold_fails_with_KeyVersionNotFound()
    {
        using var ring = Settings(FileText("v1", Version("v1", 1))).BuildKeyRing();

        Assert.Throws<KeyVersionNotFoundException>(() => ring.IsOlder("v9", "v1"));
    }

    // ------------------------------------------------------------------ the environment

    [Fact]
    public void Versions_only_in_the_environment_come_after_the_files_in_natural_name_order_v9_before_v10()
    {
        // Ordinally v10 < v2 < v9, and ENCRYPTION_CREATED__v10 sorts before ENCRYPTION_KEYS__v9: neither may decide.
        var environment = Environment(
            Version("v10", 10, created: "2020-01-01T00:00:00Z"),
            Version("v9", 9),
            Version("v2-prod", 2));

        var settings = Settings(FileText("v1", Version("v1", 1)), environment);
        using var ring = settings.BuildKeyRing();

        Assert.Equal(new[] { "v1", "v2-prod", "v9", "v10" }, settings.Versions.Select(v => v.Name));
        Assert.Equal(new[] { 0, 1, 2, 3 }, settings.Versions.Select(v => v.Order));
        Assert.Equal(new[] { "v1", "v2-prod", "v9", "v10" }, ring.Versions.Select(v => v.Name));
    }

    [Fact]
    public void A_version_in_the_file_and_overridden_by_the_environment_keeps_its_place_in_the_file()
    {
        var environment = Environment(Version("v1", 9), Version("v0", 7));

        var settings = Settings(FileText("v2", Version("v1", 1), Version("v2", 2)), environment);

        Assert.Equal(new[] { "v1", "v2", "v0" }, settings.Versions.Select(v => v.Name));
        Assert.Equal(KeySource.Environment, settings.Versions[0].Source);
    }

    [Theory]
    [InlineData("v9", "v10")]
    [InlineData("v2", "v10")]
    [InlineData("v2-prod", "v10-prod")]
    [InlineData("v1.9", "v1.10")]
    [InlineData("v1", "v1a")]
    [InlineData("a", "b")]
    [InlineData("V1", "v1")] // case-sensitive, ordinal outside the numbers
    [InlineData("v01", "v1")] // equal numbers: the ordinal order decides, so the order is total
    [InlineData("v99999999999999999999999", "v100000000000000000000000")] // numbers beyond any integer type
    public void The_natural_name_order_compares_numbers_by_value(string first, string second)
    {
        Assert.True(VersionOrder.NameComparer.Compare(first, second) < 0, $"{first} < {second}");
        Assert.True(VersionOrder.NameComparer.Compare(second, first) > 0, $"{second} > {first}");
        Assert.Equal(0, VersionOrder.NameComparer.Compare(first, first));
    }

    // ------------------------------------------------------------------ the listing (Get-EncryptionKey)

    [Fact]
    public void The_listing_is_in_the_same_order_as_the_ring_broken_versions_included()
    {
        var broken = Version("v2", 2);
        broken.RemoveAt(1); // no salt
        var text = FileText("v3",
            Version("v1", 1, created: "2025-06-01T00:00:00Z"),
            broken,
            Version("v3", 3));
        var path = _folder.Write(".env.crypto", text);

        var listed = KeyVersionListing.Read(path, NoEnvironment, out var problems);

        Assert.Equal(new[] { "v1", "v2", "v3" }, listed.Select(v => v.Version));
        Assert.Equal("SaltMissing", Assert.Single(problems).ErrorId);

        using var config = KeyConfiguration.Load(IssueExampleFile("issue.env.crypto"), NoEnvironment);
        Assert.Equal(config.Ring.Versions.Select(v => v.Name), KeyVersionListing.Read(config.Path, NoEnvironment, out _).Select(v => v.Version));
    }

    // ------------------------------------------------------------------ property

    /// <summary>One generated case: file versions (each with or without a creation time) in file order, and environment-only version numbers.</summary>
    public sealed record Case(IReadOnlyList<(int Number, DateTimeOffset? Created)> File, IReadOnlyList<(int Number, DateTimeOffset? Created)> EnvironmentOnly)
    {
        public override string ToString() =>
            "file: " + string.Join(", ", File.Select(Show)) + " | env: " + string.Join(", ", EnvironmentOnly.Select(Show));

        private static string Show((int Number, DateTimeOffset? Created) v) =>
            $"v{v.Number}" + (v.Created is { } c ? "@" + KeyVersion.FormatTime(c) : "");
    }

    private static readonly Gen<DateTimeOffset?> CreatedGen = Gen.Frequency(
        (1, Gen.Const((DateTimeOffset?)null)),
        (2, Gen.Int[0, 40].Select(d => (DateTimeOffset?)new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero).AddDays(d))));

    private static readonly Gen<Case> CaseGen =
        Gen.Int[0, 120].HashSet[1, 9].Select(numbers => numbers.ToArray()) // distinct version numbers, random (set) order
            .SelectMany(numbers => Gen.Int[0, numbers.Length - 1].SelectMany(fileCount =>
                CreatedGen.Array[numbers.Length].SelectMany(created => Gen.Shuffle(numbers).Select(shuffled =>
                    new Case(
                        shuffled.Take(Math.Max(fileCount, 1)).Select((n, i) => (n, created[i])).ToList(),
                        shuffled.Skip(Math.Max(fileCount, 1)).Select((n, i) => (n, created[Math.Max(fileCount, 1) + i])).ToList())))));

    [Fact]
    public void Property_the_age_order_is_always_the_base_order_whatever_the_creation_times_say()
    {
        Fuzz.Property(_output, "version order", CaseGen, c =>
        {
            var file = c.File.Select((v, i) => Version($"v{v.Number}", v.Number + 1,
                created: v.Created is { } t ? KeyVersion.FormatTime(t) : null)).ToArray();
            var environment = Environment(c.EnvironmentOnly.Select(v => Version($"v{v.Number}", v.Number + 1,
                created: v.Created is { } t ? KeyVersion.FormatTime(t) : null)).ToArray());
            var settings = Settings(FileText($"v{c.File[0].Number}", file), environment);
            using var ring = settings.BuildKeyRing();

            // The base order: the file's versions as they appear, then the environment's by number (natural name order).
            var expected = c.File.Select(v => $"v{v.Number}")
                .Concat(c.EnvironmentOnly.OrderBy(v => v.Number).Select(v => $"v{v.Number}")).ToList();
            var names = ring.Versions.Select(v => v.Name).ToList();
            Assert.Equal(expected, names);

            // No version ever precedes one that appears earlier in the file.
            var filePlace = c.File.Select((v, i) => ($"v{v.Number}", i)).ToDictionary(x => x.Item1, x => x.i);
            for (int i = 0; i < names.Count; i++)
                for (int j = i + 1; j < names.Count; j++)
                {
                    Assert.True(ring.IsOlder(names[i], names[j]));
                    if (filePlace.TryGetValue(names[i], out var pi) && filePlace.TryGetValue(names[j], out var pj))
                        Assert.True(pi < pj, $"{names[i]} precedes {names[j]}, which appears earlier in the file");
                    if (filePlace.ContainsKey(names[j]))
                        Assert.True(filePlace.ContainsKey(names[i]), $"environment-only {names[i]} precedes {names[j]} of the file");
                }

            // The disagreements: exactly the versions some earlier one was created after, each paired with the latest such.
            var created = ring.Versions.Select(v => (v.Name, v.Created)).ToList();
            var expectedDisagreements = new List<(string, string)>();
            for (int j = 0; j < created.Count; j++)
            {
                if (created[j].Created is not { } cj) continue;
                var later = created.Take(j).Where(x => x.Created > cj).ToList();
                if (later.Count == 0) continue;
                var max = later.Max(x => x.Created);
                expectedDisagreements.Add((later.First(x => x.Created == max).Name, created[j].Name));
            }
            Assert.Equal(expectedDisagreements, VersionOrder.Disagreements(ring.Versions).Select(d => (d.Earlier, d.Later)));

            // The listing and the validator's order agree with the ring.
            Assert.Equal(expected, VersionOrder.OldestFirst(settings.Versions, v => v.Order).Select(v => v.Name));
        }, c => c.ToString());
    }

    private static string Value(string line) => line[(line.IndexOf('=') + 2)..^1];
}
