using CsCheck;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A connection string given without -Provider: a path or SQLite's own keywords are SQLite, Host= (or Server= with
/// Port=5432) is PostgreSQL, anything else is ProviderRequired naming -Provider, never a guess and never the string
/// itself (it may hold a password) in the message.
/// </summary>
public sealed class ProviderInferenceTests
{
    [Theory]
    [InlineData("/var/lib/app/app.db", DatabaseProvider.Sqlite)]
    [InlineData("app.db", DatabaseProvider.Sqlite)]
    [InlineData(@"C:\data\app.db", DatabaseProvider.Sqlite)]
    [InlineData("Data Source=app.db", DatabaseProvider.Sqlite)]
    [InlineData("Data Source=app.db;Mode=ReadOnly;Cache=Shared;Foreign Keys=True", DatabaseProvider.Sqlite)]
    [InlineData("Filename=app.db;Password=x", DatabaseProvider.Sqlite)]
    [InlineData("Host=db.example.com;Database=app", DatabaseProvider.PostgreSql)]
    [InlineData("host=127.0.0.1;port=6432;database=app;ssl mode=VerifyFull", DatabaseProvider.PostgreSql)]
    [InlineData("Server=db.example.com;Port=5432;Database=app", DatabaseProvider.PostgreSql)]
    [InlineData("Server=db.example.com; Port = 5432 ;Database=app", DatabaseProvider.PostgreSql)]
    public void A_string_that_tells_its_database_is_read_as_that_database(string connectionString, DatabaseProvider expected) =>
        Assert.Equal(expected, ProviderInference.Infer(connectionString));

    [Theory]
    [InlineData("Server=db.example.com;Database=app")]
    [InlineData("Server=tcp:app.database.windows.net,1433;Initial Catalog=app;Authentication=Active Directory Default")]
    [InlineData("Data Source=sqlhost;Initial Catalog=app;Integrated Security=true")]
    [InlineData("Server=db.example.com;Port=3306;Database=app")]
    [InlineData("Server=db.example.com;Port=6432;Database=app")]
    [InlineData("Database=app")]
    [InlineData("Password=hunter2-hunter2;=;;\"")]
    public void A_string_that_does_not_tell_is_ProviderRequired_naming_Provider_and_every_provider(string connectionString)
    {
        var error = Assert.Throws<SecretsPSException>(() => ProviderInference.Infer(connectionString));

        Assert.Equal(ErrorIds.ProviderRequired, error.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("-Provider", error.Message, StringComparison.Ordinal);
        foreach (var name in Enum.GetNames<DatabaseProvider>()) Assert.Contains(name, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Any_string_gives_a_provider_or_ProviderRequired_without_the_string_and_a_Host_key_is_always_PostgreSql()
    {
        var part = Gen.OneOf(
            Gen.OneOfConst("Host", "Server", "Port", "Data Source", "Database", "Password", "Mode", "Initial Catalog", "SSL Mode", "Username", "host", " Host "),
            Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz =;\"'"], 1, 12]);
        var value = Gen.OneOf(Gen.OneOfConst("5432", "3306", "app.db", "db.example.com", "secret-pw-98765"), Gen.String[Gen.Char["abc=;\"' 0123456789"], 0, 10]);
        var pairs = Gen.Select(part, value, (k, v) => $"{k}={v}").Array[0, 6].Select(a => string.Join(";", a));
        Gen.OneOf(pairs, Gen.String).Sample(text =>
        {
            DatabaseProvider? provider = null;
            try { provider = ProviderInference.Infer(text); }
            catch (SecretsPSException e)
            {
                Assert.Equal(ErrorIds.ProviderRequired, e.ErrorId);
                Assert.DoesNotContain("secret-pw-98765", e.Message, StringComparison.Ordinal);
            }
            if (!text.Contains('=')) Assert.Equal(DatabaseProvider.Sqlite, provider);
            bool hasHost;
            try
            {
                var builder = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = text };
                hasHost = builder.Keys.Cast<string>().Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals("host", StringComparison.OrdinalIgnoreCase));
            }
            catch (ArgumentException) { hasHost = false; }
            if (hasHost) Assert.Equal(DatabaseProvider.PostgreSql, provider);
        }, iter: 5000);
    }
}

/// <summary>The keywords ProviderInference takes for SQLite's are exactly the ones Microsoft.Data.Sqlite accepts (a new one would otherwise make a valid SQLite string ProviderRequired).</summary>
public sealed class ProviderInferenceSqliteKeywordTests
{
    [Fact]
    public void Every_keyword_Microsoft_Data_Sqlite_accepts_keeps_a_Data_Source_string_SQLite()
    {
        var builder = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder();
        var keywords = builder.Keys.Cast<string>().ToList();
        Assert.Contains("Data Source", keywords);
        foreach (var keyword in keywords)
        {
            var text = $"Data Source=app.db;{keyword}={(keyword == "Data Source" ? "app.db" : "1")}";
            Assert.Equal(DatabaseProvider.Sqlite, ProviderInference.Infer(text));
        }
    }
}
