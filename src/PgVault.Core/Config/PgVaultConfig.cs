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

    /// <summary>The passphrase this repository is opened (or created) with.</summary>
    public string? PassphraseFor(string? configured) => Encrypted == false ? null : configured;
}

/// <summary>
/// Where and how an S3 (or S3-compatible) repository is reached. Validated by the config loader.
/// Secrets are never held here: only the names of the environment variables that hold them; with
/// neither name set the AWS SDK's default chain applies (AWS_* variables, ~/.aws files, instance role).
/// </summary>
/// <param name="Bucket">The bucket; it must exist.</param>
/// <param name="Endpoint">Service URL for S3-compatible servers (http or https); null for AWS.</param>
/// <param name="Prefix">Key prefix inside the bucket, empty or ending with '/'.</param>
/// <param name="Region">Signing region (and AWS region when <paramref name="Endpoint"/> is null).</param>
/// <param name="PathStyle">Bucket in the path (http://host/bucket/key) rather than the host name.</param>
/// <param name="AccessKeyIdEnv">Environment variable holding the access key id (with <paramref name="SecretAccessKeyEnv"/>).</param>
/// <param name="SecretAccessKeyEnv">Environment variable holding the secret access key.</param>
/// <param name="Sse">Server-side encryption: null, "AES256" or "aws:kms".</param>
/// <param name="SseKmsKeyId">KMS key for "aws:kms"; null for the bucket's default key.</param>
/// <param name="VerifyTls">False accepts any server certificate (self-signed endpoints only).</param>
/// <param name="PartSizeMb">Multipart part size in MiB (5-512); smaller objects go in one PUT.</param>
/// <param name="UploadConcurrency">Parts of one object in flight at once (1-32).</param>
public sealed record S3Settings(
    string Bucket,
    string? Endpoint = null,
    string Prefix = "",
    string Region = S3Settings.DefaultRegion,
    bool PathStyle = false,
    string? AccessKeyIdEnv = null,
    string? SecretAccessKeyEnv = null,
    string? Sse = null,
    string? SseKmsKeyId = null,
    bool VerifyTls = true,
    int PartSizeMb = S3Settings.DefaultPartSizeMb,
    int UploadConcurrency = S3Settings.DefaultUploadConcurrency)
{
    public const string DefaultRegion = "us-east-1";
    public const int DefaultPartSizeMb = 16;
    public const int MinPartSizeMb = 5;
    public const int MaxPartSizeMb = 512;
    public const int DefaultUploadConcurrency = 4;
    public const int MaxUploadConcurrency = 32;
    public const string SseAes256 = "AES256";
    public const string SseKms = "aws:kms";
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
    ArchiveConfig? Archive = null)
{
    public static readonly CompressionSpec DefaultCompression = new(CompressionType.Zstd, 3);

    /// <summary>Files copied or restored at once when neither flag, PGVAULT_PARALLEL nor the file says.</summary>
    public const int DefaultParallel = 2;

    public static ClusterConfig Default(string name) => new(name, null, null, null, DefaultCompression, DefaultParallel);
}
