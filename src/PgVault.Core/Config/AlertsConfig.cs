using System.Globalization;

namespace PgVault.Core.Config;

/// <summary>
/// The top-level <c>alerts:</c> section: the status thresholds (<c>alerts.thresholds</c>) every
/// cluster inherits. Channels are added to the same section by the alerting code.
/// </summary>
public sealed record AlertsConfig
{
    public static readonly AlertsConfig Default = new();

    public ThresholdSet Thresholds { get; init; } = ThresholdSet.Default;
}

/// <summary>
/// One threshold: a WARNING value and optionally a CRITICAL one. Ages are in seconds, counts are
/// counts, free space is a percentage. <see cref="Critical"/> null: the check's default (twice the
/// warning age; none for counts; half the warning for free space). <see cref="Off"/>: not checked.
/// </summary>
public sealed record Threshold(double Warning, double? Critical = null)
{
    public static readonly Threshold Disabled = new(0) { Off = true };

    public bool Off { get; init; }

    public override string ToString() =>
        Off ? "off" : Critical is { } c ? $"{Warning.ToString(CultureInfo.InvariantCulture)}/{c.ToString(CultureInfo.InvariantCulture)}" : Warning.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// <c>alerts.thresholds</c>, overridable key by key under <c>clusters.NAME.thresholds</c>.
/// Defaults: backup_max_age 26h, wal_max_age 15m, archive_failures 1, drill_max_age 7d,
/// verify_max_age 2d, repo_min_free 10%.
/// </summary>
public sealed record ThresholdSet
{
    public static readonly ThresholdSet Default = new();

    public Threshold BackupMaxAge { get; init; } = new(26 * 3600);
    public Threshold WalMaxAge { get; init; } = new(15 * 60);
    public Threshold ArchiveFailures { get; init; } = new(1);
    public Threshold DrillMaxAge { get; init; } = new(7 * 86400);
    public Threshold VerifyMaxAge { get; init; } = new(2 * 86400);
    /// <summary>Free space of a filesystem repository, in percent of its filesystem: WARNING below it.</summary>
    public Threshold RepoMinFree { get; init; } = new(10);
}
