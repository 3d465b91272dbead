using System.Runtime.ExceptionServices;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// One dedicated thread that runs one piece of work at a time while the caller does something else, for the
/// re-encryption's transform of page N while its connection writes page N−1 and reads page N+1.
/// </summary>
/// <remarks>
/// Not the thread pool: a pool worker spins (sched_yield) for a while after every hand-off before it sleeps, and
/// with a hand-off per page that spinning took the core the database needed on a two-core machine
/// (bench/RESULTS.md). A thread blocked in <see cref="Monitor.Wait(object)"/> costs nothing while it waits.
/// </remarks>
internal sealed class OverlapThread<T> : IDisposable where T : class
{
    private readonly object _gate = new();
    private readonly Thread _thread;
    private Func<T>? _work;
    private T? _result;
    private ExceptionDispatchInfo? _error;
    private bool _busy;
    private bool _closing;

    public OverlapThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Hands <paramref name="work"/> to the thread; the previous result must have been collected.</summary>
    public void Start(Func<T> work)
    {
        lock (_gate)
        {
            if (_busy) throw new InvalidOperationException("The previous work has not been collected.");
            _work = work;
            _result = null;
            _error = null;
            _busy = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Waits for the work handed over last and returns its result, or rethrows what it threw.</summary>
    public T Collect()
    {
        lock (_gate)
        {
            while (_work is not null) Monitor.Wait(_gate);
            if (!_busy) throw new InvalidOperationException("No work was handed over.");
            _busy = false;
            _error?.Throw();
            return _result!;
        }
    }

    /// <summary>Waits for work in hand, if any, and ends the thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _closing = true;
            Monitor.PulseAll(_gate);
        }
        _thread.Join();
    }

    private void Loop()
    {
        while (true)
        {
            Func<T> work;
            lock (_gate)
            {
                while (_work is null && !_closing) Monitor.Wait(_gate);
                if (_work is null) return;
                work = _work;
            }

            T? result = null;
            ExceptionDispatchInfo? error = null;
            try
            {
                result = work();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }

            lock (_gate)
            {
                _result = result;
                _error = error;
                _work = null;
                Monitor.PulseAll(_gate);
            }
        }
    }
}
