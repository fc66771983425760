using PgVault.Core.Alerts;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Monitor;
using PgVault.Core.Progress;
using PgVault.Core.Vault;

namespace PgVault.Core.Daemon;

/// <summary>
/// The daemon's eye on its clusters: every <c>daemon.check_interval</c> the shared monitor
/// (<see cref="ClusterMonitor"/>, the one behind <c>pgvault status</c>) computes each cluster's
/// checks; each check is reported to the alert dispatcher, which sends a problem, a repeat or a
/// recovery by its rules. <c>/metrics</c> renders the newest statuses (computed again when they are
/// older than the interval) with the task-run counter.
/// </summary>
public sealed class DaemonWatch(Func<PgVaultConfig> config, DaemonLog log, Func<AlertDispatcher?> alerts, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IReadOnlyList<ClusterStatus> _latest = [];
    private DateTimeOffset _computed = DateTimeOffset.MinValue;

    /// <summary>Runs the checks every interval until <paramref name="stop"/>, reporting each to the alerts.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var statuses = await StatusesAsync(TimeSpan.Zero, stop).ConfigureAwait(false);
                if (alerts() is { } dispatcher) await ReportAsync(dispatcher, statuses, stop).ConfigureAwait(false);
                await Task.Delay(config().Daemon.CheckInterval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The watch outlives one bad evaluation: logged, tried again next interval.
                log.Error("status checks failed: " + e.Message, ("task", "status"));
                try
                {
                    await Task.Delay(config().Daemon.CheckInterval, _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>The statuses of every cluster, computed again when older than <paramref name="maxAge"/>.</summary>
    public async Task<IReadOnlyList<ClusterStatus>> StatusesAsync(TimeSpan maxAge, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_time.GetUtcNow() - _computed <= maxAge) return _latest;
            var current = config();
            var statuses = new List<ClusterStatus>();
            foreach (var name in current.Clusters.Keys.Order(StringComparer.Ordinal))
            {
                try
                {
                    var vault = Vault.Vault.Open(current, new GlobalOptions(ConfigFile: current.SourceFile, Cluster: name));
                    var options = new StatusOptions { ServerTimeout = TimeSpan.FromSeconds(5) };
                    statuses.Add(await new ClusterMonitor(vault, new WatchProgress(log, name)).RunAsync(options, ct).ConfigureAwait(false));
                }
                catch (PgVaultException e)
                {
                    log.Warn("status not computed: " + e.Message, ("cluster", name), ("code", e.Code.WireName()));
                }
            }
            _latest = statuses;
            _computed = _time.GetUtcNow();
            return statuses;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The body of GET /metrics: every cluster's status and the task runs.</summary>
    public async Task<string> MetricsAsync(TaskRunCounter counter, CancellationToken ct)
    {
        var statuses = await StatusesAsync(config().Daemon.CheckInterval, ct).ConfigureAwait(false);
        return PrometheusText.Render(statuses, counter.Snapshot());
    }

    private async Task ReportAsync(AlertDispatcher dispatcher, IReadOnlyList<ClusterStatus> statuses, CancellationToken ct)
    {
        foreach (var status in statuses)
        {
            foreach (var check in status.Checks)
            {
                var result = await dispatcher.CheckChangedAsync(status.Cluster, check.Name, Severity(check.State), check.Message, ct).ConfigureAwait(false);
                Logged(log, result, status.Cluster);
            }
        }
    }

    /// <summary>UNKNOWN (the server or a store did not answer) is a warning: someone should look.</summary>
    internal static AlertSeverity Severity(CheckState state) => state switch
    {
        CheckState.Ok => AlertSeverity.Ok,
        CheckState.Critical => AlertSeverity.Critical,
        _ => AlertSeverity.Warning,
    };

    internal static void Logged(DaemonLog log, DispatchResult result, string cluster)
    {
        if (result.Alert is not { } alert) return;
        foreach (var channel in result.Channels)
        {
            if (channel.Ok) log.Info($"alert sent: {alert.Subject}", ("cluster", cluster), ("channel", channel.Channel));
            else log.Warn($"alert not delivered: {channel.Error}", ("cluster", cluster), ("channel", channel.Channel), ("code", ErrorCode.AlertFailed.WireName()));
        }
    }

    private sealed class WatchProgress(DaemonLog log, string cluster) : IProgressSink
    {
        public void Info(string message) { }

        public void Warn(string message) => log.Warn(message, ("cluster", cluster), ("task", "status"));

        public IProgressTask Start(string description, long? totalBytes = null) => NullProgress.Instance.Start(description, totalBytes);
    }
}

/// <summary>Sends an alert when a scheduled task fails (and a recovery when it succeeds again).</summary>
public sealed class AlertObserver(Func<AlertDispatcher?> alerts, DaemonLog log) : ITaskObserver
{
    public void TaskStarted(string cluster, string task, string what) { }

    public void TaskFinished(TaskOutcome outcome)
    {
        if (outcome.Result is not (TaskResults.Success or TaskResults.Failure) || alerts() is not { } dispatcher) return;
        bool ok = outcome.Result == TaskResults.Success;
        _ = Task.Run(async () =>
        {
            try
            {
                var result = await dispatcher.TaskFinishedAsync(outcome.Cluster, outcome.Task, ok, outcome.ErrorCode, ok ? null : outcome.Message).ConfigureAwait(false);
                DaemonWatch.Logged(log, result, outcome.Cluster);
            }
            catch (Exception e) when (e is PgVaultException or IOException or InvalidOperationException)
            {
                log.Warn("alert not sent: " + e.Message, ("cluster", outcome.Cluster), ("task", outcome.Task));
            }
        });
    }
}
