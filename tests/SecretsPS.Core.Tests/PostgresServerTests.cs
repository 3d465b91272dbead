using System.Diagnostics;
using Npgsql;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>The throwaway PostgreSQL fixture itself: it answers, its databases are separate, and it survives a restart.</summary>
/// <remarks>Where the machine has no PostgreSQL binaries the tests say so in their output and pass: xunit 2 cannot skip at run time.</remarks>
[Collection("postgres")]
public sealed class PostgresServerTests
{
    private readonly PostgresServer _server;
    private readonly ITestOutputHelper _output;

    public PostgresServerTests(PostgresServer server, ITestOutputHelper output)
    {
        _server = server;
        _output = output;
    }

    [Fact]
    public void Answers_with_the_installed_major_version()
    {
        if (Unavailable())
        {
            return;
        }

        _output.WriteLine($"{_server.BinFolder}, port {_server.Port}: initdb {_server.InitDbDuration.TotalMilliseconds:F0} ms, start {_server.StartDuration.TotalMilliseconds:F0} ms");

        string version = Scalar<string>(_server.ConnectionString("postgres"), "SELECT version()");

        Assert.True(_server.MajorVersion > 0);
        Assert.Contains($"PostgreSQL {_server.MajorVersion}", version);
    }

    [Fact]
    public void CreateDatabase_gives_separate_empty_databases()
    {
        if (Unavailable())
        {
            return;
        }

        string first = _server.CreateDatabase();
        string second = _server.CreateDatabase();

        Assert.NotEqual(new NpgsqlConnectionStringBuilder(first).Database, new NpgsqlConnectionStringBuilder(second).Database);
        Execute(first, "CREATE TABLE secrets (id int PRIMARY KEY, value text); INSERT INTO secrets VALUES (1, 'only in the first')");
        Assert.Equal("only in the first", Scalar<string>(first, "SELECT value FROM secrets WHERE id = 1"));
        Assert.True(Scalar<bool>(second, "SELECT to_regclass('secrets') IS NULL"));
    }

    [Fact]
    public void Stop_then_Start_keeps_the_port_and_the_data()
    {
        if (Unavailable())
        {
            return;
        }

        string database = _server.CreateDatabase();
        Execute(database, "CREATE TABLE secrets (id int PRIMARY KEY, value text); INSERT INTO secrets VALUES (1, 'still here')");
        int port = _server.Port;

        var clock = Stopwatch.StartNew();
        _server.Stop();
        TimeSpan stop = clock.Elapsed;
        try
        {
            Assert.ThrowsAny<NpgsqlException>(() => Execute(database, "SELECT 1"));
        }
        finally
        {
            clock.Restart();
            _server.Start();
        }

        TimeSpan start = clock.Elapsed;
        _output.WriteLine($"stop {stop.TotalMilliseconds:F0} ms, start again {start.TotalMilliseconds:F0} ms");

        Assert.Equal(port, _server.Port);
        Assert.Equal("still here", Scalar<string>(database, "SELECT value FROM secrets WHERE id = 1"));
    }

    private bool Unavailable()
    {
        if (_server.Available)
        {
            return false;
        }

        _output.WriteLine($"NOT RUN: {_server.Reason}");
        return true;
    }

    private static void Execute(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        return (T)command.ExecuteScalar()!;
    }
}
