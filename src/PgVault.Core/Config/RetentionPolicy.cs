namespace PgVault.Core.Config;

/// <summary>
/// How many of the newest backups of each calendar bucket to keep (grandfather-father-son): the
/// newest backup of each of the last <see cref="Daily"/> days, <see cref="Weekly"/> ISO weeks,
/// <see cref="Monthly"/> months and <see cref="Yearly"/> years that have one.
/// </summary>
public sealed record GfsRule(int Daily = 0, int Weekly = 0, int Monthly = 0, int Yearly = 0)
{
    public bool Any => Daily + Weekly + Monthly + Yearly > 0;
}

/// <summary>The rules for logical backups (<c>retention.logical</c>): the newest <see cref="Count"/> and a GFS set.</summary>
public sealed record LogicalRetention(int? Count, GfsRule? Gfs);

/// <summary>
/// A retention policy (<c>clusters.NAME.retention</c>, replaced per repository by
/// <c>repositories[].retention</c>). A backup is kept when any rule keeps it; see docs/retention.md.
/// </summary>
public sealed record RetentionPolicy
{
    /// <summary>Every moment of this last span stays recoverable (the backup before it and all WAL after).</summary>
    public TimeSpan? PitrWindow { get; init; }

    /// <summary>The newest N full backups with their chains, and all WAL from the oldest of them.</summary>
    public int? Full { get; init; }

    /// <summary>Newest full of each day/week/month/year, consistent-only.</summary>
    public GfsRule? Gfs { get; init; }

    /// <summary>Rules for logical backups; null keeps every logical backup.</summary>
    public LogicalRetention? Logical { get; init; }

    /// <summary>Never fewer complete full backups than this, whatever the other rules say.</summary>
    public int MinRedundancy { get; init; } = 1;

    /// <summary>A successful backup runs expire itself (default true once a policy is set).</summary>
    public bool ExpireAfterBackup { get; init; } = true;

    /// <summary>The IANA (or Windows) zone GFS buckets are cut in.</summary>
    public TimeZoneInfo TimeZone { get; init; } = TimeZoneInfo.Utc;
}
