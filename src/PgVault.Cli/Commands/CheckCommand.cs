using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core.Vault;
using PgVault.Core.Wal;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault check`: the archiving settings point at PgVault, and a forced WAL switch reaches every
/// repository in time. Exit 0 when healthy, 1 with the reasons otherwise.
/// </summary>
internal static class CheckCommand
{
    private static readonly Option<int?> Timeout = new("--timeout") { Description = "Seconds to wait for the switched segment (default: the cluster's archive_timeout, 60)" };

    public static Command Build()
    {
        var command = new Command("check", "Check WAL archiving end to end: settings, a forced WAL switch reaching every repository, pg_stat_archiver") { Timeout };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var options = new ArchiveCheckOptions(TimeSpan.FromSeconds(vault.Settings.ArchiveTimeoutSeconds(result.GetValue(Timeout))));
        var check = await new ArchiveCheck(vault, new WarnOnly(renderer)).RunAsync(options, ct).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(check, CliJson.Default.ArchiveCheckResult);
        }
        else
        {
            renderer.Line($"wal_level        {check.WalLevel}");
            renderer.Line($"archive_mode     {check.ArchiveMode}");
            renderer.Line($"archive_command  {check.ArchiveCommand}");
            if (check.SwitchedSegment != null)
                renderer.Line($"WAL switch       {check.SwitchedSegment}" + (check.SecondsToArchive is { } s ? $" archived in every repository after {s.ToString("0.0", CultureInfo.InvariantCulture)} s" : " NOT archived"));
            if (check.Archiver is { } a)
            {
                renderer.Line($"archived         {a.ArchivedCount} (last {a.LastArchivedWal ?? "-"} at {a.LastArchivedTime?.ToString("u", CultureInfo.InvariantCulture) ?? "-"})");
                renderer.Line($"failed           {a.FailedCount} (last {a.LastFailedWal ?? "-"} at {a.LastFailedTime?.ToString("u", CultureInfo.InvariantCulture) ?? "-"})");
            }
            renderer.Line($"newest archived  {check.NewestArchivedSegment ?? "-"}");
            foreach (var problem in check.Problems) renderer.Line($"PROBLEM: {problem}");
            renderer.Line(check.Healthy ? "OK: WAL archiving works" : "FAILED: WAL archiving does not work");
        }
        if (!check.Healthy) renderer.Error(check.Problems[0], check.Problems.Count > 1 ? $"{check.Problems.Count - 1} more problem(s) above" : null);
        return check.Healthy ? 0 : 1;
    }
}
