using System.Collections.Concurrent;
using System.Globalization;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The library's process-wide state under several threads at once, as ForEach-Object -Parallel runspaces use it: the
/// engine's set of jobs running here, the dialects' tables, the IV pool, the key file's lock, the stored-text patterns and
/// the message language. Each test starts its threads together (a barrier), so that a race has its chance to show.
/// </summary>
public sealed class SharedStateStressTests
{
    private const int Threads = 4;

    private readonly ITestOutputHelper _output;

    public SharedStateStressTests(ITestOutputHelper output) => _output = output;

    private static void RunTogether(int threads, Action<int> work)
    {
        using var start = new Barrier(threads);
        var failures = new ConcurrentQueue<Exception>();
        var all = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                work(i);
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        all.ForEach(t => t.Start());
        all.ForEach(t => t.Join());
        if (!failures.IsEmpty) throw new AggregateException(failures);
    }

    [Fact]
    public void Jobs_running_at_once_on_separate_databases_with_the_same_job_id_each_count_their_own_rows_and_reencrypt_every_row()
    {
        var databases = Enumerable.Range(0, Threads).Select(_ => new SqliteTestDatabase()).ToList();
        var keys = Enumerable.Range(0, Threads).Select(_ => TestKeys.Create("v1", "v2")).ToList();
        try
        {
            var table = new TestTable(null, "secrets", "id", "secret");
            var expected = new Dictionary<string, string?>[Threads];
            for (int i = 0; i < Threads; i++)
            {
                databases[i].CreateTable(table);
                expected[i] = ReencryptionEngineTests.Seed(databases[i], table, keys[i], 300 + 77 * i, n => n % 13 == 0 ? null : "v1");
            }
            var jobs = new ReencryptJob[Threads];

            RunTogether(Threads, i => jobs[i] = databases[i].Engine(keys[i].Ring)
                .Run(ReencryptionEngineTests.Options(table, batch: 7, commit: 21), new RecordingObserver(), CancellationToken.None));

            for (int i = 0; i < Threads; i++)
            {
                Assert.Equal(1, jobs[i].Id); // the same id in every database: the engine tells them apart by their database
                Assert.Equal(JobStatus.Finished, jobs[i].StatusKind);
                Assert.Equal(expected[i].Count(e => e.Value is not null), jobs[i].Processed);
                Assert.Equal(0, jobs[i].Errors);
                IndependentReader.AssertTableHolds(databases[i], table, keys[i], expected[i], "v2", _output);
            }
        }
        finally
        {
            databases.ForEach(d => d.Dispose());
            keys.ForEach(k => k.Dispose());
        }
    }

    [Fact]
    public void Rotations_of_one_key_file_from_several_threads_each_add_a_version_of_their_own_and_the_file_stays_valid()
    {
        using var folder = new TempFolder();
        var path = folder.File(".env.crypto");
        KeyFileOperations.Create(path, "v1", 32, 16, null, overwrite: false);
        var added = new string[Threads * 2];

        // Half choose their name (the next one, under the lock), half name it; none may lose another's version.
        RunTogether(Threads * 2, i => added[i] = KeyFileOperations.Rotate(path,
            new RotationOptions { NewVersion = i % 2 == 0 ? null : $"named{i}" }, NoEnvironment).Version.Version);

        Assert.Equal(added.Length, added.Distinct(StringComparer.Ordinal).Count());
        using var config = KeyConfiguration.Load(path, NoEnvironment);
        Assert.Equal(new[] { "v1" }.Concat(added).Order(StringComparer.Ordinal), config.Ring.Versions.Select(v => v.Name).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(ConfigValidator.Check(path, NoEnvironment), c => c.StatusKind == CheckStatus.Failed);
    }

    [Fact]
    public void IVs_drawn_on_many_threads_at_once_are_all_distinct()
    {
        const int perThread = 20000;
        var drawn = new string[Threads * 2][];
        RunTogether(Threads * 2, i =>
        {
            var mine = new string[perThread];
            Span<byte> iv = stackalloc byte[16];
            for (int n = 0; n < perThread; n++)
            {
                IvSource.Fill(iv);
                mine[n] = Convert.ToHexString(iv);
            }
            drawn[i] = mine;
        });
        var all = drawn.SelectMany(d => d).ToList();
        Assert.Equal(all.Count, all.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Messages_on_threads_of_different_languages_at_once_each_stay_in_their_own_language()
    {
        var languages = new[] { "en-US", "pt-BR", "en-US", "pt-BR" };
        string Expected(string culture)
        {
            var previous = CultureInfo.CurrentUICulture;
            CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
            try { return Localized.Format(Messages.JobOptionsMismatch, 7, "t.c", "id", "v2", "t.c", "id", "v3"); }
            finally { CultureInfo.CurrentUICulture = previous; }
        }
        var expected = languages.Distinct().ToDictionary(l => l, Expected);
        Assert.NotEqual(expected["en-US"], expected["pt-BR"]);
        var stored = StoredText.Store(nameof(Messages.JobMessageDatabaseError), "SqliteException");

        RunTogether(languages.Length, i =>
        {
            CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(languages[i]);
            for (int n = 0; n < 2000; n++)
            {
                Assert.Equal(expected[languages[i]], Localized.Format(Messages.JobOptionsMismatch, 7, "t.c", "id", "v2", "t.c", "id", "v3"));
                // The cleanup's audit switches its own thread to English for a moment: never another thread.
                using (InvariantMessages.Scope())
                    Assert.Equal(expected["en-US"], Localized.Format(Messages.JobOptionsMismatch, 7, "t.c", "id", "v2", "t.c", "id", "v3"));
                Assert.Equal(languages[i], CultureInfo.CurrentUICulture.Name);
                // A stored text is shown in the reader's language, through a pattern cache shared by every thread.
                Assert.Equal(StoredTextIn(languages[i], stored), StoredText.Display(stored));
            }
        });
    }

    private static readonly ConcurrentDictionary<string, string?> DisplayedIn = new();

    private static string? StoredTextIn(string culture, string stored) => DisplayedIn.GetOrAdd(culture + "\n" + stored, _ =>
    {
        var previous = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
        try { return StoredText.Display(stored); }
        finally { CultureInfo.CurrentUICulture = previous; }
    });
}
