namespace SecretsPS.Core.Tests;

/// <summary>
/// A throwaway server a tests/servers script made in a temporary folder of its own: stopped and its folder deleted on
/// dispose and at process exit, whether the tests passed or not, and at most once.
/// </summary>
public abstract class ScriptedServer : IDisposable
{
    private bool _disposed;

    protected ScriptedServer(string scriptName, TimeSpan scriptTimeout) => Script = new ServerScript(scriptName, scriptTimeout);

    protected ServerScript Script { get; }

    /// <summary>Held while the server is stopped, started or disposed: tests and the process-exit hook may race.</summary>
    protected object Gate { get; } = new();

    /// <summary>The server's folder, null until made (and when the machine has no such server).</summary>
    protected DirectoryInfo? ServerFolder { get; set; }

    protected bool Running { get; set; }

    protected bool IsDisposed => _disposed;

    /// <summary>Called once the server is up: a test run cut short (a crash, Ctrl+C of dotnet test) still stops it.</summary>
    protected void StopAtProcessExit() => AppDomain.CurrentDomain.ProcessExit += OnProcessExit;

    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed) return;
            _disposed = true;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            // Before the stop: no idle pooled connection outlives the server it pointed at.
            ClearPools();
            if (ServerFolder is not null)
            {
                Script.StopAndRemove(ServerFolder);
                Running = false;
            }
            DisposeBackends();
        }
    }

    protected abstract void ClearPools();

    /// <summary>Servers this one stands in front of (PgBouncer's PostgreSQL), disposed after it.</summary>
    protected virtual void DisposeBackends()
    {
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();
}
