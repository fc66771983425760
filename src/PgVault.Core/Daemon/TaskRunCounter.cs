using System.Globalization;
using System.Text;

namespace PgVault.Core.Daemon;

/// <summary>One (cluster, task, result) count of pgvault_task_runs_total.</summary>
public sealed record TaskRunTally(string Cluster, string Task, string Result, long Count);

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

    public IReadOnlyList<TaskRunTally> Snapshot()
    {
        lock (_lock)
        {
            return _counts.OrderBy(c => c.Key.Cluster, StringComparer.Ordinal).ThenBy(c => c.Key.Task, StringComparer.Ordinal).ThenBy(c => c.Key.Result, StringComparer.Ordinal)
                .Select(c => new TaskRunTally(c.Key.Cluster, c.Key.Task, c.Key.Result, c.Value)).ToList();
        }
    }

    /// <summary>
    /// pgvault_task_runs_total in the Prometheus text format (0.0.4). Stands in until the monitor's
    /// renderer (Monitor/PrometheusText) serves every metric.
    /// </summary>
    public static string RenderPrometheus(IReadOnlyList<TaskRunTally> tallies)
    {
        var text = new StringBuilder();
        text.Append("# HELP pgvault_task_runs_total Scheduled task runs by cluster, task and result since the daemon started.\n");
        text.Append("# TYPE pgvault_task_runs_total counter\n");
        foreach (var t in tallies)
            text.Append(CultureInfo.InvariantCulture, $"pgvault_task_runs_total{{cluster=\"{Escape(t.Cluster)}\",task=\"{Escape(t.Task)}\",result=\"{Escape(t.Result)}\"}} {t.Count}\n");
        return text.ToString();
    }

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
