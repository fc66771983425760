using System.Globalization;
using PgVault.Core.Config;
using PgVault.Core.Repository;

namespace PgVault.Core.Retention;

/// <summary>
/// Retention as a pure function: (backups, pins, running backups, policy, now) → a decision for
/// every backup with all its reasons, and the WAL ranges that must stay. No I/O: expire, delete,
/// list and the tests call the same function. The rules are in docs/retention.md.
/// </summary>
public static class RetentionPlanner
{
    public static RetentionPlan Plan(IReadOnlyList<BackupHeader> backups, IReadOnlyList<BackupPin> pins, IReadOnlyList<RunningBackup> running,
        RetentionPolicy policy, DateTimeOffset now)
    {
        var state = new State(backups);
        var activePins = pins.Where(p => p.ActiveAt(now) && state.ById.ContainsKey(p.Id)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        var physical = backups.Where(b => b.IsPhysical && b.Physical != null).OrderBy(b => b.Id, StringComparer.Ordinal).ToList();
        var logical = backups.Where(b => b.Kind == BackupKind.Logical).OrderBy(b => b.Id, StringComparer.Ordinal).ToList();
        bool managesPhysical = policy.PitrWindow != null || policy.Full != null || policy.Gfs != null;

        BackupHeader? anchor = null;
        var walKeep = new List<WalKeepRange>();
        if (!managesPhysical)
        {
            foreach (var b in physical) state.Keep(b.Id, "no rule for physical backups in the policy", pitr: true);
        }
        else if (physical.Count > 0)
        {
            anchor = KeepPitrReach(state, physical, policy, now);
            walKeep.Add(new WalKeepRange(Position(anchor.Physical!.StartWal), null, $"PITR from backup {anchor.Id}"));
            if (policy.Gfs is { } gfs)
                KeepGfs(state, physical.Where(b => b.Kind == BackupKind.Full).ToList(), gfs, policy.TimeZone);
        }
        if (policy.Logical is not { } logicalRule)
        {
            foreach (var b in logical) state.Keep(b.Id, "no rule for logical backups in the policy");
        }
        else if (logical.Count > 0)
        {
            state.Keep(logical[^1].Id, "newest logical backup");
            if (logicalRule.Count is { } count)
            {
                foreach (var b in logical.TakeLast(count)) state.Keep(b.Id, $"newest {count} logical backup{Plural(count)}");
            }
            if (logicalRule.Gfs is { } gfs) KeepGfs(state, logical, gfs, policy.TimeZone);
        }
        foreach (var pin in activePins.Values)
            state.Keep(pin.Id, pin.Until is { } until ? $"pinned until {until.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}" : "pinned forever");
        foreach (var run in running)
        {
            foreach (var id in run.Chain.Where(state.ById.ContainsKey)) state.Keep(id, $"referenced by running backup {run.Id}");
        }
        KeepMinRedundancy(state, physical, policy.MinRedundancy);
        KeepChains(state, physical);

        if (managesPhysical)
        {
            foreach (var b in physical.Where(b => state.IsKept(b.Id)))
                walKeep.Add(new WalKeepRange(Position(b.Physical!.StartWal), Position(b.Physical.StopWal), $"backup {b.Id}"));
            foreach (var pin in activePins.Values.Where(p => p.Pitr && state.ById[p.Id].IsPhysical))
            {
                var next = physical.FirstOrDefault(b => string.CompareOrdinal(b.Id, pin.Id) > 0 && state.IsKept(b.Id));
                walKeep.Add(new WalKeepRange(Position(state.ById[pin.Id].Physical!.StartWal), next is null ? null : Position(next.Physical!.StartWal),
                    $"backup {pin.Id} pinned with PITR"));
            }
            foreach (var run in running.Where(r => r.KeepWalFrom != null))
                walKeep.Add(new WalKeepRange(run.KeepWalFrom!, null, $"running backup {run.Id}"));
        }

        var decisions = backups.OrderBy(b => b.Id, StringComparer.Ordinal).Select(b =>
        {
            bool keep = state.IsKept(b.Id);
            string mode = !keep ? "remove" : !b.IsPhysical ? "kept" : state.Pitr.Contains(b.Id) ? "pitr" : "consistent";
            IReadOnlyList<string> reasons = keep ? state.Reasons[b.Id]
                : pins.FirstOrDefault(p => p.Id == b.Id) is { Until: { } until } ? [$"no rule keeps it (its pin ended {until.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)})"]
                : ["no rule keeps it"];
            return new BackupDecision { Id = b.Id, Type = b.Type, StartedAt = b.StartedAt, FinishedAt = b.FinishedAt, Keep = keep, Mode = mode, Reasons = reasons };
        }).ToList();
        return new RetentionPlan
        {
            Decisions = decisions,
            WalKeep = walKeep,
            PitrAnchor = anchor?.Id,
            RecoverableFrom = anchor?.Physical!.StopTime,
            ManagesWal = managesPhysical,
        };
    }

    /// <summary>
    /// The PITR reach: the earliest of the window's anchor (the newest backup that finished before
    /// now − window) and the oldest of the newest N fulls; without either rule the newest backup.
    /// It and every later backup are kept with all WAL after it.
    /// </summary>
    private static BackupHeader KeepPitrReach(State state, List<BackupHeader> physical, RetentionPolicy policy, DateTimeOffset now)
    {
        var newest = physical[^1];
        state.Keep(newest.Id, "newest backup", pitr: true);
        var anchor = newest;
        if (policy.PitrWindow is { } window)
        {
            string label = $"the {Span(window)} PITR window";
            var windowAnchor = physical.LastOrDefault(b => b.FinishedAt <= now - window) ?? physical[0];
            foreach (var b in physical.Where(b => string.CompareOrdinal(b.Id, windowAnchor.Id) >= 0))
                state.Keep(b.Id, b == windowAnchor ? $"anchors {label}" : $"inside {label}", pitr: true);
            anchor = Earlier(anchor, windowAnchor);
        }
        if (policy.Full is { } count)
        {
            var fulls = physical.Where(b => b.Kind == BackupKind.Full).ToList();
            if (fulls.Count > 0)
            {
                var newestFulls = fulls.TakeLast(count).ToList();
                string label = $"newest {count} full backup{Plural(count)}";
                foreach (var b in physical.Where(b => string.CompareOrdinal(b.Id, newestFulls[0].Id) >= 0))
                    state.Keep(b.Id, newestFulls.Contains(b) ? label : $"PITR reach of the {label}", pitr: true);
                anchor = Earlier(anchor, newestFulls[0]);
            }
        }
        return anchor;
    }

    /// <summary>Newest backup of each of the last N days/ISO weeks/months/years that have one (by start time in the zone).</summary>
    private static void KeepGfs(State state, List<BackupHeader> candidates, GfsRule rule, TimeZoneInfo zone)
    {
        var levels = new (string Name, int Count, Func<DateTime, string> Bucket)[]
        {
            ("daily", rule.Daily, d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            ("weekly", rule.Weekly, d => $"{ISOWeek.GetYear(d)}-W{ISOWeek.GetWeekOfYear(d):00}"),
            ("monthly", rule.Monthly, d => d.ToString("yyyy-MM", CultureInfo.InvariantCulture)),
            ("yearly", rule.Yearly, d => d.ToString("yyyy", CultureInfo.InvariantCulture)),
        };
        foreach (var (name, count, bucketOf) in levels)
        {
            if (count <= 0) continue;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var b in candidates.OrderByDescending(b => b.Id, StringComparer.Ordinal))
            {
                string bucket = bucketOf(TimeZoneInfo.ConvertTime(b.StartedAt, zone).DateTime);
                if (!seen.Add(bucket)) continue;
                state.Keep(b.Id, $"{name} {bucket}");
                if (seen.Count >= count) break;
            }
        }
    }

    private static void KeepMinRedundancy(State state, List<BackupHeader> physical, int minimum)
    {
        var fulls = physical.Where(b => b.Kind == BackupKind.Full).ToList();
        int kept = fulls.Count(f => state.IsKept(f.Id));
        for (int i = fulls.Count - 1; i >= 0 && kept < minimum; i--)
        {
            if (state.IsKept(fulls[i].Id)) continue;
            state.Keep(fulls[i].Id, $"min_redundancy {minimum}");
            kept++;
        }
    }

    /// <summary>Every backup a kept backup reads from is kept too (a diff or incr is kept only with its whole chain).</summary>
    private static void KeepChains(State state, List<BackupHeader> physical)
    {
        var dependents = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var b in physical.Where(b => state.IsKept(b.Id)))
        {
            foreach (var id in b.Physical!.Chain.Where(id => id != b.Id && state.ById.ContainsKey(id)))
                dependents[id] = dependents.GetValueOrDefault(id) + 1;
        }
        foreach (var (id, count) in dependents) state.Keep(id, $"referenced by {count} kept backup{Plural(count)}");
    }

    private static BackupHeader Earlier(BackupHeader a, BackupHeader b) => string.CompareOrdinal(a.Id, b.Id) <= 0 ? a : b;

    /// <summary>The position (log and segment, 16 hex digits) of a 24-hex-digit segment name.</summary>
    public static string Position(string segmentName) => segmentName.Length >= 24 ? segmentName[8..24] : "0000000000000000";

    private static string Plural(int n) => n == 1 ? "" : "s";

    internal static string Span(TimeSpan span) =>
        span.TotalDays >= 1 && span.TotalDays == Math.Floor(span.TotalDays) ? $"{span.TotalDays:0}-day"
        : span.TotalHours == Math.Floor(span.TotalHours) ? $"{span.TotalHours:0}-hour" : $"{span.TotalMinutes:0}-minute";

    private sealed class State(IReadOnlyList<BackupHeader> backups)
    {
        public Dictionary<string, BackupHeader> ById { get; } = backups.ToDictionary(b => b.Id, StringComparer.Ordinal);
        public Dictionary<string, List<string>> Reasons { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Pitr { get; } = new(StringComparer.Ordinal);

        public bool IsKept(string id) => Reasons.ContainsKey(id);

        public void Keep(string id, string reason, bool pitr = false)
        {
            if (!Reasons.TryGetValue(id, out var list)) Reasons[id] = list = [];
            if (!list.Contains(reason)) list.Add(reason);
            if (pitr) Pitr.Add(id);
        }
    }
}
