using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Daemon;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault daemon`: runs the configured schedules in the foreground (for systemd), serves
/// /metrics and /healthz; SIGTERM/SIGINT stop it (exit 0), SIGHUP reloads the configuration.
/// `--check-config` validates the configuration and prints the next run of every schedule.
/// </summary>
internal static class DaemonCommand
{
    private static readonly Option<bool> CheckConfig = new("--check-config") { Description = "Validate the configuration (schedules, daemon: section) and print the next run of each schedule, then exit" };

    public static Command Build()
    {
        var command = new Command("daemon", "Run the schedules of clusters.NAME.schedules (and {task: wal-stream} from start to stop) in the foreground, send alerts through alerts.channels, serve /metrics and /healthz on daemon.listen; SIGTERM stops, SIGHUP reloads the configuration")
        {
            CheckConfig,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var config = DaemonHost.LoadConfig(Globals.Read(result).ConfigFile);
        if (result.GetValue(CheckConfig))
        {
            var runs = DaemonHost.NextRuns(config, DateTimeOffset.UtcNow);
            if (renderer.Json) renderer.WriteJson(runs.ToList(), DaemonJson.Default.ListScheduleInfo);
            else
            {
                renderer.Line($"config {config.SourceFile}: OK, {runs.Count} schedule(s); listen {config.Daemon.Listen}, max_concurrent {config.Daemon.MaxConcurrent}");
                renderer.Table(["cluster", "task", "when", "time zone", "next run (UTC)"],
                    runs.Select(r => new[] { r.Cluster, r.What, r.When, r.TimeZone, r.NextRun?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? (r.When == "continuously" ? "from start to stop" : "never") }));
            }
            return 0;
        }
        var log = new DaemonLog(Console.Error, config.Daemon.LogFormat == "json");
        // ct is SIGTERM/SIGINT: the scheduler stops taking tasks and drains; that is a clean exit.
        await new DaemonHost(config, log).RunAsync(ct).ConfigureAwait(false);
        return 0;
    }
}
