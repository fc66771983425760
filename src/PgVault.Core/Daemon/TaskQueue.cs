using PgVault.Core.Config;

namespace PgVault.Core.Daemon;

/// <summary>One slot of one schedule waiting for its turn.</summary>
public sealed record QueuedTask(string Cluster, ScheduleSpec Spec, string Key, DateTimeOffset Slot)
{
    public long Sequence { get; init; }
}

/// <summary>
/// The daemon's queues: one per cluster, never two tasks of a cluster at once, at most
/// max_concurrent over all clusters. Within a cluster, due tasks run backup → verify → drill →
/// expire (then by slot); across clusters the oldest waiting head goes first. Not thread-safe:
/// the scheduler calls it under its lock.
/// </summary>
public sealed class TaskQueue
{
    private readonly Dictionary<string, List<QueuedTask>> _waiting = new(StringComparer.Ordinal);
    private readonly HashSet<string> _busy = new(StringComparer.Ordinal);
    private long _sequence;

    public int Running => _busy.Count;

    public int Waiting => _waiting.Values.Sum(q => q.Count);

    /// <summary>Adds a slot; false when the same schedule already waits (a slot is not queued twice).</summary>
    public bool Enqueue(QueuedTask task)
    {
        if (!_waiting.TryGetValue(task.Cluster, out var queue)) _waiting[task.Cluster] = queue = [];
        if (queue.Any(q => q.Key == task.Key)) return false;
        queue.Add(task with { Sequence = _sequence++ });
        return true;
    }

    /// <summary>The next task to start now, or null (all clusters with work are busy, or the cap is reached). Marks its cluster busy.</summary>
    public QueuedTask? TakeNext(int maxConcurrent)
    {
        if (_busy.Count >= maxConcurrent) return null;
        QueuedTask? best = null;
        foreach (var (cluster, queue) in _waiting)
        {
            if (queue.Count == 0 || _busy.Contains(cluster)) continue;
            var head = Head(queue);
            if (best is null || head.Slot < best.Slot || (head.Slot == best.Slot && head.Sequence < best.Sequence)) best = head;
        }
        if (best is null) return null;
        _waiting[best.Cluster].Remove(best);
        _busy.Add(best.Cluster);
        return best;
    }

    /// <summary>The cluster's task ended: the cluster may run its next one.</summary>
    public void Finished(string cluster) => _busy.Remove(cluster);

    /// <summary>Drops every waiting task (shutdown); returns them.</summary>
    public List<QueuedTask> Clear()
    {
        var all = _waiting.Values.SelectMany(q => q).OrderBy(q => q.Sequence).ToList();
        _waiting.Clear();
        return all;
    }

    private static QueuedTask Head(List<QueuedTask> queue) =>
        queue.OrderBy(q => q.Spec.Task).ThenBy(q => q.Slot).ThenBy(q => q.Sequence).First();
}
