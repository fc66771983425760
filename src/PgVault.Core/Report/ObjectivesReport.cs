using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Retention;

namespace PgVault.Core.Report;

/// <summary>What `pgvault report` was asked for: the period the worst RPO is looked for in.</summary>
public sealed record ReportOptions(TimeSpan Since);

/// <summary>One objective judged: what was promised, what was measured, and why it passes or fails.</summary>
public sealed record ObjectiveVerdict(string Objective, string Target, string Measured, bool Pass, string Reason);

/// <summary>The last drill as the report uses it.</summary>
public sealed record DrillSummary(string Id, string Backup, string BackupType, DateTimeOffset Time, string Result, double RtoSeconds, long BytesRestored);

/// <summary>The last verification as the report uses it.</summary>
public sealed record VerifySummary(string Repository, DateTimeOffset Time, string Mode, bool Valid, int Problems);

/// <summary>The measured RPO and RTO of one cluster, its recoverable window and each objective's verdict.</summary>
public sealed record ReportResult
{
    public string Cluster { get; init; } = "";
    public DateTimeOffset Now { get; init; }
    public DateTimeOffset Since { get; init; }
    /// <summary>Age of the newest WAL segment archived in every repository (the data a loss now would cost, at most).</summary>
    public double? CurrentRpoSeconds { get; init; }
    public string? NewestWal { get; init; }
    public DateTimeOffset? NewestWalTime { get; init; }
    /// <summary>The longest stretch in the period with nothing archived (an upper bound: an idle server archives nothing).</summary>
    public double? WorstRpoSeconds { get; init; }
    public DateTimeOffset? WorstRpoEndedAt { get; init; }
    public DateTimeOffset? RecoverableFrom { get; init; }
    public DateTimeOffset? RecoverableTo { get; init; }
    public DrillSummary? LastDrill { get; init; }
    /// <summary>The last passed drill's RTO scaled by today's backup size over the size it restored.</summary>
    public double? RtoEstimateSeconds { get; init; }
    public long? CurrentSizeBytes { get; init; }
    public VerifySummary? LastVerify { get; init; }
    public IReadOnlyList<ObjectiveVerdict> Objectives { get; init; } = [];
    public bool AllPass => Objectives.All(o => o.Pass);
    /// <summary>The seed's DR table, measured: what this setup achieves.</summary>
    public string Achieves { get; init; } = "";
}

/// <summary>
/// `pgvault report`: the cluster's RPO and RTO as measured — from archive times, drills and
/// verifications stored in the repositories — against <c>clusters.NAME.objectives</c>. Reads only
/// listings and small records; never connects to the server.
/// </summary>
public sealed class ObjectivesReport(Vault.Vault vault, IProgressSink progress)
{
    public async Task<ReportResult> RunAsync(ReportOptions options, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var since = now - options.Since;
        var catalogs = await vault.OpenCatalogsAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false);
        var headers = (await catalogs.ListHeadersAsync(progress, ct).ConfigureAwait(false)).Select(e => e.Header).ToList();

        // WAL: a segment counts once it is in every repository, so the newest is the oldest of the per-repository newest.
        (string Name, DateTimeOffset Time)? newest = null;
        List<DateTimeOffset> times = [];
        foreach (var catalog in catalogs.Catalogs)
        {
            var stamped = await ListWalTimesAsync(catalog, ct).ConfigureAwait(false);
            if (stamped.Count == 0) continue;
            var last = stamped.MaxBy(s => s.Time);
            if (newest is null || last.Time < newest.Value.Time) newest = last;
            if (catalog == catalogs.Catalogs[0])
            {
                // Before the first segment ever archived there was nothing to lose: a gap starts at
                // the period's start only when something was archived before it.
                var all = stamped.Select(s => s.Time).Order().ToList();
                times = all.Where(t => t >= since).ToList();
                if (all.Any(t => t < since)) times.Insert(0, since);
            }
        }
        double? currentRpo = newest is { } n ? Math.Max(0, (now - n.Time).TotalSeconds) : null;
        (double Seconds, DateTimeOffset End)? worst = null;
        if (newest is { } nw)
        {
            var points = times.Append(now).ToList();
            for (int i = 1; i < points.Count; i++)
            {
                double gap = (points[i] - points[i - 1]).TotalSeconds;
                if (worst is null || gap > worst.Value.Seconds) worst = (gap, points[i]);
            }
        }

        var plan = await RetentionView.PlanAsync(vault.Cluster, catalogs, headers, progress, ct).ConfigureAwait(false);
        DateTimeOffset? recoverableFrom = plan?.RecoverableFrom ?? headers.FirstOrDefault(h => h.Physical != null)?.Physical!.StopTime;

        var drills = await new Drill.Drill(vault, progress).ListAsync(ct).ConfigureAwait(false);
        var lastDrill = drills.LastOrDefault();
        var lastPassed = drills.LastOrDefault(d => d.Result == Drill.DrillRecord.Passed);
        double? rtoEstimate = null;
        long? currentSize = null;
        if (lastPassed != null)
        {
            bool physical = lastPassed.BackupType != "logical";
            var current = headers.LastOrDefault(h => h.IsPhysical == physical);
            currentSize = current?.SizeBytes;
            long then = headers.FirstOrDefault(h => h.Id == lastPassed.Backup)?.SizeBytes ?? lastPassed.BytesRestored;
            rtoEstimate = current != null && then > 0 ? lastPassed.RtoSeconds * Math.Max(1.0, (double)current.SizeBytes / then) : lastPassed.RtoSeconds;
        }

        VerifySummary? lastVerify = null;
        foreach (var catalog in catalogs.Catalogs)
        {
            if (await Verify.Verify.LastRecordAsync(catalog.Repository, catalogs.Cluster, ct).ConfigureAwait(false) is { } record
                && (lastVerify is null || record.Time > lastVerify.Time))
                lastVerify = new VerifySummary(catalog.Repository.Name, record.Time, record.Mode, record.Valid, record.Problems.Count);
        }

        var result = new ReportResult
        {
            Cluster = catalogs.Cluster, Now = now, Since = since, CurrentRpoSeconds = currentRpo, NewestWal = newest?.Name, NewestWalTime = newest?.Time,
            WorstRpoSeconds = worst?.Seconds, WorstRpoEndedAt = worst?.End, RecoverableFrom = recoverableFrom, RecoverableTo = newest?.Time,
            LastDrill = lastDrill is null ? null : new DrillSummary(lastDrill.Id, lastDrill.Backup, lastDrill.BackupType, lastDrill.FinishedAt, lastDrill.Result, lastDrill.RtoSeconds, lastDrill.BytesRestored),
            RtoEstimateSeconds = rtoEstimate, CurrentSizeBytes = currentSize, LastVerify = lastVerify,
        };
        return result with { Objectives = Judge(result, lastPassed, now), Achieves = Achieves(result) };
    }

    /// <summary>Archive time of every archived segment (the object's time in the store), from one listing.</summary>
    private static async Task<List<(string Name, DateTimeOffset Time)>> ListWalTimesAsync(Catalog catalog, CancellationToken ct)
    {
        var list = new List<(string, DateTimeOffset)>();
        await foreach (var info in catalog.Repository.Store.ListAsync(RepositoryLayout.WalPrefix(catalog.Cluster), ct).ConfigureAwait(false))
        {
            string name = info.Key[(info.Key.LastIndexOf('/') + 1)..];
            int dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash == 24 || (dash > 24 && name[24] == '.' && name[..dash].EndsWith(".partial", StringComparison.Ordinal))) list.Add((name[..dash], info.LastModified));
        }
        return list;
    }

    private List<ObjectiveVerdict> Judge(ReportResult r, Drill.DrillRecord? lastPassed, DateTimeOffset now)
    {
        var o = vault.Cluster.Objectives;
        var verdicts = new List<ObjectiveVerdict>();
        if (o is null) return verdicts;
        if (o.Rpo is { } rpo)
        {
            verdicts.Add(r.CurrentRpoSeconds is not { } current
                ? new ObjectiveVerdict("rpo", Span(rpo), "no WAL archived", false, "nothing is archived: a loss now loses everything since the last backup")
                : current > rpo.TotalSeconds
                    ? new ObjectiveVerdict("rpo", Span(rpo), Seconds(current), false, $"the newest archived segment {r.NewestWal} is {Seconds(current)} old: archiving is stalled or failing")
                    : r.WorstRpoSeconds is { } worst && worst > rpo.TotalSeconds
                        ? new ObjectiveVerdict("rpo", Span(rpo), $"{Seconds(current)} now, {Seconds(worst)} worst", false,
                            $"nothing was archived for {Seconds(worst)} until {r.WorstRpoEndedAt:yyyy-MM-dd HH:mm} (set archive_timeout below the RPO, or stream WAL)")
                        : new ObjectiveVerdict("rpo", Span(rpo), $"{Seconds(current)} now, {Seconds(r.WorstRpoSeconds ?? current)} worst", true, "WAL reaches every repository within the objective"));
        }
        if (o.Rto is { } rto)
        {
            verdicts.Add(lastPassed is null
                ? new ObjectiveVerdict("rto", Span(rto), "never measured", false, "no drill has passed: run 'pgvault drill'")
                : r.RtoEstimateSeconds > rto.TotalSeconds
                    ? new ObjectiveVerdict("rto", Span(rto), Seconds(r.RtoEstimateSeconds!.Value), false,
                        $"drill {lastPassed.Id} took {Seconds(lastPassed.RtoSeconds)}; scaled to today's size it is {Seconds(r.RtoEstimateSeconds.Value)}")
                    : new ObjectiveVerdict("rto", Span(rto), Seconds(r.RtoEstimateSeconds ?? lastPassed.RtoSeconds), true,
                        $"drill {lastPassed.Id} restored and checked in {Seconds(lastPassed.RtoSeconds)}"));
        }
        if (o.DrillMaxAge is { } drillAge)
        {
            verdicts.Add(lastPassed is null
                ? new ObjectiveVerdict("drill_max_age", Span(drillAge), "never", false, "no drill has passed")
                : Age(now, lastPassed.FinishedAt, drillAge, "drill_max_age", $"last passed drill {lastPassed.Id}"));
        }
        if (o.VerifyMaxAge is { } verifyAge)
        {
            verdicts.Add(r.LastVerify is not { } v
                ? new ObjectiveVerdict("verify_max_age", Span(verifyAge), "never", false, "no verification stored: run 'pgvault verify'")
                : !v.Valid
                    ? new ObjectiveVerdict("verify_max_age", Span(verifyAge), Seconds((now - v.Time).TotalSeconds) + " ago", false, $"the last verification found {v.Problems} problem(s)")
                    : Age(now, v.Time, verifyAge, "verify_max_age", "last verification"));
        }
        return verdicts;
    }

    private static ObjectiveVerdict Age(DateTimeOffset now, DateTimeOffset when, TimeSpan max, string name, string what)
    {
        var age = now - when;
        return new ObjectiveVerdict(name, Span(max), Seconds(age.TotalSeconds) + " ago", age <= max,
            age <= max ? $"{what} at {when:yyyy-MM-dd HH:mm}" : $"{what} at {when:yyyy-MM-dd HH:mm} is older than {Span(max)}");
    }

    private static string Achieves(ReportResult r) =>
        $"RPO {(r.CurrentRpoSeconds is { } c ? $"{Seconds(r.WorstRpoSeconds ?? c)} (worst in the period), {Seconds(c)} now" : "unknown (no WAL archived)")}; " +
        $"RTO {(r.RtoEstimateSeconds is { } e ? $"{Seconds(e)} (measured by drill {r.LastDrill?.Id}, scaled to today's size)" : "unknown (no passed drill)")}";

    public static string Seconds(double seconds) =>
        seconds < 120 ? $"{seconds.ToString("0", CultureInfo.InvariantCulture)}s"
        : seconds < 7200 ? $"{(seconds / 60).ToString("0.#", CultureInfo.InvariantCulture)}m"
        : seconds < 172800 ? $"{(seconds / 3600).ToString("0.#", CultureInfo.InvariantCulture)}h"
        : $"{(seconds / 86400).ToString("0.#", CultureInfo.InvariantCulture)}d";

    private static string Span(TimeSpan span) => Seconds(span.TotalSeconds);
}
