using System.Globalization;
using System.Text;

namespace PgVault.Core.Monitor;

/// <summary>
/// The Prometheus text exposition format (version 0.0.4) of cluster states: HELP and TYPE once per
/// metric, label values escaped, samples of a metric together. Written here rather than with a
/// metrics library: the values are computed per scrape by <see cref="ClusterMonitor"/>, there is no
/// registry to keep, and it stays AOT-clean. Checked against `promtool check metrics` in the tests.
/// Every metric is documented in docs/monitoring.md.
/// </summary>
public static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private sealed record Sample(IReadOnlyList<(string Name, string Value)> Labels, double Value);

    private sealed class Family(string name, string type, string help)
    {
        public string Name => name;
        public string Type => type;
        public string Help => help;
        public List<Sample> Samples { get; } = [];

        public void Add(double? value, params (string, string)[] labels)
        {
            if (value is { } v) Samples.Add(new Sample(labels, v));
        }
    }

    public static string Render(IReadOnlyList<ClusterStatus> clusters, IReadOnlyList<TaskRunCount>? taskRuns = null)
    {
        Family F(string name, string type, string help) => new(name, type, help);
        var lastSuccess = F("pgvault_backup_last_success_timestamp_seconds", "gauge", "End time of the newest complete backup of each type in each repository (Unix seconds).");
        var lastDuration = F("pgvault_backup_last_duration_seconds", "gauge", "Duration of the newest complete backup of each type in each repository.");
        var lastSize = F("pgvault_backup_last_size_bytes", "gauge", "Size of the data read by the newest complete backup of each type (before compression).");
        var lastStored = F("pgvault_backup_last_stored_bytes", "gauge", "Bytes stored for the newest complete backup of each type (after compression and encryption).");
        var count = F("pgvault_backups", "gauge", "Complete backups kept, by repository and type.");
        var walLast = F("pgvault_wal_last_archived_timestamp_seconds", "gauge", "When the newest archived WAL segment was stored in the repository (Unix seconds).");
        var walFailures = F("pgvault_wal_archive_failures_total", "counter", "Failed archive_command runs reported by pg_stat_archiver since its last reset.");
        var walReady = F("pgvault_wal_ready_files", "gauge", "WAL segments waiting for archive_command (.ready files in pg_wal/archive_status).");
        var window = F("pgvault_recovery_window_seconds", "gauge", "Length of the point-in-time recovery window: from its start to the newest archived WAL.");
        var rpo = F("pgvault_rpo_seconds", "gauge", "Current recovery point: seconds since the newest archived WAL (or the newest backup when no WAL is archived).");
        var rto = F("pgvault_rto_seconds", "gauge", "Recovery time measured by the newest passed restore drill.");
        var objRpo = F("pgvault_objective_rpo_seconds", "gauge", "Recovery point objective of the cluster (clusters.NAME.objectives.rpo).");
        var objRto = F("pgvault_objective_rto_seconds", "gauge", "Recovery time objective of the cluster (clusters.NAME.objectives.rto).");
        var verify = F("pgvault_verify_last_success_timestamp_seconds", "gauge", "Time of the newest verify run that found everything valid (Unix seconds).");
        var drill = F("pgvault_drill_last_success_timestamp_seconds", "gauge", "End time of the newest passed restore drill (Unix seconds).");
        var runs = F("pgvault_task_runs_total", "counter", "Daemon task runs by task and result since the daemon started.");
        var lag = F("pgvault_replication_lag_bytes", "gauge", "Replay lag of each standby in bytes behind the primary's current WAL position (pg_stat_replication).");
        var repoSize = F("pgvault_repository_size_bytes", "gauge", "Bytes the cluster stores in the repository (sum of its listed objects).");
        var repoFree = F("pgvault_repository_free_bytes", "gauge", "Free bytes of a filesystem repository's filesystem.");
        var serverUp = F("pgvault_server_up", "gauge", "1 when the cluster's server answered the status queries, else 0.");
        var check = F("pgvault_check_state", "gauge", "State of each status check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");

        foreach (var c in clusters)
        {
            var cl = ("cluster", c.Cluster);
            foreach (var b in c.Backups)
            {
                (string, string)[] labels = [cl, ("repository", b.Repository), ("type", b.Type)];
                lastSuccess.Add(b.LastFinishedAt.ToUnixTimeMilliseconds() / 1000.0, labels);
                lastDuration.Add(b.LastDurationSeconds, labels);
                lastSize.Add(b.LastSizeBytes, labels);
                lastStored.Add(b.LastStoredBytes, labels);
                count.Add(b.Count, labels);
            }
            foreach (var w in c.Wal) walLast.Add(w.NewestArchivedAt?.ToUnixTimeMilliseconds() / 1000.0, cl, ("repository", w.Repository));
            walFailures.Add(c.Server.Archiver?.FailedCount, cl);
            walReady.Add(c.Server.ReadyFiles, cl);
            window.Add(c.Recovery.WindowSeconds, cl);
            rpo.Add(c.Recovery.RpoSeconds, cl);
            rto.Add(c.Recovery.RtoSeconds, cl);
            objRpo.Add(c.Recovery.ObjectiveRpoSeconds, cl);
            objRto.Add(c.Recovery.ObjectiveRtoSeconds, cl);
            verify.Add(c.LastVerify?.LastSuccessAt?.ToUnixTimeMilliseconds() / 1000.0, cl);
            drill.Add(c.LastDrill?.LastSuccessAt?.ToUnixTimeMilliseconds() / 1000.0, cl);
            foreach (var r in c.Server.Replication) lag.Add(r.ReplayLagBytes, cl, ("application_name", r.ApplicationName));
            foreach (var r in c.Repositories.Where(r => r.Error is null))
            {
                repoSize.Add(r.SizeBytes, cl, ("repository", r.Repository));
                repoFree.Add(r.FreeBytes, cl, ("repository", r.Repository));
            }
            serverUp.Add(c.Server.Reachable ? 1 : 0, cl);
            foreach (var k in c.Checks) check.Add((int)k.State, cl, ("check", k.Name));
        }
        foreach (var t in taskRuns ?? []) runs.Add(t.Count, ("cluster", t.Cluster), ("task", t.Task), ("result", t.Result));

        var text = new StringBuilder();
        foreach (var family in new[] { lastSuccess, lastDuration, lastSize, lastStored, count, walLast, walFailures, walReady, window, rpo, rto, objRpo, objRto, verify, drill, runs, lag, repoSize, repoFree, serverUp, check })
        {
            if (family.Samples.Count == 0) continue;
            text.Append("# HELP ").Append(family.Name).Append(' ').Append(EscapeHelp(family.Help)).Append('\n');
            text.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Type).Append('\n');
            foreach (var sample in family.Samples)
            {
                text.Append(family.Name);
                if (sample.Labels.Count > 0)
                {
                    text.Append('{');
                    for (int i = 0; i < sample.Labels.Count; i++)
                    {
                        if (i > 0) text.Append(',');
                        text.Append(sample.Labels[i].Name).Append("=\"").Append(EscapeLabel(sample.Labels[i].Value)).Append('"');
                    }
                    text.Append('}');
                }
                text.Append(' ').Append(Number(sample.Value)).Append('\n');
            }
        }
        return text.ToString();
    }

    /// <summary>A label value: backslash, double quote and line feed escaped.</summary>
    public static string EscapeLabel(string value) =>
        value.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    /// <summary>A HELP text: backslash and line feed escaped.</summary>
    public static string EscapeHelp(string value) =>
        value.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    public static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };
}
