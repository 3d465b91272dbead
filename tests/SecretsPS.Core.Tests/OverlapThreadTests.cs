using SecretsPS.Core.Reencryption;

namespace SecretsPS.Core.Tests;

/// <summary>The thread that transforms page N while the engine's connection writes N−1 and reads N+1.</summary>
public class OverlapThreadTests
{
    [Fact]
    public void Work_runs_on_another_thread_while_the_caller_goes_on_and_its_results_come_back_in_turn()
    {
        using var overlap = new OverlapThread<string>("test");
        using var release = new ManualResetEventSlim();
        int caller = Environment.CurrentManagedThreadId;
        int worker = 0;

        overlap.Start(() => { worker = Environment.CurrentManagedThreadId; release.Wait(); return "first"; });
        release.Set(); // the work blocks until the caller, still running, lets it go
        Assert.Equal("first", overlap.Collect());
        Assert.NotEqual(caller, worker);

        for (int i = 0; i < 100; i++)
        {
            int n = i;
            overlap.Start(() => n.ToString());
            Assert.Equal(n.ToString(), overlap.Collect());
        }
    }

    [Fact]
    public void An_exception_in_the_work_reaches_the_caller_with_its_stack_and_the_thread_keeps_working()
    {
        using var overlap = new OverlapThread<string>("test");

        overlap.Start(() => throw new InvalidOperationException("boom"));
        var e = Assert.Throws<InvalidOperationException>(() => overlap.Collect());
        Assert.Equal("boom", e.Message);
        Assert.Contains(nameof(An_exception_in_the_work_reaches_the_caller_with_its_stack_and_the_thread_keeps_working), e.StackTrace);

        overlap.Start(() => "after");
        Assert.Equal("after", overlap.Collect());
    }

    [Fact]
    public void Handing_over_twice_without_collecting_or_collecting_nothing_is_refused()
    {
        using var overlap = new OverlapThread<string>("test");

        Assert.Throws<InvalidOperationException>(() => overlap.Collect());
        overlap.Start(() => "x");
        Assert.Throws<InvalidOperationException>(() => overlap.Start(() => "y"));
        Assert.Equal("x", overlap.Collect());
    }

    [Fact]
    public void Dispose_waits_for_work_in_hand_and_ends_the_thread()
    {
        var overlap = new OverlapThread<string>("test");
        bool finished = false;
        overlap.Start(() => { Thread.Sleep(200); finished = true; return "done"; });

        overlap.Dispose();

        Assert.True(finished);
    }
}
