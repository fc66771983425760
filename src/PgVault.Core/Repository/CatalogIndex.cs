using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Storage;

namespace PgVault.Core.Repository;

/// <summary>
/// The catalog index of one cluster in one repository (clusters/C/catalog.json): the header of
/// every complete backup in one small metadata object, so `list`, status and metrics read one
/// object instead of every manifest. The manifests stay the commit points: each read LISTs
/// backups/ once and compares the manifest keys with the ids in the index; an index that is
/// missing, damaged or stale is rebuilt from the manifests (reading only those it lacks) and,
/// when the repository is writable, written back under the repository lock. Writers update it
/// under the lock after a commit (<see cref="CatalogSet.CommitAsync"/>).
/// </summary>
internal sealed class CatalogIndex(Catalog catalog)
{
    /// <summary>How long a reader waits for the repository lock to write back a rebuilt index (else it skips the write).</summary>
    public static readonly TimeSpan WriteBackLockWait = TimeSpan.FromSeconds(1);

    private Repository Repository => catalog.Repository;

    private string Key => RepositoryLayout.CatalogIndex(catalog.Cluster);

    /// <summary>
    /// The header of every complete backup, oldest first. When the index is fresh this reads one
    /// object (plus one listing of backups/); a damaged manifest is skipped with a warning.
    /// </summary>
    public async Task<List<BackupHeader>> ReadAsync(IProgressSink progress, CancellationToken ct)
    {
        var listed = await catalog.ListManifestsAsync(ct).ConfigureAwait(false);
        var stored = await TryReadAsync(progress, ct).ConfigureAwait(false);
        var (built, fresh) = await BuildAsync(stored, listed, [], progress, ct).ConfigureAwait(false);
        if (!fresh) await TryWriteBackAsync(built, ct).ConfigureAwait(false);
        return built.Backups.Select(e => e.Header).ToList();
    }

    /// <summary>
    /// Brings the stored index up to date with the manifests present (call under the repository
    /// lock, after a commit or a removal). <paramref name="known"/> are headers of manifests just
    /// written, which need not be read back.
    /// </summary>
    public async Task UpdateAsync(IReadOnlyList<BackupHeader> known, IProgressSink progress, CancellationToken ct)
    {
        var listed = await catalog.ListManifestsAsync(ct).ConfigureAwait(false);
        var stored = await TryReadAsync(progress, ct).ConfigureAwait(false);
        var (built, fresh) = await BuildAsync(stored, listed, known, progress, ct).ConfigureAwait(false);
        if (!fresh || known.Count > 0) await WriteAsync(built, ct).ConfigureAwait(false);
    }

    /// <summary>The stored index, or null when it is missing, damaged or of another format (a warning says which).</summary>
    internal async Task<CatalogIndexFile?> TryReadAsync(IProgressSink progress, CancellationToken ct)
    {
        CatalogIndexFile? index;
        try
        {
            index = await Repository.ReadMetadataAsync(Key, RepositoryJson.Default.CatalogIndexFile, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException { Kind: not ErrorKind.Usage } or IOException or UnauthorizedAccessException)
        {
            progress.Warn($"repository '{Repository.Name}': the catalog index {Key} is damaged or unreadable ({e.Message}); rebuilding it from the manifests");
            return null;
        }
        if (index == null) return null;
        string? problem = index.Format != CatalogIndexFile.CurrentFormat ? $"format {index.Format} is not {CatalogIndexFile.CurrentFormat}"
            : index.Cluster != catalog.Cluster ? $"it is the index of cluster '{index.Cluster}'"
            : index.Backups.Any(e => !BackupId.IsValid(e.Header.Id) || e.Header.Cluster != catalog.Cluster) ? "it names a backup that is not of this cluster"
            : null;
        if (problem == null) return index;
        progress.Warn($"repository '{Repository.Name}': ignoring the catalog index {Key} ({problem}); rebuilding it from the manifests");
        return null;
    }

    /// <summary>
    /// An index of the <paramref name="listed"/> manifests: headers from <paramref name="known"/>,
    /// and from <paramref name="previous"/> where the manifest's size and time are those it
    /// recorded; any other manifest is read. Fresh when nothing had to be read or dropped.
    /// </summary>
    private async Task<(CatalogIndexFile Index, bool Fresh)> BuildAsync(CatalogIndexFile? previous, List<ObjectInfo> listed,
        IReadOnlyList<BackupHeader> known, IProgressSink progress, CancellationToken ct)
    {
        var entries = (previous?.Backups ?? []).ToDictionary(e => e.Header.Id, StringComparer.Ordinal);
        var damaged = (previous?.Unreadable ?? []).ToDictionary(e => e.Id, StringComparer.Ordinal);
        var fresh = known.ToDictionary(h => h.Id, StringComparer.Ordinal);
        bool changed = previous == null || entries.Count + damaged.Count != listed.Count;
        var backups = new List<CatalogIndexEntry>(listed.Count);
        var unreadable = new List<UnreadableManifest>();
        foreach (var manifest in listed)
        {
            string id = manifest.Key;
            if (fresh.TryGetValue(id, out var header))
            {
                backups.Add(Entry(header, manifest));
                changed = true;
            }
            else if (entries.TryGetValue(id, out var entry) && Same(entry.ManifestSize, entry.ManifestModified, manifest))
            {
                backups.Add(entry);
            }
            else if (damaged.TryGetValue(id, out var bad) && Same(bad.ManifestSize, bad.ManifestModified, manifest))
            {
                catalog.WarnUnreadable(id, bad.Reason, progress);
                unreadable.Add(bad);
            }
            else
            {
                changed = true;
                var (read, problem) = await catalog.ReadManifestOrProblemAsync(id, ct).ConfigureAwait(false);
                if (read != null)
                {
                    backups.Add(Entry(read.Header, manifest));
                    continue;
                }
                if (problem == null) continue; // removed since the listing
                catalog.WarnUnreadable(id, problem, progress);
                unreadable.Add(new UnreadableManifest { Id = id, ManifestSize = manifest.Size, ManifestModified = manifest.LastModified, Reason = problem });
            }
        }
        var index = new CatalogIndexFile { Cluster = catalog.Cluster, UpdatedAt = DateTimeOffset.UtcNow, Backups = backups, Unreadable = unreadable };
        return (changed ? index : previous!, !changed);
    }

    private static CatalogIndexEntry Entry(BackupHeader header, ObjectInfo manifest) =>
        new() { Header = header, ManifestSize = manifest.Size, ManifestModified = manifest.LastModified };

    private static bool Same(long size, DateTimeOffset modified, ObjectInfo manifest) =>
        size == manifest.Size && modified.UtcTicks == manifest.LastModified.UtcTicks;

    private Task WriteAsync(CatalogIndexFile index, CancellationToken ct) =>
        Repository.WriteMetadataAsync(Key, index, RepositoryJson.Default.CatalogIndexFile, ct);

    /// <summary>
    /// Best effort for readers: under the repository lock (if it comes free at once), re-lists,
    /// completes <paramref name="built"/> with any backup committed meanwhile and stores it. A
    /// repository that is read-only, of an older format or busy keeps its old index.
    /// </summary>
    private async Task TryWriteBackAsync(CatalogIndexFile built, CancellationToken ct)
    {
        if (!Repository.Writable) return;
        try
        {
            await using var held = await RepositoryLock.AcquireAsync(Repository, catalog.Cluster, "list: rebuilding the catalog index", WriteBackLockWait, NullProgress.Instance, ct)
                .ConfigureAwait(false);
            var listed = await catalog.ListManifestsAsync(ct).ConfigureAwait(false);
            var (index, _) = await BuildAsync(built, listed, [], NullProgress.Instance, ct).ConfigureAwait(false);
            await WriteAsync(index, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or IOException or UnauthorizedAccessException)
        {
            // The manifests answered this listing; the next writer (or listing) stores the index.
        }
    }
}
