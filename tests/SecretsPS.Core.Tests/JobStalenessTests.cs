using System.Diagnostics;
using SecretsPS.Core.Reencryption;
using Xunit;

namespace SecretsPS.Core.Tests;

public class JobStalenessTests
{
    private static readonly DateTime Now = new(2026, 1, 10, 12, 0, 0, DateTimeKind.Utc);

    private static ReencryptJob Running(string? owner, DateTime? heartbeat) =>
        new(1, "t", "c", "id", "v2", JobStatus.Running, 10, 0, 0, 0, null, 100, 100, Now.AddHours(-1), Now.AddHours(-1), heartbeat, null, owner, null);

    private static int ExitedProcessId()
    {
        using var p = Process.Start(new ProcessStartInfo(OperatingSystem.IsWindows() ? "cmd.exe" : "true") { Arguments = OperatingSystem.IsWindows() ? "/c exit 0" : "", UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void A_fresh_heartbeat_of_another_host_is_not_stale() =>
        Assert.False(JobStaleness.IsStale(Running("otherhost:1", Now.AddMinutes(-1)), Now, TimeSpan.FromMinutes(10), null));

    [Fact]
    public void A_heartbeat_older_than_StaleAfter_is_stale() =>
        Assert.True(JobStaleness.IsStale(Running("otherhost:1", Now.AddMinutes(-11)), Now, TimeSpan.FromMinutes(10), null));

    [Fact]
    public void No_heartbeat_is_stale() =>
        Assert.True(JobStaleness.IsStale(Running("otherhost:1", null), Now, TimeSpan.FromMinutes(10), null));

    [Fact]
    public void A_server_started_after_the_heartbeat_makes_it_stale() =>
        Assert.True(JobStaleness.IsStale(Running("otherhost:1", Now.AddMinutes(-2)), Now, TimeSpan.FromMinutes(10), Now.AddMinutes(-1)));

    [Fact]
    public void A_runner_on_this_machine_whose_process_is_gone_is_stale_at_once()
    {
        var job = Running($"{Environment.MachineName}:{ExitedProcessId()}", DateTime.UtcNow);
        Assert.True(JobStaleness.IsStale(job, DateTime.UtcNow, TimeSpan.FromMinutes(10), null));
    }

    [Fact]
    public void A_runner_on_this_machine_that_is_alive_is_not_stale()
    {
        var parent = Running($"{Environment.MachineName}:{Environment.ProcessId}", DateTime.UtcNow);
        // This process: alive, so only the heartbeat decides when the caller cannot tell whether the job runs here.
        Assert.False(JobStaleness.IsStale(parent, DateTime.UtcNow, TimeSpan.FromMinutes(10), null));
        Assert.False(JobStaleness.IsStale(parent, DateTime.UtcNow, TimeSpan.FromMinutes(10), null, () => true));
        Assert.True(JobStaleness.IsStale(parent, DateTime.UtcNow, TimeSpan.FromMinutes(10), null, () => false));
    }

    private static ReencryptJobChunk Chunk(int n, string status, string? owner, DateTime? heartbeat) =>
        new() { JobId = 1, Chunk = n, Status = status, Owner = owner, UpdatedAt = heartbeat };

    [Fact]
    public void A_worker_owner_names_its_process_and_a_gone_worker_process_is_stale_at_once()
    {
        var gone = $"{Environment.MachineName}:{ExitedProcessId()}:w3-0badcafe";
        Assert.True(RunnerOwner.TryParse(gone, out var host, out _));
        Assert.Equal(Environment.MachineName, host);
        Assert.True(JobStaleness.OwnerProcessGone(gone));
        Assert.True(RunnerOwner.IsThisProcess(RunnerOwner.Worker(RunnerOwner.NewRunnerTag(), 0)));
        Assert.StartsWith(RunnerOwner.Process + ":w7-", RunnerOwner.Worker("0badcafe", 7));
    }

    [Fact]
    public void A_job_in_chunks_lives_while_one_of_its_running_chunks_does_whatever_its_own_row_says()
    {
        var gone = $"{Environment.MachineName}:{ExitedProcessId()}:w0-0badcafe";
        // The job row's last writer died; another host's worker still beats on its chunk.
        var job = Running(gone, Now.AddMinutes(-1));
        var chunks = new[] { Chunk(0, ChunkStatus.Done, gone, Now.AddMinutes(-5)), Chunk(1, ChunkStatus.Running, "otherhost:7:w1-12345678", Now.AddMinutes(-1)) };
        Assert.False(JobStaleness.IsStale(job, chunks, Now, TimeSpan.FromMinutes(10), null));
        // Every running chunk's runner gone: stale, though the job row's heartbeat is fresh.
        var dead = new[] { Chunk(0, ChunkStatus.Running, gone, Now.AddMinutes(-1)), Chunk(1, ChunkStatus.Running, "otherhost:7:w1-12345678", Now.AddMinutes(-30)) };
        Assert.True(JobStaleness.IsStale(Running("otherhost:7:w1-12345678", Now.AddMinutes(-1)), dead, Now, TimeSpan.FromMinutes(10), null));
        // No chunk running (created, not yet claimed; or counting at the end): the job row decides.
        var idle = new[] { Chunk(0, ChunkStatus.Pending, null, Now.AddMinutes(-30)) };
        Assert.False(JobStaleness.IsStale(Running("otherhost:7:w0-12345678", Now.AddMinutes(-1)), idle, Now, TimeSpan.FromMinutes(10), null));
        Assert.True(JobStaleness.IsStale(Running("otherhost:7:w0-12345678", Now.AddMinutes(-11)), idle, Now, TimeSpan.FromMinutes(10), null));
    }
}
