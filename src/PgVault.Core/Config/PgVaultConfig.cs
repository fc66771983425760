using PgVault.Core.Storage;
using PgVault.Core.Pipeline;

namespace PgVault.Core.Config;

/// <summary>The whole configuration: read from YAML, or assembled from flags alone.</summary>
public sealed record PgVaultConfig(
    string? SourceFile,
    IReadOnlyList<RepositoryConfig> Repositories,
    EncryptionConfig? Encryption,
    IReadOnlyDictionary<string, ClusterConfig> Clusters)
{
    public static readonly PgVaultConfig Empty = new(null, [], null, new Dictionary<string, ClusterConfig>());

    /// <summary>The top-level alerts: section (thresholds every cluster inherits).</summary>
    public AlertsConfig Alerts { get; init; } = AlertsConfig.Default;
    /// <summary>The top-level daemon: section (defaults when absent).</summary>
    public DaemonConfig Daemon { get; init; } = DaemonConfig.Default;
    /// <summary>alerts.channels and alerts.repeat_interval: where alerts go and how often a bad condition repeats.</summary>
    public AlertDeliveryConfig AlertDelivery { get; init; } = AlertDeliveryConfig.None;
}

/// <summary>
/// One repository. <see cref="Type"/> is "filesystem" (with <see cref="Path"/>) or "s3" (with
/// <see cref="S3"/>).
/// </summary>
public sealed record RepositoryConfig(string Name, string Type, string? Path, S3Settings? S3 = null)
{
    /// <summary>
    /// <c>encrypted:</c> of the repository. False: this repository is (and is created) unencrypted
    /// even when the configuration has a passphrase. Null or true: encrypted exactly when the
    /// configuration has a passphrase, and an unencrypted descriptor is then refused (downgrade).
    /// </summary>
    public bool? Encrypted { get; init; }

    /// <summary><c>retention:</c> of the repository: replaces the cluster's policy for this repository.</summary>
    public RetentionPolicy? Retention { get; init; }

    /// <summary>The passphrase this repository is opened (or created) with.</summary>
    public string? PassphraseFor(string? configured) => Encrypted == false ? null : configured;
}

/// <summary>Where the repository passphrase comes from: a file or an environment variable, never argv.</summary>
public sealed record EncryptionConfig(string? PassphraseFile, string? PassphraseEnv);

/// <summary>One PostgreSQL cluster PgVault backs up.</summary>
public sealed record ClusterConfig(
    string Name,
    string? Connection,
    string? PgData,
    string? BinDir,
    CompressionSpec Compression,
    int Parallel,
    ArchiveConfig? Archive = null,
    RetentionPolicy? Retention = null)
{
    /// <summary>clusters.NAME.drills: checks and scratch place of restore drills.</summary>
    public DrillConfig Drills { get; init; } = DrillConfig.Default;

    /// <summary>The status thresholds of this cluster: alerts.thresholds with clusters.NAME.thresholds over them.</summary>
    public ThresholdSet Thresholds { get; init; } = ThresholdSet.Default;
    /// <summary>clusters.NAME.schedules: what <c>pgvault daemon</c> runs and when.</summary>
    public IReadOnlyList<ScheduleSpec> Schedules { get; init; } = [];
    /// <summary>clusters.NAME.catalog_table: the seed's backup_log table (null: not written).</summary>
    public CatalogTableConfig? CatalogTable { get; init; }
    /// <summary>clusters.NAME.streaming: how wal-stream follows the cluster (null: not configured).</summary>
    public StreamingConfig? Streaming { get; init; }

    public static readonly CompressionSpec DefaultCompression = new(CompressionType.Zstd, 3);

    /// <summary>Files copied or restored at once when neither flag, PGVAULT_PARALLEL nor the file says.</summary>
    public const int DefaultParallel = 2;

    /// <summary>The policy that applies in <paramref name="repository"/>: its own, else the cluster's (null: none).</summary>
    public RetentionPolicy? RetentionFor(RepositoryConfig? repository) => repository?.Retention ?? Retention;

    /// <summary><c>objectives:</c> (RPO, RTO, freshness of drills and verifications), or null.</summary>
    public ObjectivesConfig? Objectives { get; init; }

    public static ClusterConfig Default(string name) => new(name, null, null, null, DefaultCompression, DefaultParallel);
}
