using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Physical;

/// <summary>What `pgvault restore --pgdata DIR ...` was asked for. Validated once, before anything is read.</summary>
public sealed record PhysicalRestoreOptions
{
    /// <summary>A backup id, "latest", or null: the newest backup that fits the target.</summary>
    public string? BackupId { get; init; }
    public string PgData { get; init; } = "";
    public bool Delta { get; init; }
    public bool Force { get; init; }
    public int Parallel { get; init; } = Config.ClusterConfig.DefaultParallel;
    public bool Plan { get; init; }
    public string? TargetTime { get; init; }
    public string? TargetXid { get; init; }
    public string? TargetLsn { get; init; }
    public string? TargetName { get; init; }
    /// <summary>"immediate" (the end of the backup) or null.</summary>
    public string? Target { get; init; }
    public bool TargetExclusive { get; init; }
    /// <summary>promote, pause or shutdown (PostgreSQL's default: pause).</summary>
    public string? TargetAction { get; init; }
    /// <summary>latest, current or a timeline number; null = PostgreSQL's default (latest).</summary>
    public string? TargetTimeline { get; init; }
    /// <summary>"default" (recovery.signal) or "standby" (standby.signal).</summary>
    public string Type { get; init; } = "default";
    public string? PrimaryConninfo { get; init; }
    /// <summary>OID or name = new location.</summary>
    public IReadOnlyList<string> TablespaceMap { get; init; } = [];
    /// <summary>preserve (the backup's archive_mode) or off (archive_mode = off in postgresql.auto.conf).</summary>
    public string ArchiveMode { get; init; } = "preserve";
    /// <summary>The restore_command written into postgresql.auto.conf.</summary>
    public string RestoreCommand { get; init; } = "";

    public static readonly string[] TargetActions = ["promote", "pause", "shutdown"];

    public DateTimeOffset? ParsedTime { get; private init; }
    public ulong? ParsedLsn { get; private init; }
    public ulong? ParsedXid { get; private init; }

    public string? TargetKind =>
        TargetTime != null ? "time" : TargetXid != null ? "xid" : TargetLsn != null ? "lsn" : TargetName != null ? "name" : Target != null ? "immediate" : null;

    /// <summary>Checks the combination and parses the target values; returns the validated options.</summary>
    public PhysicalRestoreOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(PgData)) throw PgVaultException.Usage("--pgdata DIR is required for a physical restore");
        int targets = new[] { TargetTime, TargetXid, TargetLsn, TargetName, Target }.Count(t => t != null);
        if (targets > 1) throw PgVaultException.Usage("give one recovery target: --target-time, --target-xid, --target-lsn, --target-name or --target immediate");
        if (Target != null && Target != "immediate") throw PgVaultException.Usage($"--target '{Target}': the only value is 'immediate'");
        if (Delta && Force) throw PgVaultException.Usage("--delta and --force exclude each other");
        if (Parallel is < 1 or > 64) throw PgVaultException.Usage($"--parallel {Parallel} must be from 1 to 64");
        if (TargetAction != null && !TargetActions.Contains(TargetAction)) throw PgVaultException.Usage($"--target-action '{TargetAction}' must be promote, pause or shutdown");
        if (TargetAction != null && targets == 0) throw PgVaultException.Usage("--target-action needs a recovery target");
        if (TargetExclusive && TargetTime == null && TargetXid == null && TargetLsn == null)
            throw PgVaultException.Usage("--target-exclusive applies to --target-time, --target-xid and --target-lsn");
        if (Type is not ("default" or "standby")) throw PgVaultException.Usage($"--type '{Type}' must be default or standby for a physical restore");
        if (Type == "standby" && targets > 0) throw PgVaultException.Usage("a standby follows its primary: --type standby takes no recovery target");
        if (PrimaryConninfo != null && Type != "standby") throw PgVaultException.Usage("--primary-conninfo needs --type standby");
        if (PrimaryConninfo != null && PrimaryConninfo.Contains("password", StringComparison.OrdinalIgnoreCase))
            throw PgVaultException.Usage("--primary-conninfo must not carry a password (it would show on the command line and in the process list)",
                "give the password in the postgres user's ~/.pgpass or with passfile= in the conninfo");
        if (ArchiveMode is not ("preserve" or "off")) throw PgVaultException.Usage($"--archive-mode '{ArchiveMode}' must be preserve or off");
        if (TargetTimeline != null && TargetTimeline is not ("latest" or "current") && !uint.TryParse(TargetTimeline, CultureInfo.InvariantCulture, out uint tl))
            throw PgVaultException.Usage($"--target-timeline '{TargetTimeline}' must be latest, current or a timeline number");
        foreach (var map in TablespaceMap)
        {
            int eq = map.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == map.Length - 1 || !Path.IsPathFullyQualified(map[(eq + 1)..]))
                throw PgVaultException.Usage($"--tablespace-map '{map}' must be OID_OR_NAME=/absolute/path");
        }
        DateTimeOffset? time = null;
        if (TargetTime != null)
        {
            if (!DateTimeOffset.TryParse(TargetTime, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed))
                throw PgVaultException.Usage($"--target-time '{TargetTime}' is not a time stamp (e.g. '2026-11-23 14:30:00+00')");
            time = parsed;
        }
        ulong? lsn = null;
        if (TargetLsn != null)
        {
            try
            {
                lsn = Lsn.ParseLsn(TargetLsn);
            }
            catch (FormatException)
            {
                throw PgVaultException.Usage($"--target-lsn '{TargetLsn}' is not an LSN (e.g. 0/3000028)");
            }
        }
        ulong? xid = null;
        if (TargetXid != null)
        {
            if (!ulong.TryParse(TargetXid, CultureInfo.InvariantCulture, out ulong x) || x < 3)
                throw PgVaultException.Usage($"--target-xid '{TargetXid}' is not a transaction id");
            xid = x;
        }
        return this with { ParsedTime = time, ParsedLsn = lsn, ParsedXid = xid };
    }
}
