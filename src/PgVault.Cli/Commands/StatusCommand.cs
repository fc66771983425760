using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Monitor;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault status`: every check of one cluster (--cluster) or of every configured cluster, from the
/// monitor the daemon's metrics and alerts also use. Exit: 0 OK, 3 WARNING or UNKNOWN, 1 CRITICAL;
/// with --nagios the plugin convention 0/1/2/3 and the plugin output format.
/// </summary>
internal static class StatusCommand
{
    private static readonly Option<bool> Nagios = new("--nagios")
    {
        Description = "Print the Nagios plugin format (state line with performance data, one line per further problem) and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    };
    private static readonly Option<bool> Prometheus = new("--prometheus")
    {
        Description = "Print the metrics in the Prometheus text format (what the daemon serves on /metrics; also for node_exporter's textfile collector)",
    };
    private static readonly Option<int> Timeout = new("--timeout")
    {
        Description = "Seconds to wait for each server before its checks become UNKNOWN (default 10)",
        DefaultValueFactory = _ => 10,
    };

    public static Command Build()
    {
        var command = new Command("status", "Show backups, WAL archiving, replication, verify and drill results and repository space of each cluster, checked against the alert thresholds")
        {
            Nagios, Prometheus, Timeout,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var globals = Globals.Read(result);
        int seconds = result.GetValue(Timeout);
        if (seconds is < 1 or > 3600) throw Core.Errors.PgVaultException.Usage($"--timeout {seconds} must be from 1 to 3600 seconds");
        if (result.GetValue(Nagios) && result.GetValue(Prometheus)) throw Core.Errors.PgVaultException.Usage("--nagios and --prometheus are two output formats; give one of them");
        var options = new StatusOptions { ServerTimeout = TimeSpan.FromSeconds(seconds) };
        var statuses = new List<ClusterStatus>();
        foreach (var name in ClusterNames(globals))
        {
            var vault = Vault.Open(globals with { Cluster = name ?? globals.Cluster });
            statuses.Add(await new ClusterMonitor(vault, new WarnOnly(renderer)).RunAsync(options, ct).ConfigureAwait(false));
        }
        var state = CheckStates.Worst(statuses.Select(s => s.State));
        if (result.GetValue(Prometheus))
        {
            Console.Out.Write(PrometheusText.Render(statuses));
            return 0;
        }
        if (result.GetValue(Nagios))
        {
            var (exit, text) = NagiosText.Render(statuses);
            Console.Out.Write(text);
            return exit;
        }
        if (renderer.Json) renderer.WriteJson(new StatusReport(state, statuses), MonitorJson.Default.StatusReport);
        else foreach (var s in statuses) Print(renderer, s);
        return state switch { CheckState.Ok => 0, CheckState.Critical => 1, _ => 3 };
    }

    /// <summary>--cluster, else every configured cluster (null: the one a command would take by default).</summary>
    private static IReadOnlyList<string?> ClusterNames(GlobalOptions globals)
    {
        if (globals.Cluster != null) return [globals.Cluster];
        var config = ConfigLoader.Locate(globals.ConfigFile) is { } file ? ConfigLoader.Load(file) : PgVaultConfig.Empty;
        return config.Clusters.Count > 1 ? [.. config.Clusters.Keys.Order(StringComparer.Ordinal)] : [null];
    }

    private static string Time(DateTimeOffset? t) => t?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-";

    private static string Age(double? seconds) => seconds is { } s ? StatusChecks.AgeText(s) : "-";

    private static void Print(Renderer renderer, ClusterStatus s)
    {
        renderer.Line($"cluster {s.Cluster}: {s.State.Name()}");
        renderer.Table(["check", "state", "value", "warning", "critical", "message"], s.Checks.Select(c => new[]
        {
            c.Name, c.State.Name(), Value(c, c.Value), Value(c, c.Warning), Value(c, c.Critical), c.Message,
        }));
        renderer.Line("");
        if (s.Backups.Count > 0)
            renderer.Table(["type", "repository", "kept", "newest", "finished", "age", "duration", "size", "stored"], s.Backups.Select(b => new[]
            {
                b.Type, b.Repository, b.Count.ToString(CultureInfo.InvariantCulture), b.LastId, Time(b.LastFinishedAt), Age(b.LastAgeSeconds),
                Units.Duration(b.LastDurationSeconds), Units.Bytes(b.LastSizeBytes), Units.Bytes(b.LastStoredBytes),
            }));
        else renderer.Line("backups: none");
        foreach (var w in s.Wal)
            renderer.Line(w.NewestSegment is null ? $"WAL ({w.Repository}): nothing archived" : $"WAL ({w.Repository}): newest {w.NewestSegment}, archived {Age(w.AgeSeconds)} ago; {w.Segments} segments");
        var server = s.Server;
        if (!server.Reachable) renderer.Line($"server: UNKNOWN ({server.Error})");
        else if (server.Archiver is { } a)
            renderer.Line($"server: archive_mode {(a.ArchiveMode ? "on" : "off")}{(a.InRecovery ? ", standby" : "")}; archived {a.ArchivedCount} (last {a.LastArchivedWal ?? "-"} at {Time(a.LastArchivedTime)}), "
                + $"failed {a.FailedCount} (last {a.LastFailedWal ?? "-"} at {Time(a.LastFailedTime)}); .ready files: {server.ReadyFiles?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}");
        if (server.Replication.Count > 0)
            renderer.Table(["standby", "state", "sync", "sent lag", "flush lag", "replay lag", "write s", "flush s", "replay s"], server.Replication.Select(r => new[]
            {
                r.ApplicationName, r.State, r.SyncState ?? "", Bytes(r.SentLagBytes), Bytes(r.FlushLagBytes), Bytes(r.ReplayLagBytes),
                Seconds(r.WriteLagSeconds), Seconds(r.FlushLagSeconds), Seconds(r.ReplayLagSeconds),
            }));
        if (server.Slots.Count > 0)
            renderer.Table(["slot", "type", "active", "wal status", "retained WAL"], server.Slots.Select(x => new[]
            {
                x.SlotName, x.SlotType, x.Active ? "yes" : "no", x.WalStatus ?? "", Bytes(x.RetainedBytes),
            }));
        var r2 = s.Recovery;
        renderer.Line($"recoverable: from {Time(r2.RecoverableFrom)} to {Time(r2.RecoverableTo)} (window {Age(r2.WindowSeconds)}); RPO {Age(r2.RpoSeconds)}"
            + (r2.ObjectiveRpoSeconds is { } orpo ? $" (objective {Age(orpo)})" : "") + $"; RTO {(r2.RtoSeconds is { } rto ? Units.Duration(rto) : "-")}"
            + (r2.ObjectiveRtoSeconds is { } orto ? $" (objective {Age(orto)})" : ""));
        renderer.Line(s.LastVerify is { } v ? $"last verify: {(v.Valid ? "valid" : $"{v.Problems} problem(s)")} at {Time(v.Time)} ({Age(v.AgeSeconds)} ago, {v.Mode})" : "last verify: none");
        renderer.Line(s.LastDrill is { } d ? $"last drill: {d.Result} at {Time(d.FinishedAt)} ({Age(d.AgeSeconds)} ago), backup {d.Backup}, RTO {Units.Duration(d.RtoSeconds)}" : "last drill: none");
        foreach (var repo in s.Repositories)
            renderer.Line(repo.Error is { } error ? $"repository {repo.Repository}: unreadable ({error})"
                : $"repository {repo.Repository}: {Units.Bytes(repo.SizeBytes)} in {repo.Objects} objects"
                  + (repo.FreeBytes is { } free ? $"; {Units.Bytes(free)} free of {Units.Bytes(repo.TotalBytes ?? 0)}" : ""));
        if (s.LastFailure is { } failure) renderer.Line($"last failure: {failure}");
        renderer.Line("");
    }

    private static string Value(StatusCheck c, double? value) => value is not { } v ? "-" : c.Unit switch
    {
        "s" => StatusChecks.AgeText(v),
        "%" => v.ToString("0.#", CultureInfo.InvariantCulture) + "%",
        _ => v.ToString("0", CultureInfo.InvariantCulture),
    };

    private static string Bytes(long? bytes) => bytes is { } b ? Units.Bytes(b) : "-";

    private static string Seconds(double? seconds) => seconds is { } s ? s.ToString("0.###", CultureInfo.InvariantCulture) : "-";
}
