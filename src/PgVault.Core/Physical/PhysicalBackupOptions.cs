using PgVault.Core.Errors;
using PgVault.Core.Pipeline;

namespace PgVault.Core.Physical;

/// <summary>What `pgvault backup --type full|diff|incr` was asked for.</summary>
public sealed record PhysicalBackupOptions
{
    public static readonly string[] Types = ["full", "diff", "incr"];

    public string Type { get; init; } = "full";
    /// <summary>The cluster's data directory as seen from this host (configured pgdata, else the server's data_directory).</summary>
    public string? PgData { get; init; }
    public int Parallel { get; init; } = Config.ClusterConfig.DefaultParallel;
    public CompressionSpec Compression { get; init; } = CompressionSpec.Default;
    /// <summary>How long to wait for the backup's WAL to reach every repository.</summary>
    public int ArchiveTimeoutSeconds { get; init; } = Config.ArchiveConfig.DefaultTimeoutSeconds;
    /// <summary>Start with an immediate checkpoint (pg_backup_start's fast) rather than a spread one.</summary>
    public bool StartFast { get; init; } = true;
    /// <summary>Also scan every file the WAL block map vouched for and fail if a page changed that the WAL did not list.</summary>
    public bool VerifyBlockMap { get; init; }

    public void Validate()
    {
        if (!Types.Contains(Type)) throw PgVaultException.Usage($"'{Type}' is not a physical backup type (full, diff, incr)");
        if (Parallel is < 1 or > 64) throw PgVaultException.Usage($"--parallel {Parallel} must be from 1 to 64");
        if (ArchiveTimeoutSeconds < 1) throw PgVaultException.Usage("the archive timeout must be at least one second");
    }

    public static char Kind(string type) => type switch { "diff" => 'D', "incr" => 'I', _ => 'F' };
}
