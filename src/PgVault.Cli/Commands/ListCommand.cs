using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Repository;
using PgVault.Core.Retention;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault list`: the catalog of complete backups of the cluster, oldest first, with the repositories holding each.</summary>
internal static class ListCommand
{
    private static readonly Option<bool> RestorePointsOption = new("--restore-points") { Description = "List the recorded restore points instead of backups" };

    public static Command Build()
    {
        var command = new Command("list", "List the complete backups of the cluster, oldest first, and which repositories hold each") { RestorePointsOption };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var catalogs = await context.OpenCatalogsAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false);
        if (result.GetValue(RestorePointsOption))
        {
            var points = await new PgVault.Core.Wal.RestorePoints(catalogs.Catalogs.Select(c => c.Repository).ToList(), context.Cluster.Name).ListAsync(ct).ConfigureAwait(false);
            if (renderer.Json) renderer.WriteJson(points, RepositoryJson.Default.ListRestorePointRecord);
            else if (points.Count == 0) renderer.Line($"no restore points recorded for cluster '{context.Cluster.Name}'");
            else renderer.Table(["name", "time", "lsn", "timeline"], points.Select(p => new[] { p.Name, p.Time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), p.Lsn, p.Timeline.ToString(CultureInfo.InvariantCulture) }));
            return 0;
        }
        var rows = await catalogs.ListHeadersAsync(new WarnOnly(renderer), ct).ConfigureAwait(false);
        var plan = await RetentionView.PlanAsync(context.Cluster, catalogs, rows.Select(r => r.Header).ToList(), new WarnOnly(renderer), ct).ConfigureAwait(false);
        string? Recovery(BackupHeader h) => plan?.Decisions.FirstOrDefault(d => d.Id == h.Id) is { } d ? RetentionView.Label(d) : null;
        if (renderer.Json)
        {
            renderer.WriteJson(rows.Select(r => BackupSummary.From(r.Header, [.. r.Holders.Select(h => h.Repository.Name)]) with { Recovery = Recovery(r.Header) }).ToList(),
                CliJson.Default.ListBackupSummary);
            return 0;
        }
        if (rows.Count == 0)
        {
            renderer.Line($"no backups of cluster '{context.Cluster.Name}' in repository {catalogs.Names}");
            return 0;
        }
        string Time(DateTimeOffset t) => t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        string[] header = ["id", "type", "cluster", "databases", "started", "finished", "duration", "size", "stored", "compression", "encrypted", "status", "repositories"];
        renderer.Table(plan == null ? header : [.. header, "recovery"],
            rows.Select(r =>
            {
                var m = r.Header;
                string[] row =
                [
                    m.Id, m.Type, m.Cluster, Databases(m), Time(m.StartedAt), Time(m.FinishedAt), Units.Duration(m.DurationSeconds),
                    Units.Bytes(m.SizeBytes), Units.Bytes(m.StoredBytes), m.Compression, m.Encrypted ? "yes" : "no", m.Status,
                    string.Join(",", r.Holders.Select(h => h.Repository.Name)),
                ];
                return plan == null ? row : [.. row, Recovery(m) ?? ""];
            }));
        if (plan?.RecoverableFrom is { } from)
            renderer.Line($"recoverable to any time from {Time(from)} (end of backup {plan.PitrAnchor}) to the newest archived WAL; 'consistent' backups restore to their end only");
        return 0;
    }

    internal static string Databases(BackupManifest m) => Databases(m.Header);

    internal static string Databases(BackupHeader m)
    {
        if (m.Physical is { } physical)
            return physical.Reference is { } reference ? $"[cluster] ref {reference}" : "[cluster]";
        string text = string.Join(",", m.Databases);
        if (m.Globals != null) text += (text.Length > 0 ? "," : "") + "[globals]";
        return text.Length > 40 ? text[..37] + "..." : text;
    }
}
