using System.Security.Cryptography;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// Who holds a job or a chunk (FORMATS.md §5): <c>host:pid</c>, and for a worker <c>host:pid:w&lt;n&gt;-&lt;8 hex&gt;</c>. Several
/// runners can live in one process (the workers of -ThrottleLimit, the runspaces of ForEach-Object -Parallel), so each
/// worker's owner is its own, and still starts with the process's <c>host:pid</c>, which the staleness rules read.
/// </summary>
public static class RunnerOwner
{
    /// <summary>This process: <c>host:pid</c>.</summary>
    public static string Process => $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>A new runner's tag, shared by its workers: 8 hexadecimal digits.</summary>
    public static string NewRunnerTag() => Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();

    /// <summary>The owner text of one worker of a runner.</summary>
    public static string Worker(string runnerTag, int worker) => $"{Process}:w{worker}-{runnerTag}";

    /// <summary>The host and process id an owner text names; false for a text that names none (written by hand, empty).</summary>
    public static bool TryParse(string? owner, out string host, out int pid)
    {
        host = "";
        pid = 0;
        var parts = owner?.Split(':');
        if (parts is null || parts.Length is < 2 or > 3 || !int.TryParse(parts[1], out pid)) return false;
        host = parts[0];
        return true;
    }

    /// <summary>True when the owner is this process (any of its runners).</summary>
    public static bool IsThisProcess(string? owner) =>
        TryParse(owner, out var host, out var pid) && host == Environment.MachineName && pid == Environment.ProcessId;
}
