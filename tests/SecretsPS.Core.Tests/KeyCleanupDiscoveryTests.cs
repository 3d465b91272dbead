using SecretsPS.Core.Audit;
using SecretsPS.Core.Config;
using SecretsPS.Core.Tests.CleanupSupport;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The cleanup that cannot miss a column: with targets named by hand, KeyCleanup searches every other text column and keeps
/// a candidate that an unnamed column holds, naming it (the issue's api_tokens.secret beside usuarios._otp_secret); a search
/// that could not finish keeps every candidate; -SkipDiscovery turns it off and is in the journal.
/// </summary>
[Collection("postgres")]
public sealed class KeyCleanupDiscoveryTests : IDisposable
{
    private readonly PostgresServer _server;
    private readonly ITestOutputHelper _output;
    private readonly TempFolder _folder = new();

    public KeyCleanupDiscoveryTests(PostgresServer server, ITestOutputHelper output)
    {
        _server = server;
        _output = output;
    }

    public void Dispose() => _folder.Dispose();

    private bool Unavailable(string provider)
    {
        if (provider != "PostgreSql" || _server.Available) return false;
        _output.WriteLine($"PostgreSQL case not run: {_server.Reason}");
        return true;
    }

    /// <summary>v1..v3 (v3 active): usuarios.otp all at v3, the forgotten api_tokens.secret still at v1.</summary>
    private (string Key, CleanupDatabase Db) IssueDatabase(string provider)
    {
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("usuarios", CleanupKeys.Protect(key, "v3", new[] { "otp a", "otp b" }), column: "_otp_secret");
        db.CreateTable("api_tokens", CleanupKeys.Protect(key, "v1", new[] { "token a", "token b", "token c" }), column: "secret");
        return (key, db);
    }

    private static KeyCleanup Cleanup(string key, CleanupLog log, CleanupDatabase db, params CleanupTarget[] targets) =>
        Cleanup(key, log, db, skipDiscovery: false, timeLimit: null, targets);

    private static KeyCleanup Cleanup(string key, CleanupLog log, CleanupDatabase db, bool skipDiscovery, TimeSpan? timeLimit, params CleanupTarget[] targets) =>
        new(new KeyCleanupRequest
        {
            KeyFile = key,
            Keep = 1,
            Targets = targets,
            Dialect = db.Dialect,
            ConnectionString = db.ConnectionString,
            Environment = KeyFileFixture.NoEnvironment,
            SkipDiscovery = skipDiscovery,
            DiscoveryTimeLimit = timeLimit ?? TimeSpan.FromMinutes(2),
        }, log.Write);

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void The_forgotten_api_tokens_secret_keeps_v1_and_is_named_while_unused_v2_goes(string provider)
    {
        if (Unavailable(provider)) return;
        var (key, db) = IssueDatabase(provider);
        var log = new CleanupLog();

        var op = Cleanup(key, log, db, new CleanupTarget("usuarios", "_otp_secret")).Run(_ => true);

        Assert.Equal(CleanupOutcome.Succeeded, op.OutcomeKind);
        Assert.Equal(new[] { "v2" }, op.Removed);
        var kept = Assert.Single(op.Kept, k => k.Version == "v1");
        Assert.Contains("api_tokens.secret", kept.Reason);
        Assert.Equal(new[] { "v1", "v3" }, CleanupKeys.Versions(key));
        var forgotten = Assert.Single(op.Discovered, d => !d.Named);
        Assert.Equal(("api_tokens", "secret", 3L), (forgotten.Table, forgotten.Column, forgotten.RowsByVersion["v1"]));
        Assert.Contains(op.Discovered, d => d.Named && d.Target == "usuarios._otp_secret");
        Assert.False(op.DiscoverySkipped);
        // The journal keeps what the search found.
        var journaled = Assert.Single(CleanupJournal.Read(key, out _));
        Assert.Contains(journaled.Discovered, d => d.Target == "api_tokens.secret" && !d.Named);
        Assert.Contains(log.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("Version v1 kept") && m.Text.Contains("api_tokens.secret"));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void Naming_every_column_that_holds_values_removes_what_none_of_them_uses(string provider)
    {
        if (Unavailable(provider)) return;
        var (key, db) = IssueDatabase(provider);
        db.CreateTable("decoys", new[] { "a:b", "v1:notatoken", "{\"v1\": 1}" }, column: "note");

        var op = Cleanup(key, new CleanupLog(), db, new CleanupTarget("usuarios", "_otp_secret"), new CleanupTarget("api_tokens", "secret")).Run(_ => true);

        Assert.Equal(new[] { "v2" }, op.Removed);
        Assert.Contains(op.Kept, k => k.Version == "v1" && k.Reason.StartsWith("still used by 3 row(s) of api_tokens.secret"));
        Assert.All(op.Discovered, d => Assert.True(d.Named));
        Assert.DoesNotContain(op.Discovered, d => d.Table == "decoys");
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void SkipDiscovery_checks_only_the_named_targets_and_the_journal_says_so(string provider)
    {
        if (Unavailable(provider)) return;
        var (key, db) = IssueDatabase(provider);
        var log = new CleanupLog();

        // The operator's own choice: the forgotten column's v1 goes (the sample decryption checks only the named target).
        var op = Cleanup(key, log, db, skipDiscovery: true, timeLimit: null, new CleanupTarget("usuarios", "_otp_secret")).Run(_ => true);

        Assert.Equal(new[] { "v1", "v2" }, op.Removed.Order());
        Assert.True(op.DiscoverySkipped);
        Assert.Empty(op.Discovered);
        Assert.True(Assert.Single(CleanupJournal.Read(key, out _)).DiscoverySkipped);
        Assert.Contains(log.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("-SkipDiscovery"));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void A_search_that_could_not_finish_keeps_every_candidate_and_names_what_it_did_not_read(string provider)
    {
        if (Unavailable(provider)) return;
        var (key, db) = IssueDatabase(provider);

        var op = Cleanup(key, new CleanupLog(), db, skipDiscovery: false, timeLimit: TimeSpan.Zero, new CleanupTarget("usuarios", "_otp_secret")).Run(_ => true);

        Assert.Equal(CleanupOutcome.NothingToRemove, op.OutcomeKind);
        Assert.Empty(op.Removed);
        Assert.Contains("api_tokens.secret", op.NotSearched);
        Assert.Contains(op.Kept, k => k.Version == "v2" && k.Reason.Contains("-SkipDiscovery"));
        Assert.Equal(new[] { "v1", "v2", "v3" }, CleanupKeys.Versions(key));
    }

    [Fact]
    public void A_target_named_with_its_schema_or_without_it_in_the_default_schema_covers_the_column_found_there()
    {
        if (Unavailable("PostgreSql")) return;
        var (key, db) = IssueDatabase("PostgreSql");
        db.Execute("CREATE SCHEMA app");
        db.Execute("CREATE TABLE app.usuarios (id bigint PRIMARY KEY, _otp_secret text)");
        using (var config = KeyConfiguration.Load(key, KeyFileFixture.NoEnvironment))
            db.Execute($"INSERT INTO app.usuarios VALUES (1, '{config.Ring.Protect("x", "v2")}')");

        // public.usuarios named without a schema does not cover app.usuarios, whose v2 is then kept and named.
        var op = Cleanup(key, new CleanupLog(), db, new CleanupTarget("usuarios", "_otp_secret"), new CleanupTarget("api_tokens", "secret")).Run(_ => false);
        Assert.Contains(op.Kept, k => k.Version == "v2" && k.Reason.Contains("app.usuarios._otp_secret"));

        var named = Cleanup(key, new CleanupLog(), db, new CleanupTarget("public.usuarios", "_otp_secret"), new CleanupTarget("app.usuarios", "_otp_secret"),
            new CleanupTarget("api_tokens", "secret")).Run(_ => false);
        Assert.All(named.Discovered, d => Assert.True(d.Named, d.Target));
        Assert.Contains(named.Kept, k => k.Version == "v2" && k.Reason.StartsWith("still used by 1 row(s) of app.usuarios._otp_secret"));
    }
}
