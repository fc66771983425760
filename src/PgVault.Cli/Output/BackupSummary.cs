using System.Text.Json.Serialization;
using PgVault.Core.Sync;
using PgVault.Core.Repository;

namespace PgVault.Cli.Output;

/// <summary>One row of `pgvault list --output json` (and the result of `pgvault backup --output json`).</summary>
internal sealed record BackupSummary(
    string Id,
    string Type,
    string Cluster,
    IReadOnlyList<string> Databases,
    bool Globals,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    double DurationSeconds,
    long SizeBytes,
    long StoredBytes,
    string Compression,
    bool Encrypted,
    string Status,
    IReadOnlyList<string> Repositories,
    string? Reference = null,
    string? StartLsn = null,
    string? StopLsn = null,
    int? Timeline = null,
    int? FilesStored = null,
    int? FilesReferenced = null,
    int? BadPages = null,
    int? FilesAsDeltas = null)
{
    /// <summary>Under the cluster's retention policy: pitr, consistent, kept (logical) or expires; null without a policy.</summary>
    public string? Recovery { get; init; }

    /// <summary>Set by `pgvault backup` only: how an incremental found its changed pages (WAL block map or page-hash scan).</summary>
    public WalBlockMapInfo? WalBlockMap { get; init; }

    public static BackupSummary From(BackupManifest m, params string[] repositories) => From(m.Header, repositories);

    public static BackupSummary From(BackupHeader h, params string[] repositories) => new(
        h.Id, h.Type, h.Cluster, h.Databases, h.Globals != null, h.StartedAt, h.FinishedAt,
        h.DurationSeconds, h.SizeBytes, h.StoredBytes, h.Compression, h.Encrypted, h.Status, repositories,
        h.Physical?.Reference, h.Physical?.StartLsn, h.Physical?.StopLsn, h.Physical?.Timeline, h.Physical?.FilesStored, h.Physical?.FilesReferenced, h.Physical?.BadPages, h.Physical?.FilesAsDeltas);
}

internal sealed record RestoreSummary(
    string BackupId,
    string? SourceDatabase,
    string? TargetDatabase,
    bool CreatedDatabase,
    bool GlobalsRestored,
    double DurationSeconds);

internal sealed record RepoSummary(string Repository, string Location, int Format, bool Encrypted, string Action);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, NewLine = "\n")]
[JsonSerializable(typeof(BackupSummary))]
[JsonSerializable(typeof(List<BackupSummary>))]
[JsonSerializable(typeof(RestoreSummary))]
[JsonSerializable(typeof(PgVault.Core.Physical.RestoreOutcome))]
[JsonSerializable(typeof(RepoSummary))]
[JsonSerializable(typeof(List<RepoSummary>))]
[JsonSerializable(typeof(PgVault.Core.Wal.ArchiveSetupPlan))]
[JsonSerializable(typeof(PgVault.Core.Wal.ArchiveCheckResult))]
[JsonSerializable(typeof(List<PgVault.Core.Sync.SyncedBackup>))]
[JsonSerializable(typeof(PgVault.Core.Retention.ExpireResult))]
[JsonSerializable(typeof(PgVault.Core.Retention.DeleteResult))]
[JsonSerializable(typeof(PgVault.Core.Retention.KeepResult))]
[JsonSerializable(typeof(PgVault.Core.Report.ReportResult))]
[JsonSerializable(typeof(PgVault.Core.Streaming.WalStreamResult))]
internal sealed partial class CliJson : JsonSerializerContext;
