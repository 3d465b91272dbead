using SecretsPS.Core.Config;
using SecretsPS.Core.Data;
using SecretsPS.Core.Tests.CleanupSupport;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// ColumnStatusReader (Get-EncryptedColumnStatus) on SQLite and PostgreSQL: rows per key version, NULLs, values that
/// are not ciphertext, rows at the active version and IsComplete, all counted in the database.
/// </summary>
/// <remarks>Where the machine has no PostgreSQL binaries the PostgreSQL cases say so in their output and pass: xunit 2 cannot skip at run time.</remarks>
[Collection("postgres")]
public sealed class ColumnStatusTests : IDisposable
{
    private readonly PostgresServer _server;
    private readonly ITestOutputHelper _output;
    private readonly TempFolder _folder = new();

    public ColumnStatusTests(PostgresServer server, ITestOutputHelper output)
    {
        _server = server;
        _output = output;
    }

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void Counts_rows_per_version_NULLs_values_that_are_not_ciphertext_and_rows_at_the_active_version(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        var values = new List<string?>();
        values.AddRange(CleanupKeys.Protect(key, "v1", new[] { "a", "b", "c", "d" }));
        values.AddRange(CleanupKeys.Protect(key, "v2", new[] { "e", "f" }));
        values.AddRange(CleanupKeys.Protect(key, "v3", new[] { "g", "h", "i" }));
        values.AddRange(new string?[] { null, null, "otp-plaintext", "" });
        db.CreateTable("accounts", values);

        var status = Read(db, key, "accounts", "otp");

        Assert.Equal("accounts", status.Table);
        Assert.Equal("otp", status.Column);
        Assert.Equal("accounts.otp", status.Target);
        Assert.Equal("v3", status.ActiveVersion);
        Assert.Equal(13, status.TotalRows);
        Assert.Equal(2, status.NullRows);
        Assert.Equal(2, status.NotCiphertext);
        Assert.Equal(0, status.UnknownVersionRows);
        Assert.Equal(3, status.AtActiveVersion);
        Assert.Equal(9, status.EncryptedRows);
        Assert.Equal(new Dictionary<string, long> { ["v1"] = 4, ["v2"] = 2, ["v3"] = 3 }, status.RowsByVersion);
        Assert.Equal(4, status.RowsUsing("v1"));
        Assert.Equal(0, status.RowsUsing("v9"));
        Assert.False(status.IsComplete);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void Complete_when_every_non_NULL_value_is_at_the_active_version(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("t", CleanupKeys.Protect(key, "v2", new[] { "a", "b", "c" }).Append(null).Append(null).ToList());

        var status = Read(db, key, "t", "otp");

        Assert.True(status.IsComplete);
        Assert.Equal(5, status.TotalRows);
        Assert.Equal(2, status.NullRows);
        Assert.Equal(3, status.AtActiveVersion);
        Assert.Equal(new Dictionary<string, long> { ["v2"] = 3 }, status.RowsByVersion);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void One_row_left_at_an_older_version_makes_it_incomplete(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("t", CleanupKeys.Protect(key, "v2", new[] { "a", "b" }).Concat(CleanupKeys.Protect(key, "v1", new[] { "c" })).ToList());

        var status = Read(db, key, "t", "otp");

        Assert.False(status.IsComplete);
        Assert.Equal(1, status.RowsUsing("v1"));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void A_plaintext_value_alone_makes_it_incomplete(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("t", CleanupKeys.Protect(key, "v1", new[] { "a" }).Append("plain").ToList());

        var status = Read(db, key, "t", "otp");

        Assert.Equal(1, status.NotCiphertext);
        Assert.Equal(1, status.AtActiveVersion);
        Assert.False(status.IsComplete);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void An_empty_table_and_an_all_NULL_column_are_complete(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("empty", Array.Empty<string?>());
        db.CreateTable("nulls", new string?[] { null, null, null });

        var empty = Read(db, key, "empty", "otp");
        var nulls = Read(db, key, "nulls", "otp");

        Assert.Equal(0, empty.TotalRows);
        Assert.Empty(empty.RowsByVersion);
        Assert.True(empty.IsComplete);
        Assert.Equal(3, nulls.TotalRows);
        Assert.Equal(3, nulls.NullRows);
        Assert.True(nulls.IsComplete);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void A_value_naming_a_version_the_key_file_no_longer_has_counts_as_unknown_version(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        var old = CleanupKeys.Protect(key, "v1", new[] { "x", "y" });
        var current = CleanupKeys.Protect(key, "v2", new[] { "z" });
        KeyFileOperations.RemoveVersions(key, new[] { "v1" }, KeyFileFixture.NoEnvironment);
        db.CreateTable("t", old.Concat(current).ToList());

        var status = Read(db, key, "t", "otp");

        Assert.Equal(2, status.UnknownVersionRows);
        Assert.Equal(2, status.RowsUsing("v1"));
        Assert.Equal(0, status.NotCiphertext);
        Assert.Equal(1, status.AtActiveVersion);
        Assert.False(status.IsComplete);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void A_plaintext_with_a_colon_counts_as_not_ciphertext_not_as_a_key_version(string provider)
    {
        // FORMATS.md §4: a value with no "<known version>:" prefix is not ciphertext; Start-Reencryption -WhatIf
        // (StoredValue.TryParse) reports such values as "(not ciphertext)", and the status must agree.
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("t", CleanupKeys.Protect(key, "v1", new[] { "a" }).Concat(new[] { "https://example.com/x", "user:secret", ":leading" }).ToList());

        var status = Read(db, key, "t", "otp");

        Assert.Equal(3, status.NotCiphertext);
        Assert.Equal(0, status.UnknownVersionRows);
        Assert.Equal(new Dictionary<string, long> { ["v1"] = 1 }, status.RowsByVersion);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("PostgreSql")]
    public void A_missing_table_or_column_is_TargetNotFound(string provider)
    {
        if (Unavailable(provider)) return;
        var key = CleanupKeys.Create(_folder.Path, "v1");
        var db = CleanupDatabase.Create(provider, _server, _folder.Path);
        db.CreateTable("t", Array.Empty<string?>());

        var table = Assert.Throws<SecretsPSException>(() => Read(db, key, "no_such_table", "otp"));
        var column = Assert.Throws<SecretsPSException>(() => Read(db, key, "t", "no_such_column"));

        Assert.Equal("TargetNotFound", table.ErrorId);
        Assert.Equal(ErrorKind.ObjectNotFound, table.Kind);
        Assert.Equal("TargetNotFound", column.ErrorId);
    }

    [Fact]
    public void A_schema_qualified_table_is_counted_on_PostgreSQL()
    {
        if (Unavailable("PostgreSql")) return;
        var key = CleanupKeys.Create(_folder.Path, "v1");
        var db = CleanupDatabase.Create("PostgreSql", _server, _folder.Path);
        db.Execute("CREATE SCHEMA app");
        var values = CleanupKeys.Protect(key, "v1", new[] { "a", "b" });
        db.Execute($"CREATE TABLE app.secrets (id int PRIMARY KEY, otp text); INSERT INTO app.secrets VALUES (1, '{values[0]}'), (2, '{values[1]}'), (3, NULL)");

        var status = Read(db, key, "app.secrets", "otp");

        Assert.Equal("app.secrets", status.Table);
        Assert.Equal(2, status.AtActiveVersion);
        Assert.Equal(1, status.NullRows);
        Assert.True(status.IsComplete);
    }

    private static EncryptedColumnStatus Read(CleanupDatabase db, string keyFile, string table, string column)
    {
        using var config = KeyConfiguration.Load(keyFile, KeyFileFixture.NoEnvironment);
        using var connection = db.Open();
        return ColumnStatusReader.Read(db.Dialect, connection, table, column, config.Ring);
    }

    private bool Unavailable(string provider)
    {
        if (provider != "PostgreSql" || _server.Available) return false;
        _output.WriteLine($"PostgreSQL case not run: {_server.Reason}");
        return true;
    }
}
