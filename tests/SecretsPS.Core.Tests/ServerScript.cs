using System.Diagnostics;
using System.Text;

namespace SecretsPS.Core.Tests;

/// <summary>
/// One of the scripts in tests/servers (postgres.sh, pgbouncer.sh, mariadb.sh), run with bash: the xunit fixtures and the
/// benchmark (which links this file) drive their throwaway servers through it, as the Pester suite does.
/// </summary>
public sealed class ServerScript
{
    private readonly string _path;
    private readonly string _name;
    private readonly TimeSpan _timeout;

    /// <param name="name">The script's file name in tests/servers, such as <c>postgres.sh</c>.</param>
    /// <param name="timeout">How long one run may take before its process tree is killed.</param>
    public ServerScript(string name, TimeSpan timeout)
    {
        _name = name;
        _timeout = timeout;
        _path = Find(name);
    }

    /// <summary>
    /// Runs the script with <paramref name="arguments"/>. A nonzero exit throws with what the script said (the server
    /// log's tail), unless <paramref name="mayFail"/>: then the caller reads the code (3 is "not installed").
    /// </summary>
    public (int Code, string Output, string Error) Run(IReadOnlyList<string> arguments, bool mayFail = false)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add(_path);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        var commandLine = _name + " " + string.Join(' ', arguments);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start: {commandLine}");
        // Both pipes drain while the script runs: a server log written to stderr must not fill its pipe and stall it.
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(_timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"Timed out after {_timeout.TotalSeconds} s: {commandLine}");
        }
        var stdout = output.GetAwaiter().GetResult();
        var stderr = error.GetAwaiter().GetResult();
        if (process.ExitCode != 0 && !mayFail)
        {
            throw new InvalidOperationException($"Exit code {process.ExitCode}: {commandLine}\n{stderr}{stdout}");
        }
        return (process.ExitCode, stdout, stderr);
    }

    /// <summary>The script's standard output, trimmed (a port, a version, a bin folder); any failure throws.</summary>
    public string Output(params string[] arguments) => Run(arguments).Output.Trim();

    /// <summary>
    /// Stops the server kept in <paramref name="folder"/> and deletes the folder. Both are best effort: this runs on
    /// dispose and at process exit, after a test may have killed the server or a start may have failed halfway.
    /// </summary>
    public void StopAndRemove(DirectoryInfo folder)
    {
        TryStop(folder);
        RemoveFolder(folder);
    }

    /// <summary>Stops the server kept in <paramref name="folder"/>; a failure (it was not running, or is gone) is ignored.</summary>
    public void TryStop(DirectoryInfo folder)
    {
        try
        {
            Run(["stop", folder.FullName]);
        }
        catch (Exception)
        {
            // Best effort: the caller removes the folder all the same.
        }
    }

    /// <summary>Deletes a server's folder, if it is still there; a file held open elsewhere leaves it behind rather than failing the run.</summary>
    public static void RemoveFolder(DirectoryInfo folder)
    {
        try
        {
            folder.Refresh();
            if (folder.Exists) folder.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    // By walking up from the build output rather than by the solution file, so the benchmark (outside SecretsPS.sln) finds it too.
    private static string Find(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "tests", "servers", name);
            if (File.Exists(script)) return script;
        }
        throw new InvalidOperationException($"No tests/servers/{name} above {AppContext.BaseDirectory}: run from a build inside the repository.");
    }
}
