using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Core;
using PgVault.Core.Alerts;
using PgVault.Core.Errors;
using PgVault.Core.Vault;
using PgVault.Core.Verify;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault verify`: every selected backup read back and checked, its WAL range present and intact,
/// the WAL archive continuous per timeline. Exit 0 only when all of it is valid; otherwise 1
/// (verify-failed) with one line per problem.
/// </summary>
internal static class VerifyCommand
{
    private static readonly Option<string?> Backup = new("--backup") { Description = "Verify only this backup (an id, or 'latest'); default: every backup" };
    private static readonly Option<string?> Since = new("--since") { Description = "Verify the backups started since this age (7d, 36h) or time ('2026-01-31 12:00:00+00')" };
    private static readonly Option<bool> WalOnly = new("--wal-only") { Description = "Check the WAL archive alone (continuity, duplicates, foreign and damaged segments), no backup" };
    private static readonly Option<bool> Full = new("--full") { Description = "Read every object again, also those an earlier verify found intact and that are unchanged since" };
    private static readonly Option<string?> Sample = new("--sample") { Description = "Read this random share of the data objects (packs, dumps, WAL segments), e.g. 10%; all metadata is read" };
    private static readonly Option<int?> Parallel = new("--parallel") { Description = "Objects read at once (default: the cluster's parallel, else 2)" };

    public static Command Build()
    {
        var command = new Command("verify", "Prove backups restorable: read every object back and check it, check each backup's WAL and the archive's continuity")
        {
            Backup, Since, WalOnly, Full, Sample, Parallel,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var options = new VerifyOptions
        {
            Backup = result.GetValue(Backup),
            Since = result.GetValue(Since) is { } since ? VerifyOptions.ParseSince(since, DateTimeOffset.UtcNow) : null,
            WalOnly = result.GetValue(WalOnly),
            Full = result.GetValue(Full),
            SamplePercent = result.GetValue(Sample) is { } sample ? VerifyOptions.ParseSample(sample) : null,
            Parallel = vault.Settings.Parallel(result.GetValue(Parallel)),
        };
        options.Validate();
        var verified = await renderer.WithProgressAsync(progress => new Verify(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
        await BackupLog.For(vault, new WarnOnly(renderer)).VerifyAsync(verified, ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(verified, VerifyJson.Default.VerifyResult);
        else Print(renderer, verified);
        if (verified.Valid) return 0;
        foreach (var problem in verified.Problems) renderer.Error(problem, null);
        return (int)ErrorCode.VerifyFailed.Kind();
    }

    private static void Print(Renderer renderer, VerifyResult verified)
    {
        foreach (var r in verified.Repositories)
        {
            renderer.Line($"repository {r.Repository} ({verified.Mode})");
            if (r.Backups.Count > 0)
                renderer.Table(["backup", "type", "status", "objects", "first missing WAL"],
                    r.Backups.Select(b => new[] { b.Id, b.Type, b.Status, b.ObjectsChecked.ToString(CultureInfo.InvariantCulture), b.FirstMissingWal ?? "" }));
            foreach (var t in r.Timelines)
                foreach (var range in t.Ranges)
                    renderer.Line($"timeline {t.Timeline}: {range.First} .. {range.Last} ({range.Segments} segments)");
            renderer.Line($"read {r.DataObjectsRead} data objects ({Units.Bytes(r.BytesRead)}), skipped {r.DataObjectsSkipped} verified before{(verified.Mode == "sample" ? " or not sampled" : "")}, {r.MetadataObjectsRead} metadata objects"
                + (r.StoredAs is { } key ? $"; stored as {key}" : ""));
        }
        foreach (var problem in verified.Problems) renderer.Line($"PROBLEM: {problem}");
        renderer.Line(verified.Valid ? "OK: everything verified is valid" : $"FAILED: {verified.Problems.Count} problem(s)");
    }
}
