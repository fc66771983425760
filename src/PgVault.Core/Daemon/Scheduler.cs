using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Progress;

namespace PgVault.Core.Daemon;

/// <summary>
/// Runs the schedules of every cluster: computes each schedule's next slot, queues due slots
/// (<see cref="TaskQueue"/>: one task per cluster at once, daemon.max_concurrent overall, backup →
/// verify → drill → expire), catches up on what start-up finds missed, and on stop lets running
/// tasks finish within daemon.shutdown_grace before cancelling them (the capabilities clean up).
/// </summary>
public sealed partial class Scheduler
{
    private readonly ITaskRunner _runner;
    private readonly DaemonLog _log;
    private readonly IReadOnlyList<ITaskObserver> _observers;
    private readonly DaemonState _state;
    private readonly TaskQueue _queue = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _kill = new();
    private readonly Dictionary<QueuedTask, Task> _running = [];
    private List<PlanEntry> _plan = [];
    private PgVaultConfig _config;

    /// <param name="observers">Told about every run; the <paramref name="counter"/> is one of them.</param>
    public Scheduler(PgVaultConfig config, ITaskRunner runner, DaemonLog log, TaskRunCounter counter, IEnumerable<ITaskObserver>? observers = null)
    {
        _config = config;
        _runner = runner;
        _log = log;
        Counter = counter;
        _observers = [counter, .. observers ?? []];
        _state = new DaemonState(config.Daemon.StateFile, log);
    }

    public TaskRunCounter Counter { get; }

    /// <summary>True while the scheduler takes tasks (what /healthz reports).</summary>
    public bool Running { get; private set; }

    public PgVaultConfig Config
    {
        get { lock (_lock) return _config; }
    }

    /// <summary>Runs until <paramref name="stop"/> (SIGTERM/SIGINT), then drains as described above.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        _state.Load();
        lock (_lock)
        {
            _plan = BuildPlan(_config, [], DateTimeOffset.UtcNow, catchUp: true);
            Running = true;
        }
        _log.Info("daemon started", ("schedules", _plan.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("max_concurrent", _config.Daemon.MaxConcurrent.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        while (!stop.IsCancellationRequested)
        {
            TimeSpan wait;
            lock (_lock)
            {
                var now = DateTimeOffset.UtcNow;
                EnqueueDue(now);
                Dispatch();
                var nextDue = _plan.Where(p => p.DueAt != null).Select(p => p.DueAt!.Value).DefaultIfEmpty(now.AddHours(1)).Min();
                wait = nextDue - now;
            }
            if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
            if (wait > TimeSpan.FromMinutes(1)) wait = TimeSpan.FromMinutes(1); // re-read the clock now and then (suspend, clock steps)
            try
            {
                await _wake.WaitAsync(wait, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
        }
        await DrainAsync().ConfigureAwait(false);
    }

    /// <summary>SIGHUP: the new configuration's schedules replace the old ones (running tasks go on).</summary>
    public void Reload(PgVaultConfig config)
    {
        lock (_lock)
        {
            if (config.Daemon.Listen != _config.Daemon.Listen || config.Daemon.MetricsTokenFile != _config.Daemon.MetricsTokenFile)
                _log.Warn("daemon.listen and daemon.metrics_token_file take effect at the next start, not on reload");
            _config = config;
            _log.Json = config.Daemon.LogFormat == "json";
            _plan = BuildPlan(config, _plan, DateTimeOffset.UtcNow, catchUp: false);
        }
        _log.Info("configuration reloaded", ("file", config.SourceFile), ("schedules", _plan.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        _wake.Release();
    }

    /// <summary>Each schedule of the configuration with its next slot; a schedule kept from <paramref name="old"/> keeps its slot.</summary>
    private List<PlanEntry> BuildPlan(PgVaultConfig config, List<PlanEntry> old, DateTimeOffset now, bool catchUp)
    {
        var plan = new List<PlanEntry>();
        foreach (var (cluster, clusterConfig) in config.Clusters.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            foreach (var spec in clusterConfig.Schedules.Where(s => !s.Continuous))
            {
                string key = Key(cluster, spec);
                if (plan.Any(p => p.Key == key)) continue;
                if (old.FirstOrDefault(p => p.Key == key) is { } kept)
                {
                    plan.Add(kept with { Spec = spec });
                    continue;
                }
                var entry = new PlanEntry(cluster, spec, key);
                if (catchUp) CatchUp(entry, now, config.Daemon.CatchUp);
                plan.Add(Advance(entry, now, config.Daemon.Jitter));
            }
        }
        return plan;
    }

    private void CatchUp(PlanEntry entry, DateTimeOffset now, TimeSpan window)
    {
        var decision = ScheduleClock.CatchUp(entry.Spec, _state.LastHandled(entry.Key), now, window);
        if (decision.Missed > 0)
        {
            _log.Warn($"missed {decision.Missed} run(s) while the daemon was down", Fields(entry.Cluster, entry.Spec, decision.Newest));
            Counter.Add(entry.Cluster, entry.Spec.TaskName, TaskResults.Missed, decision.Missed);
        }
        if (decision.RunNow is { } slot)
        {
            _log.Info("catching up a run missed while the daemon was down", Fields(entry.Cluster, entry.Spec, slot));
            _queue.Enqueue(new QueuedTask(entry.Cluster, entry.Spec, entry.Key, slot));
        }
        else if (decision.Newest is { } newest) _state.Handled(entry.Key, newest);
    }

    private static PlanEntry Advance(PlanEntry entry, DateTimeOffset after, TimeSpan jitter)
    {
        var next = ScheduleClock.Next(entry.Spec, after);
        var delay = jitter > TimeSpan.Zero ? TimeSpan.FromTicks(Random.Shared.NextInt64(jitter.Ticks)) : TimeSpan.Zero;
        return entry with { NextSlot = next, DueAt = next + delay };
    }

    private void EnqueueDue(DateTimeOffset now)
    {
        for (int i = 0; i < _plan.Count; i++)
        {
            var entry = _plan[i];
            if (entry.DueAt is not { } due || due > now) continue;
            var slot = entry.NextSlot!.Value;
            if (!_queue.Enqueue(new QueuedTask(entry.Cluster, entry.Spec, entry.Key, slot)))
            {
                _log.Warn("the previous run of this schedule is still waiting; slot skipped", Fields(entry.Cluster, entry.Spec, slot));
                Counter.Add(entry.Cluster, entry.Spec.TaskName, "skipped", 1);
            }
            _plan[i] = Advance(entry, slot > now ? slot : now, _config.Daemon.Jitter);
        }
    }

    private void Dispatch()
    {
        while (_queue.TakeNext(_config.Daemon.MaxConcurrent) is { } task)
        {
            var config = _config;
            _running[task] = Task.Run(() => RunOneAsync(config, task));
        }
    }

    private async Task RunOneAsync(PgVaultConfig config, QueuedTask task)
    {
        var spec = task.Spec;
        var started = DateTimeOffset.UtcNow;
        _state.Handled(task.Key, task.Slot);
        _log.Info("task started", Fields(task.Cluster, spec, task.Slot));
        Notify(o => o.TaskStarted(task.Cluster, spec.TaskName, spec.What));
        string result, message;
        string? code = null;
        try
        {
            message = await _runner.RunAsync(config, task.Cluster, spec, new LogProgress(_log, task.Cluster, spec.TaskName), _kill.Token).ConfigureAwait(false);
            result = TaskResults.Success;
        }
        catch (OperationCanceledException) when (_kill.IsCancellationRequested)
        {
            (result, code, message) = (TaskResults.Cancelled, ErrorCode.Interrupted.WireName(), "cancelled at shutdown (grace period over); nothing incomplete is listed");
        }
        catch (PgVaultException e)
        {
            (result, code, message) = (TaskResults.Failure, e.Code.WireName(), e.Message);
        }
        catch (Exception e)
        {
            (result, code, message) = (TaskResults.Failure, ErrorCode.Internal.WireName(), $"unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
        var duration = DateTimeOffset.UtcNow - started;
        var fields = Fields(task.Cluster, spec, task.Slot).Concat([("result", (string?)result), ("code", code), ("seconds", duration.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture))]).ToArray();
        if (result == TaskResults.Success) _log.Info(message, fields);
        else _log.Error(message, fields);
        var outcome = new TaskOutcome(task.Cluster, spec.TaskName, spec.What, result, code, message, started, duration);
        Notify(o => o.TaskFinished(outcome));
        lock (_lock)
        {
            _queue.Finished(task.Cluster);
            _running.Remove(task);
        }
        _wake.Release();
    }

    private void Notify(Action<ITaskObserver> call)
    {
        foreach (var observer in _observers)
        {
            try
            {
                call(observer);
            }
            catch (Exception e)
            {
                _log.Warn("a task observer failed", ("observer", observer.GetType().Name), ("error", e.Message));
            }
        }
    }

    private async Task DrainAsync()
    {
        Task[] running;
        lock (_lock)
        {
            Running = false;
            var dropped = _queue.Clear();
            running = [.. _running.Values];
            _log.Info("stopping: no new tasks", ("running", running.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("dropped", dropped.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        if (running.Length == 0) return;
        var grace = Config.Daemon.ShutdownGrace;
        try
        {
            await Task.WhenAll(running).WaitAsync(grace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _log.Warn($"shutdown grace of {Units.Duration(grace.TotalSeconds)} over: cancelling the running task(s)");
            await _kill.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    internal static string Key(string cluster, ScheduleSpec spec) => $"{cluster}|{spec.What}|{spec.When}|{spec.TimeZone.Id}";

    private static (string, string?)[] Fields(string cluster, ScheduleSpec spec, DateTimeOffset? slot) =>
        [("cluster", cluster), ("task", spec.TaskName), ("what", spec.What), ("slot", slot?.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture))];

    private sealed record PlanEntry(string Cluster, ScheduleSpec Spec, string Key)
    {
        public DateTimeOffset? NextSlot { get; init; }
        public DateTimeOffset? DueAt { get; init; }
    }

    /// <summary>Capabilities' progress as log lines (no progress bars in a daemon).</summary>
    private sealed class LogProgress(DaemonLog log, string cluster, string task) : IProgressSink
    {
        public void Info(string message) => log.Info(message, ("cluster", cluster), ("task", task));

        public void Warn(string message) => log.Warn(message, ("cluster", cluster), ("task", task));

        public IProgressTask Start(string description, long? totalBytes = null) => NullProgress.Instance.Start(description, totalBytes);
    }
}
