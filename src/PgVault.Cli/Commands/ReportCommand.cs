using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Errors;
using PgVault.Core.Report;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault report`: measured RPO and RTO against the cluster's objectives (docs/report.md).</summary>
internal static class ReportCommand
{
    private static readonly Option<string> Since = new("--since") { Description = "Period the worst RPO is looked for in (e.g. 30d, 12h)", DefaultValueFactory = _ => "30d" };

    public static Command Build()
    {
        var command = new Command("report", "Measured RPO (archive times) and RTO (drills), the recoverable window and PASS/FAIL against clusters.NAME.objectives; exit 1 when an objective is missed")
        {
            Since,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        string since = result.GetValue(Since)!;
        if (!Units.TryParseDuration(since, out var period)) throw PgVaultException.Usage($"--since '{since}' is not a span", "write it as 30d, 12h or 2w");
        var vault = Vault.Open(Globals.Read(result));
        var report = await new ObjectivesReport(vault, new WarnOnly(renderer)).RunAsync(new ReportOptions(period), ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(report, CliJson.Default.ReportResult);
        else Print(renderer, report);
        if (report.AllPass) return 0;
        foreach (var missed in report.Objectives.Where(o => !o.Pass)) renderer.Error($"objective {missed.Objective} ({missed.Target}) missed: {missed.Reason}", null);
        return (int)ErrorCode.ObjectiveMissed.Kind();
    }

    private static void Print(Renderer renderer, ReportResult r)
    {
        static string T(DateTimeOffset? t) => t is { } v ? v.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "-";
        renderer.Line($"cluster {r.Cluster}: report over the last {ObjectivesReport.Seconds((r.Now - r.Since).TotalSeconds)}");
        renderer.Line($"  RPO now         {(r.CurrentRpoSeconds is { } c ? $"{ObjectivesReport.Seconds(c)} (newest archived WAL {r.NewestWal} at {T(r.NewestWalTime)})" : "unknown: no WAL archived")}");
        renderer.Line($"  RPO worst       {(r.WorstRpoSeconds is { } w ? $"{ObjectivesReport.Seconds(w)} without an archived segment, until {T(r.WorstRpoEndedAt)}" : "-")}");
        renderer.Line($"  recoverable     {T(r.RecoverableFrom)} .. {T(r.RecoverableTo)}");
        renderer.Line($"  last drill      {(r.LastDrill is { } d ? $"{d.Id} {d.Result}, RTO {ObjectivesReport.Seconds(d.RtoSeconds)} ({d.BackupType} backup {d.Backup}, {Units.Bytes(d.BytesRestored)} restored)" : "never")}");
        renderer.Line($"  RTO estimate    {(r.RtoEstimateSeconds is { } e ? $"{ObjectivesReport.Seconds(e)} for today's {Units.Bytes(r.CurrentSizeBytes ?? 0)}" : "unknown: no passed drill")}");
        renderer.Line($"  last verify     {(r.LastVerify is { } v ? $"{T(v.Time)} {(v.Valid ? "valid" : $"{v.Problems} problem(s)")} ({v.Mode}, repository {v.Repository})" : "never")}");
        renderer.Line($"  achieves        {r.Achieves}");
        if (r.Objectives.Count == 0) renderer.Line("  objectives      none configured (clusters.NAME.objectives: {rpo: 5m, rto: 30m, drill_max_age: 7d, verify_max_age: 1d})");
        foreach (var o in r.Objectives) renderer.Line($"  {(o.Pass ? "PASS" : "FAIL")} {o.Objective,-15} target {o.Target}, measured {o.Measured}: {o.Reason}");
    }
}
