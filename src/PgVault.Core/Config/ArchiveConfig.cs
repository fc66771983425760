using PgVault.Core.Pipeline;

namespace PgVault.Core.Config;

/// <summary>
/// WAL archiving settings of a cluster (config keys under the cluster: wal_compression,
/// archive_async, spool_path, archive_async_processes, archive_timeout).
/// </summary>
public sealed record ArchiveConfig(
    CompressionSpec Compression,
    bool Async = false,
    string? SpoolPath = null,
    int AsyncProcesses = 2,
    int TimeoutSeconds = ArchiveConfig.DefaultTimeoutSeconds)
{
    /// <summary>Seconds to wait for WAL to reach every repository when nothing else says.</summary>
    public const int DefaultTimeoutSeconds = 60;

    public static readonly ArchiveConfig Default = new(new CompressionSpec(CompressionType.Lz4, 0));

    /// <summary>The spool directory for asynchronous archiving of <paramref name="cluster"/>.</summary>
    public string SpoolFor(string cluster) => SpoolPath ?? Path.Combine("/var/spool/pgvault", cluster);

    /// <summary>The spool of `pgvault wal-stream` for <paramref name="cluster"/> (the current segment as SEGMENT.partial).</summary>
    public string StreamSpoolFor(string cluster) => Path.Combine(SpoolFor(cluster), "stream");
}
