using System.Runtime.InteropServices;
using PgVault.Core.Config;
using PgVault.Core.Errors;

namespace PgVault.Core.Daemon;

/// <summary>One schedule as <c>pgvault daemon --check-config</c> shows it.</summary>
public sealed record ScheduleInfo(string Cluster, string Task, string What, string When, string TimeZone, DateTimeOffset? NextRun);

/// <summary>
/// <c>pgvault daemon</c>: the scheduler, SIGHUP reloads, and the HTTP endpoint, run in the
/// foreground until <c>stop</c> (SIGTERM/SIGINT, which the CLI turns into that token). Hooks for
/// the monitor and alerts: <see cref="Observers"/> and <see cref="Metrics"/>.
/// </summary>
public sealed class DaemonHost(PgVaultConfig config, DaemonLog log, ITaskRunner? runner = null)
{
    /// <summary>Told about every task run (alerts); the run counter is added by the host itself.</summary>
    public List<ITaskObserver> Observers { get; } = [];

    /// <summary>The body of GET /metrics; by default pgvault_task_runs_total alone (<see cref="TaskRunCounter.RenderPrometheus"/>).</summary>
    public Func<TaskRunCounter, Func<CancellationToken, Task<string>>> Metrics { get; set; } =
        counter => _ => Task.FromResult(TaskRunCounter.RenderPrometheus(counter.Snapshot()));

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
            .SelectMany(c => c.Value.Schedules.Select(s => new ScheduleInfo(c.Key, s.TaskName, s.What, s.When, s.Every != null ? "UTC" : s.TimeZone.Id, ScheduleClock.Next(s, now))))
            .ToList();

    public async Task RunAsync(CancellationToken stop)
    {
        var counter = new TaskRunCounter();
        var scheduler = new Scheduler(config, runner ?? new CapabilityRunner(), log, counter, Observers);
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(() => Reload(scheduler));
        });
        var endpoint = ConfigLoader.ParseListen(config.Daemon.Listen)!;
        await using var server = await MetricsServer.StartAsync(endpoint, ReadToken(config.Daemon), () => scheduler.Running, Metrics(counter), stop).ConfigureAwait(false);
        log.Info("serving /metrics and /healthz", ("listen", config.Daemon.Listen), ("token", config.Daemon.MetricsTokenFile is null ? "none" : "required"));
        await scheduler.RunAsync(stop).ConfigureAwait(false);
        log.Info("daemon stopped");
    }

    private void Reload(Scheduler scheduler)
    {
        string file = scheduler.Config.SourceFile!;
        log.Info("SIGHUP: reloading the configuration", ("file", file));
        try
        {
            scheduler.Reload(LoadConfig(file));
        }
        catch (PgVaultException e)
        {
            log.Error("configuration not reloaded, keeping the previous one: " + e.Message, ("file", file));
        }
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
