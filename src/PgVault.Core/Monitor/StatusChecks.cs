using System.Globalization;
using PgVault.Core.Config;

namespace PgVault.Core.Monitor;

/// <summary>
/// Turns a cluster's facts into checks against its thresholds. Pure: no I/O, so the rules are
/// unit-tested. Ages are over a threshold when greater than it, counts when they reach it, free
/// space when it falls under it. A missing CRITICAL is twice the warning for ages, half of it for
/// free space, none for counts.
/// </summary>
public static class StatusChecks
{
    public static List<StatusCheck> Evaluate(ClusterStatus s, ThresholdSet t, bool repositoryReadable = true)
    {
        var checks = new List<StatusCheck>();
        void Add(StatusCheck? check)
        {
            if (check != null) checks.Add(check);
        }

        // Newest backup of any type.
        var newest = s.Backups.OrderByDescending(b => b.LastFinishedAt).FirstOrDefault();
        Add(!repositoryReadable
            ? Unknown("backup_age", "s", t.BackupMaxAge, "no repository could be read")
            : Age("backup_age", newest?.LastAgeSeconds, t.BackupMaxAge, CheckState.Critical,
                age => $"newest backup {AgeText(age)} old ({newest!.LastId})", "no backup"));

        // WAL: the repository whose newest segment is oldest; an idle server with nothing waiting is current.
        Add(WalCheck(s, t.WalMaxAge, repositoryReadable));
        Add(ArchiveFailures(s.Server, t.ArchiveFailures));

        Add(repositoryReadable ? VerifyCheck(s, t.VerifyMaxAge) : Unknown("verify_age", "s", t.VerifyMaxAge, "no repository could be read"));
        Add(repositoryReadable ? DrillCheck(s, t.DrillMaxAge) : Unknown("drill_age", "s", t.DrillMaxAge, "no repository could be read"));

        foreach (var r in s.Repositories.Where(r => r.FreePercent != null))
            Add(FreeSpace(r, t.RepoMinFree));

        if (s.Recovery.ObjectiveRpoSeconds is { } rpo)
            Add(Age("rpo", s.Recovery.RpoSeconds, new Threshold(rpo), CheckState.Critical, age => $"RPO {AgeText(age)} (objective {AgeText(rpo)})", "no backup or WAL: nothing to recover"));
        if (s.Recovery.ObjectiveRtoSeconds is { } rto)
            Add(Age("rto", s.Recovery.RtoSeconds, new Threshold(rto), CheckState.Warning, age => $"RTO {AgeText(age)} in the last passed drill (objective {AgeText(rto)})", "RTO never measured (run 'pgvault drill')"));
        return checks;
    }

    /// <summary>An age (seconds) against a threshold; <paramref name="never"/> applies when there is no value.</summary>
    public static StatusCheck? Age(string name, double? age, Threshold threshold, CheckState never, Func<double, string> message, string neverMessage)
    {
        if (threshold.Off) return null;
        double critical = threshold.Critical ?? threshold.Warning * 2;
        var check = new StatusCheck { Name = name, Unit = "s", Warning = threshold.Warning, Critical = critical };
        if (age is not { } a) return check with { State = never, Message = neverMessage };
        var state = a > critical ? CheckState.Critical : a > threshold.Warning ? CheckState.Warning : CheckState.Ok;
        return check with { State = state, Value = Math.Max(0, a), Message = message(Math.Max(0, a)) };
    }

    /// <summary>The age of the newest valid verify; CRITICAL when the newest run found problems, WARNING when none ever ran.</summary>
    private static StatusCheck? VerifyCheck(ClusterStatus s, Threshold threshold)
    {
        if (s.LastVerify is not { } v) return Age("verify_age", null, threshold, CheckState.Warning, _ => "", "never verified (run 'pgvault verify')");
        double? age = v.LastSuccessAt is { } ok ? (s.Time - ok).TotalSeconds : null;
        var check = Age("verify_age", age, threshold, CheckState.Critical, a => $"last valid verify {AgeText(a)} old", "no valid verify recorded");
        return v.Valid || check is null ? check : check with { State = CheckState.Critical, Message = $"last verify ({AgeText(v.AgeSeconds)} ago) found {v.Problems} problem(s)" };
    }

    /// <summary>The age of the newest passed drill; CRITICAL when the newest drill failed, WARNING when none ever ran.</summary>
    private static StatusCheck? DrillCheck(ClusterStatus s, Threshold threshold)
    {
        if (s.LastDrill is not { } d) return Age("drill_age", null, threshold, CheckState.Warning, _ => "", "no restore drill recorded (run 'pgvault drill')");
        double? age = d.LastSuccessAt is { } ok ? (s.Time - ok).TotalSeconds : null;
        var check = Age("drill_age", age, threshold, CheckState.Critical, a => $"last drill passed {AgeText(a)} ago (RTO {AgeText(d.RtoSeconds)})", "no passed drill recorded");
        return d.Result == "passed" || check is null ? check : check with { State = CheckState.Critical, Message = $"last drill ({AgeText(d.AgeSeconds)} ago) failed: {d.Failure}" };
    }

    private static StatusCheck? Unknown(string name, string unit, Threshold threshold, string message) =>
        threshold.Off ? null : new StatusCheck { Name = name, Unit = unit, State = CheckState.Unknown, Warning = threshold.Warning, Critical = threshold.Critical, Message = message };

    private static StatusCheck? WalCheck(ClusterStatus s, Threshold threshold, bool repositoryReadable)
    {
        if (threshold.Off) return null;
        if (!repositoryReadable) return Unknown("wal_age", "s", threshold, "no repository could be read");
        var archiver = s.Server.Archiver;
        bool anyWal = s.Wal.Any(w => w.NewestSegment != null);
        bool anyPhysical = s.Backups.Any(b => b.Type != "logical");
        // A cluster that does not archive (only logical backups): nothing to check.
        if (!anyWal && !anyPhysical && (archiver is null || !archiver.ArchiveMode)) return null;
        var worst = s.Wal.OrderBy(w => w.NewestArchivedAt ?? DateTimeOffset.MinValue).First();
        if (worst.NewestSegment is null)
            return Age("wal_age", null, threshold, CheckState.Critical, _ => "", $"no WAL archived in repository '{worst.Repository}'");
        var check = Age("wal_age", worst.AgeSeconds, threshold, CheckState.Critical,
            age => $"newest archived WAL {worst.NewestSegment} is {AgeText(age)} old" + (s.Wal.Count > 1 ? $" (repository '{worst.Repository}')" : ""), "")!;
        // The server is idle rather than behind: nothing waits in pg_wal and the server archived nothing newer than the repository holds.
        if (check.State != CheckState.Ok && archiver is { InRecovery: false } && s.Server.ReadyFiles == 0 && !Failing(archiver)
            && (archiver.LastArchivedWal is null || string.CompareOrdinal(archiver.LastArchivedWal[..Math.Min(24, archiver.LastArchivedWal.Length)], worst.NewestSegment) <= 0))
            return check with { State = CheckState.Ok, Message = $"archive is current: no segment waiting (server idle; newest archived WAL {AgeText(check.Value ?? 0)} old)" };
        return check;
    }

    /// <summary>True when the archiver's last failure is newer than its last success (it is failing now).</summary>
    public static bool Failing(PostgreSql.ArchiverStats a) =>
        a.LastFailedTime is { } failed && (a.LastArchivedTime is not { } archived || failed > archived);

    private static StatusCheck? ArchiveFailures(ServerFact server, Threshold threshold)
    {
        if (threshold.Off) return null;
        var check = new StatusCheck { Name = "archive_failures", Warning = threshold.Warning, Critical = threshold.Critical };
        if (!server.Reachable || server.Archiver is not { } a)
            return check with { State = CheckState.Unknown, Message = $"server not reachable: {server.Error ?? "not queried"}" };
        if (a.InRecovery) return check with { State = CheckState.Ok, Value = 0, Message = "standby: archiving is the primary's" };
        // failed_count only grows (until a stats reset): it counts while the archiver is failing now.
        long failures = Failing(a) ? a.FailedCount : 0;
        var state = threshold.Critical is { } c && failures >= c ? CheckState.Critical : failures >= threshold.Warning ? CheckState.Warning : CheckState.Ok;
        string message = state == CheckState.Ok
            ? a.FailedCount == 0 ? "no archive failures" : $"archiving works ({a.FailedCount} failure(s) since the statistics reset, the last followed by a success)"
            : $"archive_command is failing: {a.FailedCount} failure(s), last on {a.LastFailedWal} at {a.LastFailedTime:yyyy-MM-dd HH:mm:ss}Z";
        return check with { State = state, Value = failures, Message = message };
    }

    private static StatusCheck? FreeSpace(RepositoryFact r, Threshold threshold)
    {
        if (threshold.Off) return null;
        double critical = threshold.Critical ?? threshold.Warning / 2;
        double free = r.FreePercent!.Value;
        var state = free < critical ? CheckState.Critical : free < threshold.Warning ? CheckState.Warning : CheckState.Ok;
        return new StatusCheck
        {
            Name = "repo_free_" + r.Repository, Unit = "%", Value = Math.Round(free, 1), Warning = threshold.Warning, Critical = critical, State = state,
            Message = $"repository '{r.Repository}': {free.ToString("0.#", CultureInfo.InvariantCulture)}% free ({Units.Bytes(r.FreeBytes ?? 0)})",
        };
    }

    /// <summary>An age as people say it: 42s, 15m, 27h, 9d.</summary>
    public static string AgeText(double seconds)
    {
        seconds = Math.Max(0, seconds);
        return seconds switch
        {
            < 120 => $"{Math.Floor(seconds).ToString(CultureInfo.InvariantCulture)}s",
            < 120 * 60 => $"{Math.Floor(seconds / 60).ToString(CultureInfo.InvariantCulture)}m",
            < 72 * 3600 => $"{Math.Floor(seconds / 3600).ToString(CultureInfo.InvariantCulture)}h",
            _ => $"{Math.Floor(seconds / 86400).ToString(CultureInfo.InvariantCulture)}d",
        };
    }
}
