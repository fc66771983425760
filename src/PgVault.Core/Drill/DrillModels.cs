using System.Text.Json.Serialization;
using PgVault.Core.Config;
using PgVault.Core.Errors;

namespace PgVault.Core.Drill;

/// <summary>What `pgvault drill` was asked for. Validated once.</summary>
public sealed record DrillOptions
{
    /// <summary>A backup id or "latest" (the newest backup of any kind).</summary>
    public string BackupId { get; init; } = "latest";
    /// <summary>Physical backups: latest (default), immediate, random, a time stamp or a restore point name.</summary>
    public string? Target { get; init; }
    /// <summary>Checks from --checks FILE, run after the configured ones.</summary>
    public IReadOnlyList<DrillCheck> ExtraChecks { get; init; } = [];
    /// <summary>Logical backups: restore into scratch databases on the cluster's own server instead of a sandbox.</summary>
    public bool IntoCluster { get; init; }
    /// <summary>pg_amcheck --heapallindexed (slower: every heap tuple must have its index entries).</summary>
    public bool HeapAllIndexed { get; init; }
    /// <summary>Where the scratch place is made; null: clusters.NAME.drills.scratch_dir, else the default.</summary>
    public string? ScratchDir { get; init; }
    public int Parallel { get; init; } = ClusterConfig.DefaultParallel;

    public DrillOptions Validate()
    {
        if (Target is { Length: 0 }) throw PgVaultException.Usage("--target needs a value: latest, immediate, random, a time stamp or a restore point name");
        if (IntoCluster && Target != null) throw PgVaultException.Usage("--into-cluster applies to logical backups, which take no --target");
        if (Parallel is < 1 or > 64) throw PgVaultException.Usage($"--parallel {Parallel} must be from 1 to 64");
        if (ScratchDir != null && !Path.IsPathFullyQualified(ScratchDir)) throw PgVaultException.Usage($"--scratch-dir '{ScratchDir}' must be an absolute path");
        return this;
    }
}

/// <summary>One validation of a drill and its outcome.</summary>
public sealed record DrillCheckResult
{
    /// <summary>server | amcheck | tables | user.</summary>
    public string Kind { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>passed | failed.</summary>
    public string Result { get; init; } = "";
    public string? Detail { get; init; }
}

/// <summary>
/// clusters/C/drills/ID.json: one restore drill, passed or failed, with the time of each phase.
/// rto_seconds is the wall time from the first byte fetched to the last check: the recovery time
/// measured as a user would live it.
/// </summary>
public sealed record DrillRecord
{
    public const string Passed = "passed";
    public const string Failed = "failed";

    public string Id { get; init; } = "";
    public string Cluster { get; init; } = "";
    public string Backup { get; init; } = "";
    public string BackupType { get; init; } = "";
    /// <summary>latest, immediate, random, time or name (logical: "backup").</summary>
    public string Target { get; init; } = "";
    /// <summary>The target's value: the time stamp (also the one random chose) or the restore point's name.</summary>
    public string? TargetValue { get; init; }
    /// <summary>passed | failed.</summary>
    public string Result { get; init; } = Failed;
    /// <summary>For a failed drill: the phase that broke (restore, startup, wal_replay, checks) and what broke.</summary>
    public string? FailedPhase { get; init; }
    public string? Failure { get; init; }
    public string? FailureCode { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public double RtoSeconds { get; init; }
    /// <summary>Fetch + decrypt + decompress + write (pg_restore for a logical backup).</summary>
    public double RestoreSeconds { get; init; }
    /// <summary>From the server's launch until it accepts connections (the backup made consistent; for a logical drill the sandbox's initdb + start).</summary>
    public double StartupSeconds { get; init; }
    /// <summary>From consistency until recovery ended at the target (physical only).</summary>
    public double WalReplaySeconds { get; init; }
    public double ChecksSeconds { get; init; }
    public long BytesRestored { get; init; }
    public long WalReplayedBytes { get; init; }
    /// <summary>sandbox (a cluster PgVault started), cluster (--into-cluster) or datadir (a scratch data directory).</summary>
    public string Place { get; init; } = "";
    public int ServerMajor { get; init; }
    public List<DrillCheckResult> Checks { get; init; } = [];
    /// <summary>Differences worth knowing that do not fail the drill (estimates far off, tables created since the backup).</summary>
    public List<string> Notes { get; init; } = [];
    public string Host { get; init; } = "";
    public string PgVaultVersion { get; init; } = "";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NewLine = "\n",
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DrillRecord))]
[JsonSerializable(typeof(List<DrillRecord>))]
[JsonSerializable(typeof(ScratchMarker))]
public sealed partial class DrillJson : JsonSerializerContext;
