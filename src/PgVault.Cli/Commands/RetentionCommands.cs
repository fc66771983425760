using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Errors;
using PgVault.Core.Retention;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault expire`: apply the retention policy (docs/retention.md).</summary>
internal static class ExpireCommand
{
    private static readonly Option<bool> DryRun = new("--dry-run") { Description = "Show each backup's decision and the WAL that would go; change nothing" };
    private static readonly Option<string?> Now = new("--now") { Description = "With --dry-run: evaluate the policy at this time instead (e.g. '2027-01-15 02:00'; UTC when no offset), to preview a later run" };
    private static readonly Option<bool> WalOnly = new("--wal-only") { Description = "Keep every backup; remove only WAL that no backup, PITR window or pin needs" };

    public static Command Build()
    {
        var command = new Command("expire", "Apply the retention policy: remove backups and WAL no rule keeps, under the repository lock") { DryRun, Now, WalOnly };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var now = result.GetValue(Now) is { } text ? TimeArgument.Parse(text, "--now") : (DateTimeOffset?)null;
        var options = new ExpireOptions(result.GetValue(DryRun), now, result.GetValue(WalOnly));
        var expired = await renderer.WithProgressAsync(progress => new Expire(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(expired, CliJson.Default.ExpireResult);
        else Render(expired, renderer);
        return 0;
    }

    internal static void Render(ExpireResult expired, Renderer renderer)
    {
        foreach (var repo in expired.Repositories.Where(r => r.HasPolicy))
        {
            renderer.Line($"repository '{repo.Repository}'{(expired.DryRun ? " (dry run: nothing changed)" : "")}:");
            if (repo.Decisions.Count > 0)
            {
                renderer.Table(["backup", "type", "finished", "decision", "reasons"], repo.Decisions.Select(d => new[]
                {
                    d.Id, d.Type, d.FinishedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    d.Keep ? $"keep ({d.Mode})" : "remove", string.Join("; ", d.Reasons),
                }));
            }
            foreach (var id in repo.Finished) renderer.Line($"  finished removing {id} (left by an interrupted run)");
            foreach (var w in repo.WalRemoved)
                renderer.Line($"  WAL timeline {w.Timeline}: {(expired.DryRun ? "would remove" : "removed")} {w.First} .. {w.Last} ({w.Objects} files, {Units.Bytes(w.Bytes)})");
            if (repo.RecoverableFrom is { } from)
                renderer.Line($"  recoverable to any time from {from.ToLocalTime():yyyy-MM-dd HH:mm:ss} (backup {repo.PitrAnchor}) to the newest archived WAL");
            renderer.Line($"  {(expired.DryRun ? "would free" : "freed")} {repo.ObjectsRemoved} objects, {Units.Bytes(repo.BytesFreed)}" +
                (repo.WalGaps.Count > 0 ? $"; WAL gaps: {string.Join(", ", repo.WalGaps)}" : ""));
        }
    }
}

/// <summary>`pgvault delete ID`: remove one backup (and, with --with-dependents, the backups that reference it).</summary>
internal static class DeleteCommand
{
    private static readonly Argument<string> Id = new("id") { Description = "The backup to remove (see 'pgvault list')" };
    private static readonly Option<bool> WithDependents = new("--with-dependents") { Description = "Also remove the diff/incr backups that reference it" };

    public static Command Build()
    {
        var command = new Command("delete", "Remove one backup from every selected repository, with the WAL only it needed; refused while kept backups reference it or it is pinned")
        {
            Id, WithDependents,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var options = new DeleteOptions(result.GetValue(Id)!, result.GetValue(WithDependents));
        var deleted = await renderer.WithProgressAsync(progress => new DeleteBackup(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(deleted, CliJson.Default.DeleteResult);
            return 0;
        }
        foreach (var repo in deleted.Repositories)
        {
            renderer.Line($"repository '{repo.Repository}': removed {string.Join(", ", repo.Removed)}; {repo.ObjectsRemoved} objects, {Units.Bytes(repo.BytesFreed)} freed" +
                string.Concat(repo.WalRemoved.Select(w => $"; WAL timeline {w.Timeline} {w.First} .. {w.Last}")));
        }
        return 0;
    }
}

/// <summary>`pgvault keep ID`: pin a backup (or release its pin).</summary>
internal static class KeepCommand
{
    private static readonly Argument<string> Id = new("id") { Description = "The backup to pin (see 'pgvault list')" };
    private static readonly Option<string?> Until = new("--until") { Description = "Keep it until this time ('2027-01-01', '2027-01-01 12:00+01') or for this long from now ('90d', '12w')" };
    private static readonly Option<bool> Forever = new("--forever") { Description = "Keep it until the pin is released (the default)" };
    private static readonly Option<bool> Pitr = new("--pitr") { Description = "Also keep all WAL after it up to the next kept backup (recoverable to any moment in between)" };
    private static readonly Option<bool> Release = new("--release") { Description = "Remove the pin: retention treats the backup like any other again" };

    public static Command Build()
    {
        var command = new Command("keep", "Pin a backup so that no retention rule and no delete removes it (consistent-only unless --pitr)") { Id, Until, Forever, Pitr, Release };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        bool release = result.GetValue(Release);
        string? until = result.GetValue(Until);
        if (release && (until != null || result.GetValue(Forever) || result.GetValue(Pitr)))
            throw PgVaultException.Usage("--release takes no --until, --forever or --pitr");
        if (until != null && result.GetValue(Forever)) throw PgVaultException.Usage("give --until or --forever, not both");
        DateTimeOffset? untilTime = until is null ? null
            : Units.TryParseDuration(until, out var span) ? DateTimeOffset.UtcNow + span
            : TimeArgument.Parse(until, "--until");
        var vault = Vault.Open(Globals.Read(result));
        var options = new KeepOptions(result.GetValue(Id)!, untilTime, result.GetValue(Pitr), release);
        var kept = await new KeepBackup(vault, new WarnOnly(renderer)).RunAsync(options, ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(kept, CliJson.Default.KeepResult);
        else if (kept.Released) renderer.Line($"backup {kept.Id}: pin released in {string.Join(", ", kept.Repositories)}");
        else
            renderer.Line($"backup {kept.Id} pinned {(kept.Pin!.Until is { } t ? $"until {t.ToLocalTime():yyyy-MM-dd HH:mm:ss zzz}" : "forever")}" +
                $"{(kept.Pin.Pitr ? " with the WAL after it" : " (consistent-only)")} in {string.Join(", ", kept.Repositories)}");
        return 0;
    }
}

/// <summary>A time on the command line: an ISO-like date and time, UTC when no offset is given.</summary>
internal static class TimeArgument
{
    public static DateTimeOffset Parse(string text, string option) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var time)
            ? time
            : throw PgVaultException.Usage($"{option} '{text}' is not a time", "write it as 2027-01-15 or '2027-01-15 02:00:00+01'");
}
