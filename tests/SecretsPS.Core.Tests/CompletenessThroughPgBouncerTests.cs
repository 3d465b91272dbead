using System.Globalization;
using Npgsql;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// <see cref="CompletenessTests"/> with the engine connected through PgBouncer in transaction mode under a session zone
/// west of UTC: the key texts' settings (DateStyle, float digits, bytea output) are set per transaction (SET LOCAL),
/// so each transaction pages exactly whichever server connection the pooler gives it; the completion count is right.
/// </summary>
[Collection("pgbouncer")]
public sealed class CompletenessThroughPgBouncerTests : CompletenessTests
{
    private readonly PgBouncerServer _pooler;

    public CompletenessThroughPgBouncerTests(PgBouncerServer pooler, ITestOutputHelper output) : base(output) => _pooler = pooler;

    internal override TestDatabase NewDatabase() => new PooledTestDatabase(_pooler);

    protected override bool Unavailable()
    {
        if (_pooler.Available) return false;
        Output.WriteLine($"NOT RUN: {_pooler.Reason}");
        return true;
    }

    internal override string EngineConnection(TestDatabase db) =>
        new NpgsqlConnectionStringBuilder(db.ConnectionString) { Timezone = "America/Sao_Paulo" }.ConnectionString;

    [Theory]
    [InlineData("timestamptz")]
    [InlineData("double precision")]
    [InlineData("numeric(38,12)")]
    [InlineData("text collate \"C\"")]
    public void A_key_type_whose_text_depends_on_session_settings_pages_exactly_through_the_pooler(string keyType)
    {
        if (Unavailable()) return;
        var start = new DateTime(2024, 11, 3, 1, 30, 0);
        string[] literals = keyType switch
        {
            "timestamptz" => Range(40, i => start.AddTicks(i * 3_600_000_0010L).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00"),
            "double precision" => Range(40, i => (0.1 * i + 1e-15 * i).ToString("R", CultureInfo.InvariantCulture)),
            "numeric(38,12)" => Range(40, i => "12345678901234567890123." + (i * 7919).ToString("000000000000", CultureInfo.InvariantCulture)),
            _ => Range(40, i => (i % 2 == 0 ? "Key " : "kEY ") + i.ToString("00", CultureInfo.InvariantCulture)),
        };
        Key_type_pages_exactly(keyType + " PRIMARY KEY", $"CAST({{0}} AS {keyType.Replace(" collate \"C\"", "")})", literals);
    }

    private static string[] Range(int n, Func<int, string> f) => Enumerable.Range(0, n).Select(f).ToArray();
}
