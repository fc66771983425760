using PgVault.Core.Monitor;

namespace PgVault.Core.Daemon;

/// <summary>Counts runs per (cluster, task, result) since the daemon started: the pgvault_task_runs_total counter.</summary>
public sealed class TaskRunCounter : ITaskObserver
{
    private readonly Dictionary<(string Cluster, string Task, string Result), long> _counts = [];
    private readonly Lock _lock = new();

    public void TaskStarted(string cluster, string task, string what) { }

    public void TaskFinished(TaskOutcome outcome) => Add(outcome.Cluster, outcome.Task, outcome.Result, 1);

    public void Add(string cluster, string task, string result, long count)
    {
        lock (_lock)
        {
            _counts[(cluster, task, result)] = _counts.GetValueOrDefault((cluster, task, result)) + count;
        }
    }

    public IReadOnlyList<TaskRunCount> Snapshot()
    {
        lock (_lock)
        {
            return _counts.OrderBy(c => c.Key.Cluster, StringComparer.Ordinal).ThenBy(c => c.Key.Task, StringComparer.Ordinal).ThenBy(c => c.Key.Result, StringComparer.Ordinal)
                .Select(c => new TaskRunCount(c.Key.Cluster, c.Key.Task, c.Key.Result, c.Value)).ToList();
        }
    }
}
