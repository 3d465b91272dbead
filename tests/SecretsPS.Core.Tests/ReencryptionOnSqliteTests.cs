using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>Every scenario of <see cref="ReencryptionEngineTests"/> on a SQLite file (Microsoft.Data.Sqlite; read back by Python's sqlite3).</summary>
public sealed class ReencryptionOnSqliteTests : ReencryptionEngineTests
{
    public ReencryptionOnSqliteTests(ITestOutputHelper output)
        : base(output)
    {
    }

    internal override TestDatabase NewDatabase() => new SqliteTestDatabase();

    internal override string TextKeyType => "TEXT PRIMARY KEY";

    internal override string PlainIntegerType => "INTEGER";

    protected override bool Unavailable() => false;

    /// <summary>
    /// SQLite lets a column have no declared type, or any type name at all; the key column's values are what they are.
    /// The cursor saved as text (last_key) must come back in a form SQLite compares with those values.
    /// </summary>
    [Theory]
    [InlineData("", false, true)]
    [InlineData("", false, false)]
    [InlineData("UUID", true, true)]
    public void A_paused_job_resumes_whatever_type_the_SQLite_key_column_is_declared_with(string declaredType, bool textKeys, bool primaryKey)
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var db = NewDatabase();
        var table = new TestTable(null, "loosely_typed", "id", "secret");
        db.CreateTable(table, keyType: declaredType + (primaryKey ? " PRIMARY KEY" : " NOT NULL UNIQUE"));
        var expected = Seed(db, table, keys, 30, i => i % 7 == 0 ? null : "v1",
            i => textKeys ? new Guid((int)i, 0, 0, new byte[8]).ToString() : i);
        var options = Options(table, batch: 4, commit: 4) with { MaxRows = 10, KeyColumn = primaryKey ? null : "id" };

        var paused = db.Engine(keys.Ring).Run(options, new RecordingObserver(), CancellationToken.None);
        Assert.Equal(JobStatus.Paused, paused.StatusKind);

        ReencryptJob job = paused;
        Exception? failure = null;
        try
        {
            job = db.Engine(keys.Ring).Run(options with { Resume = true, MaxRows = null }, new RecordingObserver(), CancellationToken.None);
        }
        catch (Exception e)
        {
            failure = e;
        }

        Assert.True(failure is null, $"Resume on a key column declared '{declaredType}' failed: {failure?.GetType().Name}: {failure?.Message} (job: {db.Job(paused.Id)?.Status}, {db.Job(paused.Id)?.Message})");
        Assert.Equal((paused.Id, JobStatus.Finished), (job.Id, job.StatusKind));
        Assert.Equal(expected.Count(e => e.Value is not null), job.Processed);
        AssertHolds(db, table, keys, expected, "v2");
    }
}
