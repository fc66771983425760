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

    /// <summary>clusters.NAME.streaming: how wal-stream follows the cluster (null: not configured).</summary>
    public StreamingConfig? Streaming { get; init; }

    public static readonly CompressionSpec DefaultCompression = new(CompressionType.Zstd, 3);

    /// <summary>Files copied or restored at once when neither flag, PGVAULT_PARALLEL nor the file says.</summary>
    public const int DefaultParallel = 2;

    /// <summary>The policy that applies in <paramref name="repository"/>: its own, else the cluster's (null: none).</summary>
    public RetentionPolicy? RetentionFor(RepositoryConfig? repository) => repository?.Retention ?? Retention;

    public static ClusterConfig Default(string name) => new(name, null, null, null, DefaultCompression, DefaultParallel);
}
