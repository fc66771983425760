using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;

namespace PgVault.Core.Vault;

/// <summary>
/// Every setting a capability takes from outside its options, resolved in one place with one
/// rule: flag &gt; environment (PGVAULT_*) &gt; configuration file &gt; default. A null flag means "not
/// given". The configuration already carries the default where the file is silent
/// (<see cref="ClusterConfig.Default"/>, <see cref="ArchiveConfig.Default"/>), so the environment
/// only has to be asked before it.
/// </summary>
public sealed class VaultSettings(ClusterConfig cluster, Func<string, string?> environment)
{
    public const string ParallelVariable = "PGVAULT_PARALLEL";
    public const string CompressionVariable = "PGVAULT_COMPRESSION";
    public const string ArchiveTimeoutVariable = "PGVAULT_ARCHIVE_TIMEOUT";
    public const string BinDirVariable = "PGVAULT_BIN_DIR";
    public const string PgDataVariable = "PGVAULT_PGDATA";

    /// <summary>Files copied (backup) or restored at once: --parallel, PGVAULT_PARALLEL, parallel, 2.</summary>
    public int Parallel(int? flag) =>
        flag ?? Number(ParallelVariable, 1, 64) ?? cluster.Parallel;

    /// <summary>Compression of backups: --compression, PGVAULT_COMPRESSION, compression, zstd:3.</summary>
    public CompressionSpec Compression(string? flag)
    {
        if (flag is { } text) return CompressionSpec.Parse(text);
        if (environment(CompressionVariable) is { Length: > 0 } env)
        {
            try
            {
                return CompressionSpec.Parse(env);
            }
            catch (PgVaultException e)
            {
                throw new PgVaultException(ErrorCode.ConfigInvalid, $"{CompressionVariable}: {e.Message}", e.Hint);
            }
        }
        return cluster.Compression;
    }

    /// <summary>
    /// Seconds to wait for WAL to reach every repository (backup, check): --archive-timeout or
    /// --timeout, PGVAULT_ARCHIVE_TIMEOUT, archive_timeout, 60.
    /// </summary>
    public int ArchiveTimeoutSeconds(int? flag) =>
        flag ?? Number(ArchiveTimeoutVariable, 1, int.MaxValue) ?? Archive.TimeoutSeconds;

    /// <summary>Directory of pg_dump and friends: PGVAULT_BIN_DIR, bindir, else PATH and the usual places.</summary>
    public string? BinDir => environment(BinDirVariable) is { Length: > 0 } env ? env : cluster.BinDir;

    /// <summary>The data directory as seen from this host: PGVAULT_PGDATA, pgdata, else the server's data_directory.</summary>
    public string? PgData => environment(PgDataVariable) is { Length: > 0 } env ? env : cluster.PgData;

    /// <summary>WAL archiving settings (config keys only: they must be the same for every archive_command run).</summary>
    public ArchiveConfig Archive => cluster.Archive ?? ArchiveConfig.Default;

    private int? Number(string variable, int min, int max)
    {
        if (environment(variable) is not { Length: > 0 } text) return null;
        if (!int.TryParse(text, out int value) || value < min || value > max)
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"{variable}='{text}' must be a whole number from {min} to {max}");
        return value;
    }
}
