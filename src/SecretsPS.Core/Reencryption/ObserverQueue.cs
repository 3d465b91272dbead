using System.Collections.Concurrent;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// What the workers of a run tell the observer, queued and handed to it on the caller's thread only
/// (<see cref="IReencryptionObserver"/>'s contract: a cmdlet writes to its streams from the pipeline thread alone).
/// </summary>
internal sealed class ObserverQueue : IReencryptionObserver
{
    private readonly BlockingCollection<Action<IReencryptionObserver>> _events = new();

    public void Progress(ReencryptionProgress progress) => _events.Add(o => o.Progress(progress));

    public void RowFailed(string target, string rowKey, RowError error) => _events.Add(o => o.RowFailed(target, rowKey, error));

    public void Info(string message) => _events.Add(o => o.Info(message));

    public void Warning(string message) => _events.Add(o => o.Warning(message));

    /// <summary>Hands every event to <paramref name="observer"/> until <paramref name="finished"/> says the workers are gone and the queue is empty.</summary>
    public void Drain(IReencryptionObserver observer, Func<bool> finished)
    {
        while (true)
        {
            bool done = finished(); // read before the queue: an event queued before the workers ended is still handed over
            while (_events.TryTake(out var next, done ? 0 : 100)) next(observer);
            if (done) return;
        }
    }
}
