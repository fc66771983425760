using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Core;
using PgVault.Core.Alerts;
using PgVault.Core.Config;
using PgVault.Core.Drill;
using PgVault.Core.Errors;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault drill`: restore a backup into a scratch place, validate it, time it, record it; `--list` shows the records.</summary>
internal static class DrillCommand
{
    private static readonly Option<string> Backup = new("--backup", "-b") { Description = "Backup id to drill, or 'latest' (the newest backup of any kind)", DefaultValueFactory = _ => "latest" };
    private static readonly Option<string?> Target = new("--target") { Description = "Physical backups: latest (default: to the end of the archive), immediate (the backup's end), random (a time in the recoverable window, recorded), a time stamp, or a restore point name" };
    private static readonly Option<string?> Checks = new("--checks") { Description = "YAML file of more checks ({name, sql, expect, database} items), run after clusters.NAME.drills.checks" };
    private static readonly Option<bool> IntoCluster = new("--into-cluster") { Description = "Logical backups: restore into scratch databases (pgvault_drill_*) on the cluster's own server instead of a sandbox cluster" };
    private static readonly Option<bool> HeapAllIndexed = new("--heapallindexed") { Description = "pg_amcheck --heapallindexed: also check that every heap tuple has its index entries (slower)" };
    private static readonly Option<string?> ScratchDir = new("--scratch-dir") { Description = "Directory for the scratch place (default: clusters.NAME.drills.scratch_dir, else /var/tmp/pgvault-drills)" };
    private static readonly Option<int?> Parallel = new("--parallel") { Description = "Physical: files restored at once (default: the cluster's parallel, else 2)" };
    private static readonly Option<bool> List = new("--list") { Description = "Show the stored drill records of the cluster instead of running a drill" };

    public static Command Build()
    {
        var command = new Command("drill", "Prove a backup: restore it into a scratch place PgVault makes and removes, check it (pg_amcheck, tables, your queries), measure the RTO, store the record")
        {
            Backup, Target, Checks, IntoCluster, HeapAllIndexed, ScratchDir, Parallel, List,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        if (result.GetValue(List))
        {
            var records = await new Drill(vault, new WarnOnly(renderer)).ListAsync(ct).ConfigureAwait(false);
            if (renderer.Json) renderer.WriteJson(records, DrillJson.Default.ListDrillRecord);
            else if (records.Count == 0) renderer.Line($"no drills recorded for cluster '{vault.Cluster.Name}'");
            else renderer.Table(["id", "backup", "target", "result", "rto", "restore", "startup", "wal replay", "checks", "restored", "failure"],
                records.Select(r => new[]
                {
                    r.Id, r.Backup, r.TargetValue is { } v ? $"{r.Target} {v}" : r.Target, r.Result, Units.Duration(r.RtoSeconds), Units.Duration(r.RestoreSeconds),
                    Units.Duration(r.StartupSeconds), Units.Duration(r.WalReplaySeconds), Units.Duration(r.ChecksSeconds), Units.Bytes(r.BytesRestored),
                    r.Failure is { } f ? $"{r.FailedPhase}: {(f.Length > 60 ? f[..57] + "..." : f)}" : "",
                }));
            return 0;
        }
        var options = new DrillOptions
        {
            BackupId = result.GetValue(Backup)!,
            Target = result.GetValue(Target),
            ExtraChecks = result.GetValue(Checks) is { } file ? ConfigLoader.LoadChecks(file) : [],
            IntoCluster = result.GetValue(IntoCluster),
            HeapAllIndexed = result.GetValue(HeapAllIndexed),
            ScratchDir = result.GetValue(ScratchDir),
            Parallel = vault.Settings.Parallel(result.GetValue(Parallel)),
        };
        var record = await renderer.WithProgressAsync(p => new Drill(vault, p).RunAsync(options, ct)).ConfigureAwait(false);
        await BackupLog.For(vault, new WarnOnly(renderer)).DrillAsync(record, ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(record, DrillJson.Default.DrillRecord);
        else
        {
            renderer.Line($"drill {record.Id} of backup {record.Backup} ({record.BackupType}, target {record.Target}{(record.TargetValue is { } v ? " " + v : "")}): {record.Result.ToUpperInvariant()}");
            renderer.Line($"  RTO {Units.Duration(record.RtoSeconds)}: restore {Units.Duration(record.RestoreSeconds)} ({Units.Bytes(record.BytesRestored)}), start-up {Units.Duration(record.StartupSeconds)}, " +
                $"WAL replay {Units.Duration(record.WalReplaySeconds)} ({Units.Bytes(record.WalReplayedBytes)}), checks {Units.Duration(record.ChecksSeconds)}");
            foreach (var c in record.Checks)
                renderer.Line($"  {(c.Result == DrillRecord.Passed ? "ok  " : "FAIL")} {c.Kind} {c.Name}{(c.Detail is { } d ? ": " + d : "")}");
            foreach (var n in record.Notes) renderer.Line($"  note: {n}");
        }
        if (record.Result == DrillRecord.Passed) return 0;
        // The record (stored too) is the output; the error line goes to stderr only.
        renderer.Error($"drill {record.Id} failed in phase {record.FailedPhase}: {record.Failure}", "the record is stored; see 'pgvault drill --list'");
        return (int)ErrorCode.DrillFailed.Kind();
    }
}
