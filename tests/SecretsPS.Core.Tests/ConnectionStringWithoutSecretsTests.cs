using CsCheck;
using Microsoft.Data.SqlClient;
using Npgsql;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>
/// A job object carries its connection string so that the next cmdlet of a pipeline finds the database: never a
/// password or token in it, whatever the driver calls them, and every other setting kept.
/// </summary>
public sealed class ConnectionStringWithoutSecretsTests
{
    private static readonly string[] SecretKeys = { "Password", "password", "PWD", "Pwd", "Psw", "Access Token", "AccessToken", "SSL Password", "Token" };

    private static readonly Gen<string> Secret = Gen.String[Gen.Char["a-zA-Z0-9;='\" !@#"], 8, 30].Where(s => s.Trim().Length >= 8);

    [Fact]
    public void No_spelling_of_a_secret_survives_and_the_rest_is_kept()
    {
        Gen.Select(Gen.OneOfConst(SecretKeys), Secret, Gen.Int[0, 3]).Sample((key, secret, at) =>
        {
            var builder = new System.Data.Common.DbConnectionStringBuilder();
            var others = new[] { ("Host", "db01.internal"), ("Port", "5432"), ("Database", "billing"), ("Username", "ops") };
            for (int i = 0; i < others.Length; i++)
            {
                if (i == at) builder[key] = secret;
                builder[others[i].Item1] = others[i].Item2;
            }
            var cleaned = ConnectionStringWithoutSecrets.From(builder.ConnectionString);
            Assert.DoesNotContain(secret, cleaned, StringComparison.Ordinal);
            var back = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = cleaned };
            foreach (var (k, v) in others) Assert.Equal(v, back[k]);
            Assert.Equal(others.Length, back.Count);
        }, iter: 500);
    }

    [Fact]
    public void The_drivers_still_read_what_is_left()
    {
        var pg = ConnectionStringWithoutSecrets.From("Host=127.0.0.1;Port=5433;Database=app;Username=u;Password=s3cr3t;SSL Mode=Require");
        var npgsql = new NpgsqlConnectionStringBuilder(pg);
        Assert.Null(npgsql.Password);
        Assert.Equal(5433, npgsql.Port);
        Assert.Equal(SslMode.Require, npgsql.SslMode);

        var sql = ConnectionStringWithoutSecrets.From("Server=tcp:db,1433;Database=app;User ID=u;Pwd=s3cr3t;Encrypt=True");
        var sqlClient = new SqlConnectionStringBuilder(sql);
        Assert.Equal("", sqlClient.Password);
        Assert.Equal("u", sqlClient.UserID);
        Assert.DoesNotContain("s3cr3t", sql, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/srv/app/instance/app.db")]
    [InlineData("relative/app.db")]
    public void A_bare_SQLite_path_is_kept_as_it_is(string path) =>
        Assert.Equal(path, ConnectionStringWithoutSecrets.From(path));
}
