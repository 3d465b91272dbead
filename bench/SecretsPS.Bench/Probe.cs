using System.Diagnostics;
using System.Text.Json;

namespace SecretsPS.Bench;

/// <summary>What a child scenario hands back to the orchestrator: one line "RESULT {json}" on stdout.</summary>
public sealed record ScenarioResult
{
    public required string Scenario { get; init; }
    public long Rows { get; init; }
    public double Seconds { get; init; }
    /// <summary>VmHWM of the child itself, read at its end: its own peak resident memory.</summary>
    public long PeakBytes { get; init; }
    /// <summary>CPU seconds of the child during the measured part (user + system, all threads).</summary>
    public double ClientCpuSeconds { get; init; }
    /// <summary>CPU seconds of all PostgreSQL processes during the measured part (postgres scenarios only).</summary>
    public double? ServerCpuSeconds { get; init; }
    public long AllocatedBytes { get; init; }
    public int Gen0 { get; init; }
    public int Gen1 { get; init; }
    public int Gen2 { get; init; }
    /// <summary>Further named measurements (Fernet operations per second, profile phases in seconds…).</summary>
    public Dictionary<string, double> Extra { get; init; } = new();
    public string? Note { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    public const string Marker = "RESULT ";

    public string ToLine() => Marker + JsonSerializer.Serialize(this, Json);

    public static ScenarioResult? FromLine(string line) =>
        line.StartsWith(Marker, StringComparison.Ordinal) ? JsonSerializer.Deserialize<ScenarioResult>(line[Marker.Length..], Json) : null;
}

/// <summary>Reads of the process's own counters and of the PostgreSQL server's processes (Linux /proc).</summary>
public static class Probe
{
    /// <summary>Peak resident set size (VmHWM) of this process; Process.PeakWorkingSet64 where /proc is absent.</summary>
    public static long PeakBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
            }
        }
        catch (IOException) { }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }

    public static double OwnCpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>
    /// The TCP counters (Linux tcp_info, read with `ss`) of this process's connections to a server port, by local port:
    /// bytes sent, bytes received, and segments carrying data sent. A client that sends one request and waits for its
    /// answer sends one data segment per round trip (a large request can take more than one), so the segments count the
    /// round trips from above. Empty where `ss` is missing.
    /// </summary>
    public static Dictionary<string, (long Sent, long Received, long Segments)> Sockets(int serverPort)
    {
        var result = new Dictionary<string, (long, long, long)>();
        try
        {
            var start = new ProcessStartInfo("ss", ["-tinpH", $"( dport = :{serverPort} )"]) { RedirectStandardOutput = true, UseShellExecute = false };
            using var ss = Process.Start(start)!;
            var lines = ss.StandardOutput.ReadToEnd().Split('\n');
            ss.WaitForExit();
            var me = $"pid={Environment.ProcessId},";
            for (int i = 0; i + 1 < lines.Length; i++)
            {
                if (!lines[i].StartsWith("ESTAB", StringComparison.Ordinal) || !lines[i].Contains(me, StringComparison.Ordinal)) continue;
                var local = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
                long Field(string name)
                {
                    var at = lines[i + 1].IndexOf(" " + name + ":", StringComparison.Ordinal);
                    if (at < 0) return 0;
                    var digits = lines[i + 1][(at + name.Length + 2)..].TakeWhile(char.IsAsciiDigit).ToArray();
                    return long.Parse(new string(digits));
                }
                result[local] = (Field("bytes_acked"), Field("bytes_received"), Field("data_segs_out"));
            }
        }
        catch (System.ComponentModel.Win32Exception) { }
        return result;
    }

    /// <summary>What the sockets to a server port carried between two readings (a connection opened in between counts from zero).</summary>
    public static (long Sent, long Received, long Segments) SocketsDelta(Dictionary<string, (long Sent, long Received, long Segments)> before,
        Dictionary<string, (long Sent, long Received, long Segments)> after)
    {
        long sent = 0, received = 0, segments = 0;
        foreach (var (local, x) in after)
        {
            var b = before.GetValueOrDefault(local);
            sent += x.Sent - b.Sent;
            received += x.Received - b.Received;
            segments += x.Segments - b.Segments;
        }
        return (sent, received, segments);
    }

    // USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    private const double TicksPerSecond = 100.0;

    /// <summary>CPU seconds (user + system) of one process, from /proc/&lt;pid&gt;/stat; 0 when it is gone.</summary>
    public static double ProcessCpuSeconds(int pid)
    {
        var fields = StatFields(pid);
        return fields is null ? 0 : (long.Parse(fields[11]) + long.Parse(fields[12])) / TicksPerSecond;
    }

    /// <summary>The CPU seconds of the postmaster and every child it has now (backends, WAL writer, checkpointer…), by pid.</summary>
    public static Dictionary<int, double> ServerCpu(int postmasterPid)
    {
        var result = new Dictionary<int, double>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            var f = StatFields(pid);
            if (f is null) continue;
            if (pid == postmasterPid || f[1] == postmasterPid.ToString())
                result[pid] = (long.Parse(f[11]) + long.Parse(f[12])) / TicksPerSecond;
        }
        return result;
    }

    /// <summary>CPU the server spent between two snapshots; a process that appeared in between counts from zero.</summary>
    public static double ServerCpuDelta(Dictionary<int, double> before, Dictionary<int, double> after) =>
        after.Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));

    // Fields after the ")" that ends the command name: [0] state, [1] ppid, … [11] utime, [12] stime.
    private static string[]? StatFields(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            return text[(close + 2)..].Split(' ');
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}

/// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), so a single-thread rate is per CPU-second even on a busy machine.</summary>
public static class ThreadCpu
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Timespec { public long Seconds; public long Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec time);

    private const int ThreadCpuTimeId = 3;

    public static double Seconds()
    {
        if (!OperatingSystem.IsLinux()) return Probe.OwnCpuSeconds();
        ClockGetTime(ThreadCpuTimeId, out var t);
        return t.Seconds + t.Nanoseconds / 1e9;
    }
}
