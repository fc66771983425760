using System.Text.Json.Serialization;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Monitor;

/// <summary>What `pgvault status` (and the daemon's metrics and alerts) asks of <see cref="ClusterMonitor"/>.</summary>
public sealed record StatusOptions
{
    /// <summary>Query the server (pg_stat_archiver, replication, slots); false: repository facts only.</summary>
    public bool QueryServer { get; init; } = true;
    /// <summary>How long to wait for the server before its checks become UNKNOWN.</summary>
    public TimeSpan ServerTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>The state of one check, ordered as Nagios ranks them for the exit code (see <see cref="CheckStates.Worst"/>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CheckState>))]
public enum CheckState
{
    [JsonStringEnumMemberName("OK")] Ok = 0,
    [JsonStringEnumMemberName("WARNING")] Warning = 1,
    [JsonStringEnumMemberName("CRITICAL")] Critical = 2,
    [JsonStringEnumMemberName("UNKNOWN")] Unknown = 3,
}

public static class CheckStates
{
    public static string Name(this CheckState state) => state switch
    {
        CheckState.Ok => "OK",
        CheckState.Warning => "WARNING",
        CheckState.Critical => "CRITICAL",
        _ => "UNKNOWN",
    };

    /// <summary>Severity for ranking: CRITICAL over WARNING over UNKNOWN over OK (the usual plugin rule).</summary>
    public static int Severity(this CheckState state) => state switch
    {
        CheckState.Critical => 3,
        CheckState.Warning => 2,
        CheckState.Unknown => 1,
        _ => 0,
    };

    public static CheckState Worst(IEnumerable<CheckState> states) =>
        states.Aggregate(CheckState.Ok, (a, b) => b.Severity() > a.Severity() ? b : a);
}

/// <summary>
/// One evaluated check: backup_age, wal_age, archive_failures, verify_age, drill_age, repo_free
/// (one per filesystem repository), rpo, rto. <see cref="Value"/> is in <see cref="Unit"/>
/// ("s", "%" or "" for a count), null when unknown or never.
/// </summary>
public sealed record StatusCheck
{
    public string Name { get; init; } = "";
    public CheckState State { get; init; }
    public double? Value { get; init; }
    public string Unit { get; init; } = "";
    public double? Warning { get; init; }
    public double? Critical { get; init; }
    public string Message { get; init; } = "";
}

/// <summary>The newest complete backup of one type in one repository, and how many of that type it keeps.</summary>
public sealed record BackupTypeFact
{
    public string Type { get; init; } = "";
    public string Repository { get; init; } = "";
    public int Count { get; init; }
    public string LastId { get; init; } = "";
    public DateTimeOffset LastFinishedAt { get; init; }
    public double LastAgeSeconds { get; init; }
    public double LastDurationSeconds { get; init; }
    public long LastSizeBytes { get; init; }
    public long LastStoredBytes { get; init; }
}

/// <summary>The WAL archive of the cluster in one repository: its newest segment and when it was stored.</summary>
public sealed record WalFact
{
    public string Repository { get; init; } = "";
    public string? NewestSegment { get; init; }
    public DateTimeOffset? NewestArchivedAt { get; init; }
    public double? AgeSeconds { get; init; }
    public int Segments { get; init; }
}

/// <summary>What the server said; null members when a query was not allowed or does not apply (a standby has no replication lag of its own).</summary>
public sealed record ServerFact
{
    public bool Reachable { get; init; }
    /// <summary>Why the server could not be asked (reachable false).</summary>
    public string? Error { get; init; }
    public ArchiverStats? Archiver { get; init; }
    /// <summary>.ready files in pg_wal/archive_status: segments waiting for archive_command.</summary>
    public int? ReadyFiles { get; init; }
    public List<ReplicationStats> Replication { get; init; } = [];
    public List<SlotStats> Slots { get; init; } = [];
}

public sealed record VerifyFact
{
    public string Repository { get; init; } = "";
    public DateTimeOffset Time { get; init; }
    public bool Valid { get; init; }
    public string Mode { get; init; } = "";
    public double AgeSeconds { get; init; }
    public int Problems { get; init; }
    /// <summary>The newest valid run (the same run when the newest is valid), null when none is stored.</summary>
    public DateTimeOffset? LastSuccessAt { get; init; }
}

public sealed record DrillFact
{
    public string Id { get; init; } = "";
    public string Backup { get; init; } = "";
    public string Result { get; init; } = "";
    public DateTimeOffset FinishedAt { get; init; }
    public double AgeSeconds { get; init; }
    public double RtoSeconds { get; init; }
    public string? Failure { get; init; }
    /// <summary>The newest passed drill's end and RTO (the same drill when the newest passed).</summary>
    public DateTimeOffset? LastSuccessAt { get; init; }
    public double? LastSuccessRtoSeconds { get; init; }
}

/// <summary>One repository: what the cluster stores in it, and the free space of its filesystem (null for S3).</summary>
public sealed record RepositoryFact
{
    public string Repository { get; init; } = "";
    public string Type { get; init; } = "";
    public long SizeBytes { get; init; }
    public long Objects { get; init; }
    public long? FreeBytes { get; init; }
    public long? TotalBytes { get; init; }
    public double? FreePercent { get; init; }
    /// <summary>Why the repository could not be read (its facts are then empty).</summary>
    public string? Error { get; init; }
}

/// <summary>The recoverable window, RPO and RTO, and the objectives they are held to.</summary>
public sealed record RecoveryFact
{
    /// <summary>Where point-in-time recovery can start: the retention plan's anchor, else the oldest physical backup's end.</summary>
    public DateTimeOffset? RecoverableFrom { get; init; }
    /// <summary>The newest archived WAL (any repository).</summary>
    public DateTimeOffset? RecoverableTo { get; init; }
    public double? WindowSeconds { get; init; }
    /// <summary>The data lost if the server died now: age of the newest archived WAL, or of the newest backup without WAL.</summary>
    public double? RpoSeconds { get; init; }
    /// <summary>The RTO measured by the newest passed drill.</summary>
    public double? RtoSeconds { get; init; }
    public double? ObjectiveRpoSeconds { get; init; }
    public double? ObjectiveRtoSeconds { get; init; }
}

/// <summary>Everything `pgvault status` knows of one cluster, and its checks. <see cref="State"/> is the worst check's.</summary>
public sealed record ClusterStatus
{
    public string Cluster { get; init; } = "";
    public DateTimeOffset Time { get; init; }
    public CheckState State { get; init; }
    public int BackupsKept { get; init; }
    public List<BackupTypeFact> Backups { get; init; } = [];
    public List<WalFact> Wal { get; init; } = [];
    public ServerFact Server { get; init; } = new();
    public RecoveryFact Recovery { get; init; } = new();
    public VerifyFact? LastVerify { get; init; }
    public DrillFact? LastDrill { get; init; }
    public List<RepositoryFact> Repositories { get; init; } = [];
    /// <summary>The newest recorded failure (a failed verify or drill; failed backups leave no record in the repository).</summary>
    public string? LastFailure { get; init; }
    public List<StatusCheck> Checks { get; init; } = [];
}

/// <summary>How often a daemon task ended one way (for pgvault_task_runs_total).</summary>
public sealed record TaskRunCount(string Cluster, string Task, string Result, long Count);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NewLine = "\n",
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ClusterStatus))]
[JsonSerializable(typeof(List<ClusterStatus>))]
[JsonSerializable(typeof(StatusReport))]
public sealed partial class MonitorJson : JsonSerializerContext;

/// <summary>What `pgvault status --output json` prints: the overall state and every cluster's status.</summary>
public sealed record StatusReport(CheckState State, List<ClusterStatus> Clusters);
