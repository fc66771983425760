using PgVault.Core.Config;
using PgVault.Core.Repository;
using PgVault.Core.Retention;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>Retention decisions as a pure function of (backups, pins, running backups, policy, now), on synthetic catalogs.</summary>
public sealed class RetentionPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 1, 0, 0, TimeSpan.Zero);

    /// <summary>A physical backup started at <paramref name="start"/>; its WAL is segment <paramref name="seg"/> (one per backup), its chain the given ids plus itself.</summary>
    private static BackupHeader Physical(BackupKind kind, DateTimeOffset start, int seg, uint timeline = 1, params BackupHeader[] chain)
    {
        string id = BackupId.Create(start, kind).Text;
        string wal = $"{timeline:X8}00000000{seg:X8}";
        return new BackupHeader
        {
            Id = id, Type = kind.Name(), Cluster = "main", StartedAt = start, FinishedAt = start.AddMinutes(10),
            Physical = new PhysicalHeader
            {
                Chain = [.. chain.Select(c => c.Id), id], Reference = chain.LastOrDefault()?.Id, StartWal = wal, StopWal = wal, Timeline = (int)timeline,
                StartTime = start, StopTime = start.AddMinutes(10),
            },
        };
    }

    private static BackupHeader Logical(DateTimeOffset start) =>
        new() { Id = BackupId.Create(start, BackupKind.Logical).Text, Type = "logical", Cluster = "main", StartedAt = start, FinishedAt = start.AddMinutes(1) };

    private static RetentionPlan Plan(RetentionPolicy policy, DateTimeOffset now, IReadOnlyList<BackupHeader> backups,
        IReadOnlyList<BackupPin>? pins = null, IReadOnlyList<RunningBackup>? running = null) =>
        RetentionPlanner.Plan(backups, pins ?? [], running ?? [], policy, now);

    private static BackupDecision Decision(RetentionPlan plan, BackupHeader backup) => plan.Decisions.Single(d => d.Id == backup.Id);

    private static string[] Kept(RetentionPlan plan) => plan.Decisions.Where(d => d.Keep).Select(d => d.Id).ToArray();

    private static string Seg(int seg, uint timeline = 1) => $"{timeline:X8}00000000{seg:X8}";

    [Fact]
    public void EmptyRepository_NothingToDecide()
    {
        var plan = Plan(new RetentionPolicy { Full = 2 }, T0, []);
        Assert.Empty(plan.Decisions);
        Assert.Null(plan.PitrAnchor);
    }

    [Fact]
    public void OneBackup_IsKeptAsTheNewest()
    {
        var f = Physical(BackupKind.Full, T0, 2);
        var plan = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromDays(1) }, T0.AddDays(30), [f]);
        var d = Decision(plan, f);
        Assert.True(d.Keep);
        Assert.Equal("pitr", d.Mode);
        Assert.Contains("newest backup", d.Reasons);
        Assert.True(plan.KeepsWal(Seg(2)));
        Assert.False(plan.KeepsWal(Seg(1)));
    }

    [Fact]
    public void FullCount_KeepsTheNewestFullsWithTheirChainsAndWalFromTheOldest()
    {
        var f1 = Physical(BackupKind.Full, T0, 2);
        var i1 = Physical(BackupKind.Incr, T0.AddDays(1), 4, 1, f1);
        var f2 = Physical(BackupKind.Full, T0.AddDays(2), 6);
        var i2 = Physical(BackupKind.Incr, T0.AddDays(3), 8, 1, f2);
        var f3 = Physical(BackupKind.Full, T0.AddDays(4), 10);
        var i3 = Physical(BackupKind.Incr, T0.AddDays(5), 12, 1, f3);
        var plan = Plan(new RetentionPolicy { Full = 2 }, T0.AddDays(6), [f1, i1, f2, i2, f3, i3]);
        Assert.Equal(new[] { f2.Id, i2.Id, f3.Id, i3.Id }, Kept(plan));
        Assert.Equal(f2.Id, plan.PitrAnchor);
        Assert.All(plan.Decisions.Where(d => d.Keep), d => Assert.Equal("pitr", d.Mode));
        Assert.Contains("newest 2 full backups", Decision(plan, f2).Reasons);
        Assert.Equal(["no rule keeps it"], Decision(plan, i1).Reasons);
        Assert.False(plan.KeepsWal(Seg(5)));
        Assert.True(plan.KeepsWal(Seg(6)));
        Assert.True(plan.KeepsWal(Seg(7))); // between backups: PITR
        Assert.True(plan.KeepsWal(Seg(500))); // after the newest backup
    }

    [Fact]
    public void PitrWindow_AnchorsOnTheNewestBackupFinishedBeforeTheWindow()
    {
        var backups = Enumerable.Range(0, 20).Select(d => Physical(BackupKind.Full, T0.AddDays(d), 2 + 2 * d)).ToList();
        var now = T0.AddDays(19).AddHours(12);
        var plan = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromDays(7) }, now, backups);
        var anchor = backups[12]; // finished T0+12d 01:10, the newest before now - 7d = T0+12d 12:00
        Assert.Equal(anchor.Id, plan.PitrAnchor);
        Assert.Equal(backups.Skip(12).Select(b => b.Id), Kept(plan));
        Assert.Contains("anchors the 7-day PITR window", Decision(plan, anchor).Reasons);
        Assert.Contains("inside the 7-day PITR window", Decision(plan, backups[13]).Reasons);
        Assert.Equal(anchor.Physical!.StopTime, plan.RecoverableFrom);
        Assert.False(plan.KeepsWal(Seg(2 + 2 * 12 - 1)));
    }

    [Fact]
    public void FullAndWindow_TheLongerReachWins()
    {
        var backups = Enumerable.Range(0, 10).Select(d => Physical(BackupKind.Full, T0.AddDays(d), 2 + 2 * d)).ToList();
        var now = T0.AddDays(9).AddHours(12);
        var byWindow = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromDays(5), Full = 2 }, now, backups);
        Assert.Equal(backups[4].Id, byWindow.PitrAnchor);
        var byCount = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromDays(1), Full = 6 }, now, backups);
        Assert.Equal(backups[4].Id, byCount.PitrAnchor);
    }

    [Fact]
    public void ChainWhoseFullFallsOutOfTheWindow_KeepsTheFullConsistentOnly()
    {
        var f = Physical(BackupKind.Full, T0, 2);
        var d1 = Physical(BackupKind.Diff, T0.AddDays(1), 4, 1, f);
        var d2 = Physical(BackupKind.Diff, T0.AddDays(2), 6, 1, f);
        var d3 = Physical(BackupKind.Diff, T0.AddDays(3), 8, 1, f);
        var plan = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromDays(1) }, T0.AddDays(4).AddHours(12), [f, d1, d2, d3]);
        Assert.Equal(new[] { f.Id, d3.Id }, Kept(plan));
        var full = Decision(plan, f);
        Assert.Equal("consistent", full.Mode);
        Assert.Contains("referenced by 1 kept backup", full.Reasons);
        Assert.True(plan.KeepsWal(Seg(2))); // the full's own WAL
        Assert.False(plan.KeepsWal(Seg(3))); // but not the WAL after it
        Assert.False(plan.KeepsWal(Seg(4)));
    }

    [Fact]
    public void IncrementalChain_IsKeptWhole()
    {
        var f = Physical(BackupKind.Full, T0, 2);
        var i1 = Physical(BackupKind.Incr, T0.AddHours(6), 4, 1, f);
        var i2 = Physical(BackupKind.Incr, T0.AddHours(12), 6, 1, f, i1);
        var i3 = Physical(BackupKind.Incr, T0.AddHours(18), 8, 1, f, i1, i2);
        var plan = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromHours(1) }, T0.AddDays(2), [f, i1, i2, i3]);
        Assert.Equal(new[] { f.Id, i1.Id, i2.Id, i3.Id }, Kept(plan));
        Assert.Equal("pitr", Decision(plan, i3).Mode);
        Assert.Equal("consistent", Decision(plan, i1).Mode);
    }

    [Fact]
    public void Gfs_MonthAndYearBoundaries()
    {
        var dec31 = Physical(BackupKind.Full, new DateTimeOffset(2026, 12, 31, 23, 30, 0, TimeSpan.Zero), 2);
        var jan1 = Physical(BackupKind.Full, new DateTimeOffset(2027, 1, 1, 0, 30, 0, TimeSpan.Zero), 4);
        var jan2 = Physical(BackupKind.Full, new DateTimeOffset(2027, 1, 2, 0, 30, 0, TimeSpan.Zero), 6);
        var plan = Plan(new RetentionPolicy { Gfs = new GfsRule(Monthly: 2, Yearly: 2) }, new DateTimeOffset(2027, 1, 3, 0, 0, 0, TimeSpan.Zero), [dec31, jan1, jan2]);
        Assert.Contains("monthly 2026-12", Decision(plan, dec31).Reasons);
        Assert.Contains("yearly 2026", Decision(plan, dec31).Reasons);
        Assert.Contains("monthly 2027-01", Decision(plan, jan2).Reasons);
        Assert.False(Decision(plan, jan1).Keep);
        Assert.Equal("consistent", Decision(plan, dec31).Mode);
        Assert.False(plan.KeepsWal(Seg(3))); // consistent-only: nothing between dec31 and jan2
    }

    [Fact]
    public void Gfs_IsoWeek53SpansTheNewYear()
    {
        // 2026 has 53 ISO weeks: Thursday 31 December 2026 and Friday 1 January 2027 are both in 2026-W53.
        var wed = Physical(BackupKind.Full, new DateTimeOffset(2026, 12, 23, 2, 0, 0, TimeSpan.Zero), 2);
        var thu = Physical(BackupKind.Full, new DateTimeOffset(2026, 12, 31, 2, 0, 0, TimeSpan.Zero), 4);
        var fri = Physical(BackupKind.Full, new DateTimeOffset(2027, 1, 1, 2, 0, 0, TimeSpan.Zero), 6);
        var plan = Plan(new RetentionPolicy { Gfs = new GfsRule(Weekly: 2) }, new DateTimeOffset(2027, 1, 2, 0, 0, 0, TimeSpan.Zero), [wed, thu, fri]);
        Assert.Contains("weekly 2026-W53", Decision(plan, fri).Reasons);
        Assert.Contains("weekly 2026-W52", Decision(plan, wed).Reasons);
        Assert.False(Decision(plan, thu).Keep);
    }

    [Fact]
    public void Gfs_DaysAreCutInTheConfiguredZoneAcrossADstChange()
    {
        // Europe/Berlin leaves summer time on 25 October 2026 at 03:00 CEST.
        var a = Physical(BackupKind.Full, new DateTimeOffset(2026, 10, 24, 21, 30, 0, TimeSpan.Zero), 2); // 23:30 CEST on the 24th
        var b = Physical(BackupKind.Full, new DateTimeOffset(2026, 10, 24, 22, 30, 0, TimeSpan.Zero), 4); // 00:30 CEST on the 25th
        var c = Physical(BackupKind.Full, new DateTimeOffset(2026, 10, 25, 22, 30, 0, TimeSpan.Zero), 6); // 23:30 CET on the 25th
        var d = Physical(BackupKind.Full, new DateTimeOffset(2026, 10, 25, 23, 30, 0, TimeSpan.Zero), 8); // 00:30 CET on the 26th
        var now = new DateTimeOffset(2026, 10, 27, 0, 0, 0, TimeSpan.Zero);
        var berlin = Plan(new RetentionPolicy { Gfs = new GfsRule(Daily: 3), TimeZone = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin") }, now, [a, b, c, d]);
        Assert.Equal(new[] { a.Id, c.Id, d.Id }, Kept(berlin));
        Assert.Contains("daily 2026-10-25", Decision(berlin, c).Reasons);
        var utc = Plan(new RetentionPolicy { Gfs = new GfsRule(Daily: 3) }, now, [a, b, c, d]);
        Assert.Equal(new[] { b.Id, d.Id }, Kept(utc).Where(id => id != c.Id)); // in UTC a and b share the 24th, c and d the 25th
        Assert.Contains("daily 2026-10-24", Decision(utc, b).Reasons);
    }

    [Fact]
    public void TimelineSwitch_KeepsWalOfEveryTimelineAfterTheAnchorAndEveryHistoryFile()
    {
        var f1 = Physical(BackupKind.Full, T0, 2, 1);
        var f2 = Physical(BackupKind.Full, T0.AddDays(1), 6, 2);
        var f3 = Physical(BackupKind.Full, T0.AddDays(2), 9, 2);
        var plan = Plan(new RetentionPolicy { Full = 2 }, T0.AddDays(3), [f1, f2, f3]);
        Assert.Equal(f2.Id, plan.PitrAnchor);
        Assert.False(plan.KeepsWal(Seg(5, 1)));
        Assert.True(plan.KeepsWal(Seg(6, 1) + ".partial")); // the old timeline's last segment, at the switch
        Assert.True(plan.KeepsWal(Seg(7, 2)));
        Assert.True(plan.KeepsWal(Seg(6, 2) + ".00000028.backup"));
        Assert.False(plan.KeepsWal(Seg(2, 1) + ".00000028.backup"));
        Assert.True(plan.KeepsWal("00000002.history"));
    }

    [Fact]
    public void Pins_KeepUntilTheirTimeAndPitrPinsKeepWalToTheNextKeptBackup()
    {
        var f1 = Physical(BackupKind.Full, T0, 2);
        var f2 = Physical(BackupKind.Full, T0.AddDays(1), 6);
        var f3 = Physical(BackupKind.Full, T0.AddDays(2), 10);
        var f4 = Physical(BackupKind.Full, T0.AddDays(3), 14);
        var now = T0.AddDays(4);
        var pins = new List<BackupPin>
        {
            new() { Id = f1.Id, Until = now.AddDays(30) },
            new() { Id = f2.Id, Until = now.AddDays(-1) },
        };
        var plan = Plan(new RetentionPolicy { Full = 1 }, now, [f1, f2, f3, f4], pins);
        Assert.Equal(new[] { f1.Id, f4.Id }, Kept(plan));
        Assert.StartsWith("pinned until", Decision(plan, f1).Reasons.Single());
        Assert.Equal("consistent", Decision(plan, f1).Mode);
        Assert.Contains("its pin ended", Decision(plan, f2).Reasons.Single());
        Assert.False(plan.KeepsWal(Seg(3)));

        var pitrPin = Plan(new RetentionPolicy { Full = 1 }, now, [f1, f2, f3, f4], [new BackupPin { Id = f2.Id, Pitr = true }]);
        Assert.Equal(new[] { f2.Id, f4.Id }, Kept(pitrPin));
        Assert.Contains("pinned forever", Decision(pitrPin, f2).Reasons);
        Assert.True(pitrPin.KeepsWal(Seg(9))); // after the pinned backup, up to the next kept one
        Assert.False(pitrPin.KeepsWal(Seg(5)));
    }

    [Fact]
    public void MinRedundancy_WinsOverEverything()
    {
        var f1 = Physical(BackupKind.Full, T0, 2);
        var f2 = Physical(BackupKind.Full, T0.AddDays(1), 4);
        var i1 = Physical(BackupKind.Incr, T0.AddDays(2), 6, 1, f2);
        var i2 = Physical(BackupKind.Incr, T0.AddDays(3), 8, 1, f2, i1);
        var plan = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromHours(1), MinRedundancy = 2 }, T0.AddDays(4), [f1, f2, i1, i2]);
        Assert.True(Decision(plan, f1).Keep);
        Assert.Contains("min_redundancy 2", Decision(plan, f1).Reasons);
        Assert.Equal("consistent", Decision(plan, f1).Mode);
        var one = Plan(new RetentionPolicy { PitrWindow = TimeSpan.FromHours(1) }, T0.AddDays(4), [f1, f2, i1, i2]);
        Assert.False(Decision(one, f1).Keep);
    }

    [Fact]
    public void NewestBackup_IsNeverRemoved()
    {
        var f = Physical(BackupKind.Full, T0, 2);
        var i = Physical(BackupKind.Incr, T0.AddDays(1), 4, 1, f);
        var plan = Plan(new RetentionPolicy { Gfs = new GfsRule(Daily: 1), MinRedundancy = 1 }, T0.AddDays(400), [f, i]);
        Assert.True(Decision(plan, i).Keep);
        Assert.True(Decision(plan, f).Keep);
    }

    [Fact]
    public void RunningBackup_KeepsItsReferenceChainAndWalBound()
    {
        var f1 = Physical(BackupKind.Full, T0, 2);
        var f2 = Physical(BackupKind.Full, T0.AddDays(1), 4);
        var running = new RunningBackup(BackupId.Create(T0.AddDays(1).AddHours(1), BackupKind.Incr).Text, [f1.Id], Seg(2)[8..]);
        var plan = Plan(new RetentionPolicy { Full = 1 }, T0.AddDays(2), [f1, f2], running: [running]);
        Assert.Contains($"referenced by running backup {running.Id}", Decision(plan, f1).Reasons);
        Assert.True(plan.KeepsWal(Seg(3)));
        var without = Plan(new RetentionPolicy { Full = 1 }, T0.AddDays(2), [f1, f2]);
        Assert.False(Decision(without, f1).Keep);
    }

    [Fact]
    public void LogicalBackups_FollowTheirOwnRules()
    {
        var logical = Enumerable.Range(0, 6).Select(d => Logical(T0.AddDays(d))).ToList();
        var f = Physical(BackupKind.Full, T0, 2);
        var plan = Plan(new RetentionPolicy { Full = 1, Logical = new LogicalRetention(2, new GfsRule(Weekly: 1)) }, T0.AddDays(7), [f, .. logical]);
        Assert.Equal(new[] { logical[4].Id, logical[5].Id }.Append(f.Id).Order(StringComparer.Ordinal), Kept(plan).Order(StringComparer.Ordinal));
        Assert.Equal("kept", Decision(plan, logical[5]).Mode);

        var noLogicalRule = Plan(new RetentionPolicy { Full = 1 }, T0.AddDays(7), [f, .. logical]);
        Assert.All(logical, l => Assert.True(Decision(noLogicalRule, l).Keep));

        var onlyLogical = Plan(new RetentionPolicy { Logical = new LogicalRetention(1, null) }, T0.AddDays(7), [f, Physical(BackupKind.Full, T0.AddDays(1), 4), .. logical]);
        Assert.False(onlyLogical.ManagesWal);
        Assert.True(onlyLogical.KeepsWal(Seg(1)));
        Assert.Equal(2, onlyLogical.Decisions.Count(d => d.Keep && d.Type == "full"));
    }

    [Fact]
    public void WalGaps_AreFoundAcrossLogFilesAndTimelines()
    {
        static WalObject W(string name) => new("k/" + name, name, 1);
        var continuous = new[] { W("0000000100000000000000FE"), W("0000000100000000000000FF"), W("000000010000000100000000"), W("000000020000000100000001") };
        Assert.Empty(RetentionStore.Gaps(continuous, "00000000000000FE"));
        var gap = new[] { W("000000010000000000000003"), W("000000010000000000000004"), W("000000010000000000000007") };
        Assert.Equal(["0000000000000005..0000000000000006"], RetentionStore.Gaps(gap, "0000000000000003"));
        Assert.Empty(RetentionStore.Gaps(gap, "0000000000000007"));
    }
}
