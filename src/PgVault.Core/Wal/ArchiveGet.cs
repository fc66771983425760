using PgVault.Core.Progress;

namespace PgVault.Core.Wal;

/// <summary>What `pgvault archive-get %f %p` was asked for.</summary>
public sealed record ArchiveGetOptions(string FileName, string Destination)
{
    /// <summary>--partial: a segment not archived is served from SEGMENT.partial (streaming spool, else archive), padded with zeros.</summary>
    public bool Partial { get; init; }
}

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
        var archive = new WalArchive(repositories, vault.Cluster.Name, progress);
        var got = await archive.GetAsync(options.FileName, options.Destination, ct).ConfigureAwait(false);
        if (got.Status != WalGetStatus.Absent || !options.Partial) return got;
        return await archive.GetPartialAsync(options.FileName, options.Destination, vault.Settings.Archive.StreamSpoolFor(vault.Cluster.Name), ct).ConfigureAwait(false);
    }
}
