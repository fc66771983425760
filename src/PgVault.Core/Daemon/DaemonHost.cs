using System.Runtime.InteropServices;
using PgVault.Core.Alerts;
using PgVault.Core.Config;
using PgVault.Core.Errors;

namespace PgVault.Core.Daemon;

/// <summary>One schedule as <c>pgvault daemon --check-config</c> shows it.</summary>
public sealed record ScheduleInfo(string Cluster, string Task, string What, string When, string TimeZone, DateTimeOffset? NextRun);

/// <summary>
/// <c>pgvault daemon</c>: the scheduler, SIGHUP reloads, and the HTTP endpoint, run in the
/// foreground until <c>stop</c> (SIGTERM/SIGINT, which the CLI turns into that token). Hooks for
/// the monitor and alerts: <see cref="DaemonWatch"/> (checks → alerts, /metrics) and <see cref="AlertObserver"/> (task failures → alerts).
/// </summary>
public sealed class DaemonHost(PgVaultConfig config, DaemonLog log, ITaskRunner? runner = null)
{
    private AlertDispatcher? _alerts;

    /// <summary>Told about every task run; the run counter and the alerts are added by the host itself.</summary>
    public List<ITaskObserver> Observers { get; } = [];

    /// <summary>Loads and checks the configuration the daemon runs on (it must come from a file, which SIGHUP reads again).</summary>
    public static PgVaultConfig LoadConfig(string? flag)
    {
        string file = ConfigLoader.Locate(flag)
            ?? throw new PgVaultException(ErrorCode.ConfigInvalid, "the daemon needs a configuration file with clusters.NAME.schedules", $"pass --config FILE, set {ConfigLoader.EnvironmentVariable} or create {ConfigLoader.DefaultPath}");
        var config = ConfigLoader.Load(file);
        if (!config.Clusters.Values.Any(c => c.Schedules.Count > 0))
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"config {config.SourceFile}: no cluster has schedules: the daemon would have nothing to do", "add clusters.NAME.schedules (see docs/daemon.md)");
        ReadToken(config.Daemon);
        return config;
    }

    /// <summary>Every schedule with its next run after <paramref name="now"/>.</summary>
    public static IReadOnlyList<ScheduleInfo> NextRuns(PgVaultConfig config, DateTimeOffset now) =>
        config.Clusters.OrderBy(c => c.Key, StringComparer.Ordinal)
            .SelectMany(c => c.Value.Schedules.Select(s => new ScheduleInfo(c.Key, s.TaskName, s.What, s.When, s.Every != null ? "UTC" : s.TimeZone.Id, s.Continuous ? null : ScheduleClock.Next(s, now))))
            .ToList();

    public async Task RunAsync(CancellationToken stop)
    {
        var counter = new TaskRunCounter();
        _alerts = Dispatcher(config);
        ITaskObserver[] observers = [new AlertObserver(() => _alerts, log), .. Observers];
        var scheduler = new Scheduler(config, runner ?? new CapabilityRunner(), log, counter, observers);
        var watch = new DaemonWatch(() => scheduler.Config, log, () => _alerts);
        var streams = new StreamSupervisor(log, [counter, .. observers]);
        IO.SignalMask.RestoreIgnoredHangup(); // nohup: the reload would be lost otherwise
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(() => Reload(scheduler));
        });
        var endpoint = ConfigLoader.ParseListen(config.Daemon.Listen)!;
        await using var server = await MetricsServer.StartAsync(endpoint, ReadToken(config.Daemon), () => scheduler.Running, async ct => await watch.MetricsAsync(counter, ct).ConfigureAwait(false) + StreamSupervisor.RenderPrometheus(streams.Statuses()), stop).ConfigureAwait(false);
        log.Info("serving /metrics and /healthz", ("listen", config.Daemon.Listen), ("token", config.Daemon.MetricsTokenFile is null ? "none" : "required"));
        var watching = watch.RunAsync(stop);
        var streaming = streams.RunAsync(config, stop);
        await scheduler.RunAsync(stop).ConfigureAwait(false);
        await watching.ConfigureAwait(false);
        await streaming.ConfigureAwait(false);
        log.Info("daemon stopped");
    }

    private void Reload(Scheduler scheduler)
    {
        string file = scheduler.Config.SourceFile!;
        log.Info("SIGHUP: reloading the configuration", ("file", file));
        try
        {
            var reloaded = LoadConfig(file);
            if (!StreamSupervisor.Clusters(reloaded).SequenceEqual(StreamSupervisor.Clusters(scheduler.Config)))
                log.Warn("wal-stream tasks start and stop with the daemon: the changed list takes effect at the next start");
            scheduler.Reload(reloaded);
            _alerts = Dispatcher(reloaded);
        }
        catch (PgVaultException e)
        {
            log.Error("configuration not reloaded, keeping the previous one: " + e.Message, ("file", file));
        }
    }

    /// <summary>The alert dispatcher of alerts.channels (null: none configured); its state file sits beside the daemon's.</summary>
    private AlertDispatcher? Dispatcher(PgVaultConfig current)
    {
        if (current.AlertDelivery.Channels.Count == 0) return null;
        string state = Path.Combine(Path.GetDirectoryName(current.Daemon.StateFile)!, "alert-state.json");
        return new AlertDispatcher(current.AlertDelivery, new AlertProgress(log), state);
    }

    private sealed class AlertProgress(DaemonLog log) : Progress.IProgressSink
    {
        public void Info(string message) => log.Info(message, ("task", "alert"));

        public void Warn(string message) => log.Warn(message, ("task", "alert"));

        public Progress.IProgressTask Start(string description, long? totalBytes = null) => Progress.NullProgress.Instance.Start(description, totalBytes);
    }

    /// <summary>The Bearer token from daemon.metrics_token_file, or null when none is configured.</summary>
    private static string? ReadToken(DaemonConfig daemon)
    {
        if (daemon.MetricsTokenFile is not { } file) return null;
        string token;
        try
        {
            token = File.ReadAllText(file).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"unable to read daemon.metrics_token_file '{file}': {e.Message}");
        }
        if (token.Length < 16 || token.Any(char.IsWhiteSpace))
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"daemon.metrics_token_file '{file}' must hold one token of at least 16 characters without spaces", "e.g. openssl rand -hex 32 > FILE");
        return token;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(List<ScheduleInfo>))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
public sealed partial class DaemonJson : System.Text.Json.Serialization.JsonSerializerContext;
