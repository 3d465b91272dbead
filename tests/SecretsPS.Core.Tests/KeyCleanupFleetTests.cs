using SecretsPS.Core.Audit;
using SecretsPS.Core.Data;
using SecretsPS.Core.Tests.CleanupSupport;

namespace SecretsPS.Core.Tests;

/// <summary>
/// One key file shared by several databases (a fleet CSV piped into Remove-UnusedEncryptionKey): every target is counted in
/// its own database, a version is removed exactly when no database uses it, and a database that cannot be read keeps every
/// version while the others are still counted.
/// </summary>
public sealed class KeyCleanupFleetTests : IDisposable
{
    private static readonly string[] Versions = { "v1", "v2", "v3", "v4" }; // v4 active; Keep = 1
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static KeyCleanupOperation Run(string key, IReadOnlyList<CleanupTarget> targets, CleanupLog log) =>
        new KeyCleanup(new KeyCleanupRequest
        {
            KeyFile = key,
            Keep = 1,
            Targets = targets,
            Environment = KeyFileFixture.NoEnvironment,
        }, log.Write).Run(_ => true);

    private static TargetDatabase Where(CleanupDatabase db) => new(db.Dialect, db.ConnectionString);

    [Fact]
    public void Over_generated_fleets_a_version_is_removed_exactly_when_no_database_of_the_targets_uses_it()
    {
        var random = new Random(15);
        for (int round = 0; round < 12; round++)
        {
            var folder = Directory.CreateDirectory(Path.Combine(_folder.Path, "round" + round)).FullName;
            var key = CleanupKeys.Create(folder, Versions);
            var used = new HashSet<string>(StringComparer.Ordinal);
            var targets = new List<CleanupTarget>();
            for (int d = 0, databases = random.Next(2, 5); d < databases; d++)
            {
                var db = CleanupDatabase.Create("Sqlite", null!, folder);
                var version = random.Next(3) == 0 ? Versions[random.Next(Versions.Length)] : "v4";
                used.Add(version);
                db.CreateTable("accounts", CleanupKeys.Protect(key, version, new[] { $"secret {round}.{d}" }));
                targets.Add(new CleanupTarget("accounts", "otp") { Database = Where(db) });
            }

            var operation = Run(key, targets, new CleanupLog());

            var expected = Versions.Where(v => v != "v4" && !used.Contains(v)).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, operation.Removed.Order(StringComparer.Ordinal));
            Assert.Equal(Versions.Except(expected).Order(StringComparer.Ordinal), CleanupKeys.Versions(key).Order(StringComparer.Ordinal));
            Assert.Equal(targets.Count, operation.Targets.Count);
            Assert.Equal(targets.Count, operation.Targets.Select(t => t.Database).Distinct().Count());
        }
    }

    [Fact]
    public void A_database_that_cannot_be_read_keeps_every_version_and_names_itself_while_the_others_are_counted()
    {
        var key = CleanupKeys.Create(_folder.Path, Versions);
        var reachable = CleanupDatabase.Create("Sqlite", null!, _folder.Path);
        reachable.CreateTable("accounts", CleanupKeys.Protect(key, "v4", new[] { "a", "b" }));
        var missing = new TargetDatabase(SqlDialect.For(DatabaseProvider.Sqlite), Path.Combine(_folder.Path, "not-there.db"));
        var log = new CleanupLog();

        var operation = Run(key, new[]
        {
            new CleanupTarget("accounts", "otp") { Database = missing },
            new CleanupTarget("accounts", "otp") { Database = Where(reachable) },
        }, log);

        Assert.Equal(CleanupOutcome.NothingToRemove, operation.OutcomeKind);
        Assert.Empty(operation.Removed);
        Assert.Equal(Versions, CleanupKeys.Versions(key));
        var unread = Assert.Single(operation.UnreadDatabases);
        Assert.Equal(missing.Description, unread.Database);
        Assert.Equal(ErrorIds.DatabaseNotFound, unread.ErrorId);
        Assert.Contains(operation.Targets, t => t.Database == Where(reachable).Description && t.RowsByVersion["v4"] == 2);
        Assert.False(File.Exists(Path.Combine(_folder.Path, "not-there.db")), "a missing SQLite file is never created");
    }
}
