using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;

namespace PgVault.Core.Repository;

/// <summary>
/// The backups of one cluster in one repository: listing (a backup exists only when its manifest
/// does), id allocation, the in-progress lock, and removal of debris left by interrupted runs.
/// </summary>
public sealed class Catalog(Repository repository, string cluster)
{
    public const string IdTimeFormat = "yyyyMMdd'T'HHmmss'Z'";

    public Repository Repository => repository;

    public string Cluster => cluster;

    /// <summary>The ids of every complete backup (those with a manifest), oldest first, without reading the manifests.</summary>
    public async Task<List<string>> ListIdsAsync(CancellationToken ct)
    {
        var ids = new List<string>();
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            string? id = RepositoryLayout.BackupIdOf(cluster, info.Key);
            if (id != null && info.Key == RepositoryLayout.Manifest(cluster, id)) ids.Add(id);
        }
        ids.Sort(StringComparer.Ordinal);
        return ids;
    }

    /// <summary>Every complete backup, oldest first (ids sort by time); a damaged manifest is skipped.</summary>
    public Task<List<BackupManifest>> ListAsync(CancellationToken ct) => ListAsync(NullProgress.Instance, ct);

    /// <summary>
    /// Every complete backup, oldest first (ids sort by time). A manifest that cannot be read or
    /// fails its checks is skipped with a warning naming it, so one damaged backup does not hide the rest.
    /// </summary>
    public async Task<List<BackupManifest>> ListAsync(IProgressSink progress, CancellationToken ct)
    {
        var ids = await ListIdsAsync(ct).ConfigureAwait(false);
        var manifests = new List<BackupManifest>(ids.Count);
        foreach (var id in ids)
        {
            string key = RepositoryLayout.Manifest(cluster, id);
            try
            {
                var manifest = await repository.ReadMetadataAsync(key, RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false);
                if (manifest != null) manifests.Add(manifest);
            }
            catch (Exception e) when (e is PgVaultException { Kind: not ErrorKind.Usage } or IOException or UnauthorizedAccessException)
            {
                progress.Warn($"repository '{repository.Name}': skipping backup {id}: its manifest {key} is damaged or unreadable ({e.Message})");
            }
        }
        return manifests;
    }

    /// <summary>The backup with <paramref name="id"/> ("latest" for the newest), or a clear error.</summary>
    public Task<BackupManifest> GetAsync(string id, CancellationToken ct) => GetAsync(id, NullProgress.Instance, ct);

    /// <summary>The backup with <paramref name="id"/> ("latest": the newest intact one, damaged ones skipped with a warning).</summary>
    public async Task<BackupManifest> GetAsync(string id, IProgressSink progress, CancellationToken ct)
    {
        if (id == "latest")
        {
            var all = await ListAsync(progress, ct).ConfigureAwait(false);
            return all.Count > 0 ? all[^1] : throw new PgVaultException($"no backups of cluster '{cluster}' in repository '{repository.Name}'",
                "take one with 'pgvault backup'");
        }
        if (!IsValidId(id))
            throw PgVaultException.Usage($"'{id}' is not a backup id (expected e.g. 20261123T143012Z-L, or 'latest')");
        return await repository.ReadMetadataAsync(RepositoryLayout.Manifest(cluster, id), RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false)
            ?? throw new PgVaultException($"backup '{id}' not found for cluster '{cluster}' in repository '{repository.Name}'",
                "see 'pgvault list' for the backups that exist");
    }

    public async Task WriteManifestAsync(BackupManifest manifest, CancellationToken ct) =>
        await repository.WriteMetadataAsync(RepositoryLayout.Manifest(cluster, manifest.Id), manifest, RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false);

    /// <summary>
    /// Allocates a new id from <paramref name="start"/> (moving on by a second while an id is taken)
    /// and writes its lock, so the backup is visibly in progress and not mistaken for debris.
    /// </summary>
    public Task<string> BeginBackupAsync(DateTimeOffset start, char kind, CancellationToken ct) =>
        new CatalogSet([this]).BeginBackupAsync(start, kind, ct);

    /// <summary>
    /// The time stamps (first 16 characters) of every backup id present, complete or not: on a
    /// filesystem every directory counts, even one holding only temporaries or nothing.
    /// </summary>
    internal async Task<HashSet<string>> TakenStampsAsync(CancellationToken ct)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in await PresentIdsAsync(ct).ConfigureAwait(false)) taken.Add(id[..16]);
        return taken;
    }

    /// <summary>Writes the in-progress marker of <paramref name="id"/> (under the repository lock).</summary>
    internal Task WriteLockAsync(string id, CancellationToken ct) =>
        repository.WriteMetadataAsync(RepositoryLayout.BackupLock(cluster, id), BackupInProgress.Mine(), LockJson.Default.BackupInProgress, ct);

    /// <summary>Removes the in-progress lock once the manifest is written.</summary>
    public Task EndBackupAsync(string id, CancellationToken ct) => repository.Store.DeleteAsync(RepositoryLayout.BackupLock(cluster, id), ct);

    /// <summary>Deletes everything under a backup's prefix (callers check it is theirs or debris).</summary>
    public Task DiscardAsync(string id, CancellationToken ct) => repository.DeletePrefixAsync(RepositoryLayout.BackupPrefix(cluster, id), ct);

    /// <summary>
    /// Deletes what this process wrote for backup <paramref name="id"/>: only when its in-progress
    /// marker names this process. Returns false (and deletes nothing) otherwise.
    /// </summary>
    public async Task<bool> DiscardOwnAsync(string id, CancellationToken ct)
    {
        var marker = await ReadMarkerAsync(id, ct).ConfigureAwait(false);
        if (marker is not { IsMine: true }) return false;
        await DiscardAsync(id, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>How old a temporary file must be before it is debris even when its writer cannot be proved gone.</summary>
    public static readonly TimeSpan DebrisSafeAge = TimeSpan.FromHours(1);

    /// <summary>
    /// Removes backup directories without a manifest whose writer is gone: the in-progress marker names
    /// a process on this host that no longer runs (pid and start time) or is unreadable, or there is no
    /// marker and nothing in it is being written (temporary files whose writer is gone or older than
    /// <see cref="DebrisSafeAge"/>; an empty directory). Also removes such temporaries from the WAL
    /// archive. Run under the repository lock. Returns the ids removed.
    /// </summary>
    public async Task<List<string>> RemoveDebrisAsync(IProgressSink progress, CancellationToken ct)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false)) keys.Add(info.Key);
        var fs = repository.Store as Storage.FileSystemObjectStore;
        var removed = new List<string>();
        foreach (var id in await PresentIdsAsync(ct).ConfigureAwait(false))
        {
            if (keys.Contains(RepositoryLayout.Manifest(cluster, id))) continue;
            if (keys.Contains(RepositoryLayout.BackupLock(cluster, id)))
            {
                BackupInProgress? held;
                try
                {
                    held = await ReadMarkerAsync(id, ct).ConfigureAwait(false);
                }
                catch (PgVaultException)
                {
                    held = null; // an unreadable marker is debris too
                }
                if (held is { IsAlive: true }) continue;
            }
            else if (fs != null && fs.ListTemporaries(RepositoryLayout.BackupPrefix(cluster, id)).Any(t => !t.IsDebris(DebrisSafeAge)))
            {
                continue; // a writer that still runs (its marker is being written)
            }
            progress.Info($"removing incomplete backup {id} left by an interrupted run");
            await DiscardAsync(id, ct).ConfigureAwait(false);
            removed.Add(id);
        }
        if (fs != null)
        {
            int temps = fs.RemoveDebrisTemporaries(RepositoryLayout.WalPrefix(cluster), DebrisSafeAge);
            if (temps > 0) progress.Info($"removed {temps} temporary file(s) left in the WAL archive by interrupted archive-push runs");
        }
        return removed;
    }

    public static bool IsValidId(string id) =>
        id.Length == 18 && id[16] == '-' && "LFDI".Contains(id[17], StringComparison.Ordinal) &&
        DateTime.TryParseExact(id[..16], IdTimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out _);

    private Task<BackupInProgress?> ReadMarkerAsync(string id, CancellationToken ct) =>
        repository.ReadMetadataAsync(RepositoryLayout.BackupLock(cluster, id), LockJson.Default.BackupInProgress, ct);

    /// <summary>Every backup id with anything under its prefix (objects, or on a filesystem a directory at all).</summary>
    private async Task<SortedSet<string>> PresentIdsAsync(CancellationToken ct)
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            if (RepositoryLayout.BackupIdOf(cluster, info.Key) is { } id && IsValidId(id)) ids.Add(id);
        }
        if (repository.Store is Storage.FileSystemObjectStore fs)
        {
            foreach (var name in fs.ListChildDirectories(RepositoryLayout.BackupsPrefix(cluster)))
            {
                if (IsValidId(name)) ids.Add(name);
            }
        }
        return ids;
    }
}
