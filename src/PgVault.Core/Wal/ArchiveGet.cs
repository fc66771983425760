using PgVault.Core.Progress;

namespace PgVault.Core.Wal;

/// <summary>What `pgvault archive-get %f %p` was asked for.</summary>
public sealed record ArchiveGetOptions(string FileName, string Destination);

/// <summary>
/// restore_command: fetch one WAL file, verified, from the first repository holding an intact
/// copy. The result tells intact / absent / damaged / unknown apart; mapping them to exit codes
/// PostgreSQL understands is the caller's job (see ArchiveGetCommand).
/// </summary>
public sealed class ArchiveGet(Vault.Vault vault, IProgressSink progress)
{
    public async Task<WalGetResult> RunAsync(ArchiveGetOptions options, CancellationToken ct)
    {
        var repositories = await vault.OpenRepositoriesAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false);
        return await new WalArchive(repositories, vault.Cluster.Name, progress).GetAsync(options.FileName, options.Destination, ct).ConfigureAwait(false);
    }
}
