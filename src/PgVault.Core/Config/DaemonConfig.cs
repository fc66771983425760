using Cronos;

namespace PgVault.Core.Config;

/// <summary>The top-level <c>daemon:</c> section: how <c>pgvault daemon</c> runs its schedules and serves metrics.</summary>
public sealed record DaemonConfig
{
    public const string DefaultListen = "127.0.0.1:9187";
    public const string DefaultStateFile = "/var/lib/pgvault/daemon-state.json";

    /// <summary>Tasks running at once over every cluster (one per cluster at most, whatever this says).</summary>
    public int MaxConcurrent { get; init; } = 1;

    /// <summary>Each run starts after a random delay from zero to this (spreads load when many schedules share a minute).</summary>
    public TimeSpan Jitter { get; init; } = TimeSpan.Zero;

    /// <summary>A slot missed (daemon down) by less than this runs once at start-up; older ones are logged as missed.</summary>
    public TimeSpan CatchUp { get; init; } = TimeSpan.FromHours(1);

    /// <summary>host:port of /metrics and /healthz.</summary>
    public string Listen { get; init; } = DefaultListen;

    /// <summary>A file holding the Bearer token /metrics requires (required when <see cref="Listen"/> is not loopback).</summary>
    public string? MetricsTokenFile { get; init; }

    /// <summary>How long SIGTERM lets a running task finish before cancelling it.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the monitor's checks run for alerts (and how old the statuses /metrics serves may be).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>text or json: the shape of the log lines on stderr.</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary>Where the daemon remembers the last slot each schedule ran (for catch_up).</summary>
    public string StateFile { get; init; } = DefaultStateFile;

    public static readonly DaemonConfig Default = new();
}

/// <summary>The task a schedule runs.</summary>
public enum ScheduledTaskKind
{
    // Declaration order is the order tasks due together run in (backup first, expire last).
    Backup,
    Verify,
    Drill,
    Expire,
    /// <summary>Not scheduled: <c>pgvault wal-stream</c> run by the daemon from start to stop.</summary>
    WalStream,
}

/// <summary>
/// One entry of <c>clusters.NAME.schedules</c>: what to run (<see cref="Task"/> with its type,
/// databases or target) and when (exactly one of <see cref="Cron"/>, <see cref="Every"/> or a
/// <c>daily_at</c>, which is read as a cron expression).
/// </summary>
public sealed record ScheduleSpec
{
    public required ScheduledTaskKind Task { get; init; }

    /// <summary>Backups: full, diff, incr or logical.</summary>
    public string? Type { get; init; }

    /// <summary>Logical backups: the databases (empty: every database plus globals).</summary>
    public IReadOnlyList<string> Databases { get; init; } = [];

    /// <summary>Drills: the recovery target (latest, immediate, random, a time or a restore point).</summary>
    public string? Target { get; init; }

    /// <summary>The cron expression (5 fields, or 6 with seconds first), also for daily_at.</summary>
    public CronExpression? Cron { get; init; }

    /// <summary>How the timing was written in the configuration (for logs and --check-config).</summary>
    public required string When { get; init; }

    /// <summary>every: runs at multiples of this span since 1970-01-01T00:00Z.</summary>
    public TimeSpan? Every { get; init; }

    public TimeZoneInfo TimeZone { get; init; } = TimeZoneInfo.Utc;

    /// <summary>The task as a label: backup, verify, drill, expire, wal-stream.</summary>
    public string TaskName => Task == ScheduledTaskKind.WalStream ? "wal-stream" : Task.ToString().ToLowerInvariant();

    /// <summary>True for a task that runs from the daemon's start to its stop instead of on a schedule.</summary>
    public bool Continuous => Task == ScheduledTaskKind.WalStream;

    /// <summary>A short description: "backup full", "backup logical shop,crm", "drill random".</summary>
    public string What => Task switch
    {
        ScheduledTaskKind.Backup => $"backup {Type}{(Databases.Count > 0 ? " " + string.Join(',', Databases) : "")}",
        ScheduledTaskKind.Drill when Target != null => $"drill {Target}",
        _ => TaskName,
    };
}
