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

/// <summary>One repository. <see cref="Type"/> is "filesystem" (with <see cref="Path"/>).</summary>
public sealed record RepositoryConfig(string Name, string Type, string? Path);

/// <summary>Where the repository passphrase comes from: a file or an environment variable, never argv.</summary>
public sealed record EncryptionConfig(string? PassphraseFile, string? PassphraseEnv);

/// <summary>One PostgreSQL cluster PgVault backs up.</summary>
public sealed record ClusterConfig(
    string Name,
    string? Connection,
    string? PgData,
    string? BinDir,
    CompressionSpec Compression,
    int Parallel)
{
    public static readonly CompressionSpec DefaultCompression = new(CompressionType.Zstd, 3);

    public static ClusterConfig Default(string name) => new(name, null, null, null, DefaultCompression, 2);
}
