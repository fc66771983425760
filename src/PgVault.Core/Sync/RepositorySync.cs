using PgVault.Core.Repository;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;

namespace PgVault.Core.Sync;

/// <summary>One backup copied into a repository that lacked it.</summary>
public sealed record SyncedBackup(string Cluster, string Id, string From, string To, long StoredBytes);

/// <summary>What `pgvault repo sync` was asked for: null copies from (or into) every selected repository.</summary>
public sealed record SyncOptions(string? From = null, string? To = null);

/// <summary>Every backup copied, in order.</summary>
public sealed record SyncResult(IReadOnlyList<SyncedBackup> Copied);

/// <summary>
/// `pgvault repo sync`: copies into each target repository what it lacks and another repository
/// holds: the cluster record, archived WAL (with history files), restore points, then backups.
/// Every object is read back through the source's pipeline (so its checksum is verified) and
/// written through the target's (its own key and encryption); a backup's manifest is written last,
/// so an interrupted sync leaves only debris. Running it again copies nothing twice.
/// </summary>
public sealed partial class RepositorySync(Vault.Vault vault, IProgressSink progress)
{
    // The repositories taking part: every selected one, opened by RunAsync (or given by the tests).
    private IReadOnlyList<Repository.Repository> repositories = [];

    internal RepositorySync(IReadOnlyList<Repository.Repository> repositories, IProgressSink progress)
        : this((Vault.Vault)null!, progress)
    {
        this.repositories = repositories;
    }

    public async Task<SyncResult> RunAsync(SyncOptions options, CancellationToken ct)
    {
        var opened = await vault.OpenRepositoriesAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        if (opened.Count < 2)
            throw PgVaultException.Usage("repo sync needs at least two repositories", "configure several under 'repositories:' (and do not restrict with --repo)");
        List<Repository.Repository> Pick(string? name, string flag) => name is null ? opened
            : opened.Where(r => r.Name == name).ToList() is { Count: > 0 } found ? found
            : throw PgVaultException.Usage($"{flag} '{name}' is not a configured repository ({string.Join(", ", opened.Select(r => r.Name))})");
        var targets = Pick(options.To, "--to");
        var sources = Pick(options.From, "--from");
        repositories = opened;
        return new SyncResult(await RunAsync(targets, sources, ct).ConfigureAwait(false));
    }

    internal async Task<List<SyncedBackup>> RunAsync(IReadOnlyList<Repository.Repository> targets, IReadOnlyList<Repository.Repository> sources, CancellationToken ct)
    {
        var clusters = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var repository in repositories)
        {
            await foreach (var info in repository.Store.ListAsync("clusters/", ct).ConfigureAwait(false))
            {
                string[] parts = info.Key.Split('/');
                if (parts.Length > 2) clusters.Add(parts[1]);
            }
        }
        var synced = new List<SyncedBackup>();
        foreach (var cluster in clusters)
        {
            foreach (var target in targets)
            {
                var targetCatalog = new Catalog(target, cluster);
                var have = (await targetCatalog.ListAsync(ct).ConfigureAwait(false)).Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
                foreach (var source in sources.Where(s => s != target))
                {
                    var sourceCatalog = new Catalog(source, cluster);
                    await CopyClusterInfoAsync(source, target, cluster, ct).ConfigureAwait(false);
                    // The archive first: a backup that becomes visible in the target can be restored from it.
                    int wal = await CopyWalAsync(source, target, cluster, ct).ConfigureAwait(false);
                    int points = await CopyRestorePointsAsync(source, target, cluster, ct).ConfigureAwait(false);
                    if (wal + points > 0)
                        progress.Info($"copied {wal} WAL file(s) and {points} restore point(s) of cluster '{cluster}' from repository '{source.Name}' to '{target.Name}'");
                    foreach (var manifest in await sourceCatalog.ListAsync(ct).ConfigureAwait(false))
                    {
                        if (!have.Add(manifest.Id)) continue;
                        var copied = await CopyBackupAsync(sourceCatalog, targetCatalog, manifest, ct).ConfigureAwait(false);
                        synced.Add(new SyncedBackup(cluster, manifest.Id, source.Name, target.Name, copied.StoredBytes));
                    }
                }
            }
        }
        return synced;
    }

    private static async Task CopyClusterInfoAsync(Repository.Repository source, Repository.Repository target, string cluster, CancellationToken ct)
    {
        string key = RepositoryLayout.ClusterInfo(cluster);
        var mine = await target.ReadMetadataAsync(key, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
        var theirs = await source.ReadMetadataAsync(key, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
        if (theirs == null || (mine != null && mine.History.Count >= theirs.History.Count)) return;
        await target.WriteMetadataAsync(key, theirs, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
    }

    private async Task<BackupManifest> CopyBackupAsync(Catalog from, Catalog to, BackupManifest manifest, CancellationToken ct)
    {
        progress.Info($"copying backup {manifest.Id} of cluster '{from.Cluster}' from repository '{from.Repository.Name}' to '{to.Repository.Name}'");
        await to.WriteLockAsync(manifest.Id, ct).ConfigureAwait(false);
        try
        {
            using var task = progress.Start($"sync {manifest.Id}", manifest.SizeBytes);
            long done = 0;
            async Task<StoredFile> Copy(StoredFile file)
            {
                string key = RepositoryLayout.BackupObject(from.Cluster, manifest.Id, file.Object);
                var compression = CompressionOf(manifest, file);
                await using var input = await from.Repository.OpenObjectAsync(key, file, ct).ConfigureAwait(false);
                var stored = await to.Repository.WriteObjectAsync(key, compression, (output, c) => input.CopyToAsync(output, 1 << 20, c), ct).ConfigureAwait(false);
                done += stored.SizeBytes;
                task.Report(done);
                return stored with { Name = file.Name, Object = file.Object };
            }
            var databases = new List<LogicalDatabase>();
            foreach (var db in manifest.Databases)
            {
                var files = new List<StoredFile>();
                foreach (var file in db.Files) files.Add(await Copy(file).ConfigureAwait(false));
                databases.Add(db with { Files = files, StoredBytes = files.Sum(f => f.StoredBytes) });
            }
            LogicalGlobals? globals = manifest.Globals is { } g ? g with { File = await Copy(g.File).ConfigureAwait(false) } : null;
            PhysicalBackupInfo? physical = null;
            if (manifest.Physical is { } p)
            {
                // Packs (and the backup_manifest) move as they are; files of a chain point at
                // their backups' packs by id, and older backups are synced first.
                var packs = new List<StoredFile>();
                foreach (var pack in p.Packs) packs.Add(await Copy(pack).ConfigureAwait(false));
                await Copy(new StoredFile
                {
                    Name = p.PgManifestObject, Object = p.PgManifestObject, Compression = "none", Encrypted = from.Repository.Encrypted,
                    Sha256 = p.PgManifestSha256, SizeBytes = p.PgManifestBytes,
                }).ConfigureAwait(false);
                if (p.PageHashesObject is { } hashes && p.PageHashesSha256 is { } hashesSha)
                {
                    await Copy(new StoredFile
                    {
                        Name = hashes, Object = hashes, Compression = "none", Encrypted = from.Repository.Encrypted,
                        Sha256 = hashesSha, SizeBytes = p.PageHashesBytes,
                    }).ConfigureAwait(false);
                }
                physical = p with { Packs = packs };
            }
            var copy = manifest with
            {
                Databases = databases,
                Globals = globals,
                Physical = physical,
                StoredBytes = databases.Sum(d => d.StoredBytes) + (globals?.File.StoredBytes ?? 0) + (physical?.Packs.Sum(f => f.StoredBytes) ?? 0),
                Encrypted = to.Repository.Encrypted,
            };
            await to.WriteManifestAsync(copy, ct).ConfigureAwait(false);
            await to.EndBackupAsync(manifest.Id, CancellationToken.None).ConfigureAwait(false);
            return copy;
        }
        catch (Exception)
        {
            try
            {
                await to.DiscardAsync(manifest.Id, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or PgVaultException)
            {
                progress.Warn($"could not remove the incomplete copy of {manifest.Id} from '{to.Repository.Name}': {e.Message}");
            }
            throw;
        }
    }

    /// <summary>The compression a file was stored with (the backup's level when the type matches).</summary>
    private static CompressionSpec CompressionOf(BackupManifest manifest, StoredFile file)
    {
        var type = CompressionSpec.ParseType(file.Compression);
        var declared = CompressionSpec.Parse(manifest.Compression);
        return declared.Type == type ? declared : CompressionSpec.Parse(file.Compression);
    }
}
