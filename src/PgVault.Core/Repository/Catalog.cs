using PgVault.Core.Errors;
using PgVault.Core.Progress;

namespace PgVault.Core.Repository;

/// <summary>
/// The backups of one cluster in one repository: listing (a backup exists only when its manifest
/// does), id allocation, the in-progress lock, and removal of debris left by interrupted runs.
/// </summary>
public sealed class Catalog(Repository repository, string cluster)
{
    public const string IdTimeFormat = BackupId.TimeFormat;

    public Repository Repository => repository;

    public string Cluster => cluster;

    /// <summary>The ids of every complete backup (those with a manifest), oldest first, without reading the manifests.</summary>
    public async Task<List<string>> ListIdsAsync(CancellationToken ct) =>
        (await ListManifestsAsync(ct).ConfigureAwait(false)).Select(m => m.Key).ToList();

    /// <summary>The manifest of every complete backup as listed (key = backup id, size, time), oldest first: one listing of backups/.</summary>
    internal async Task<List<Storage.ObjectInfo>> ListManifestsAsync(CancellationToken ct)
    {
        var manifests = new List<Storage.ObjectInfo>();
        var expiring = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            string? id = RepositoryLayout.BackupIdOf(cluster, info.Key);
            if (id == null) continue;
            if (info.Key == RepositoryLayout.Manifest(cluster, id)) manifests.Add(info with { Key = id });
            else if (info.Key == RepositoryLayout.Expiring(cluster, id)) expiring.Add(id);
        }
        if (expiring.Count > 0) manifests.RemoveAll(m => expiring.Contains(m.Key));
        manifests.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return manifests;
    }

    /// <summary>Backups marked as expiring (by an expire or delete that may have been interrupted), whatever is left of them.</summary>
    public async Task<List<string>> ListExpiringAsync(CancellationToken ct)
    {
        var ids = new List<string>();
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            if (RepositoryLayout.BackupIdOf(cluster, info.Key) is { } id && info.Key == RepositoryLayout.Expiring(cluster, id)) ids.Add(id);
        }
        ids.Sort(StringComparer.Ordinal);
        return ids;
    }

    /// <summary>
    /// Backups in progress whose writer still runs (their in-progress marker, with the reference
    /// chain they read from). Call under the repository lock: a backup writes its marker under it.
    /// </summary>
    internal async Task<List<(string Id, BackupInProgress Marker)>> ListRunningAsync(CancellationToken ct)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false)) keys.Add(info.Key);
        var running = new List<(string, BackupInProgress)>();
        foreach (var key in keys)
        {
            if (RepositoryLayout.BackupIdOf(cluster, key) is not { } id || key != RepositoryLayout.BackupLock(cluster, id)) continue;
            if (keys.Contains(RepositoryLayout.Manifest(cluster, id))) continue;
            BackupInProgress? marker;
            try
            {
                marker = await ReadMarkerAsync(id, ct).ConfigureAwait(false);
            }
            catch (PgVaultException)
            {
                continue; // unreadable: debris, not a running backup
            }
            if (marker is { IsAlive: true }) running.Add((id, marker));
        }
        return running;
    }

    /// <summary>
    /// Marks <paramref name="id"/> as expiring: from now on it is not listed, restored nor used as a
    /// reference. Call under the repository lock, before removing anything of it.
    /// </summary>
    public Task MarkExpiringAsync(string id, string reason, CancellationToken ct) =>
        repository.WriteMetadataAsync(RepositoryLayout.Expiring(cluster, id), new ExpiringMarker { Id = id, Since = DateTimeOffset.UtcNow, Reason = reason },
            RepositoryJson.Default.ExpiringMarker, ct);

    /// <summary>
    /// Removes a backup marked as expiring: every object but the marker (the manifest last of them),
    /// then the marker, so a crash at any point leaves it unlisted and the next expire finishes it.
    /// Returns the objects and bytes removed.
    /// </summary>
    public async Task<(int Objects, long Bytes)> RemoveExpiringAsync(string id, CancellationToken ct)
    {
        string marker = RepositoryLayout.Expiring(cluster, id);
        string manifest = RepositoryLayout.Manifest(cluster, id);
        var objects = new List<Storage.ObjectInfo>();
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupPrefix(cluster, id), ct).ConfigureAwait(false)) objects.Add(info);
        if (!objects.Any(o => o.Key == marker))
            throw new PgVaultException(ErrorCode.Internal, $"backup {id} is not marked as expiring in repository '{repository.Name}'");
        var data = objects.Where(o => o.Key != marker && o.Key != manifest).ToList();
        await repository.Store.DeleteManyAsync(data.Select(o => o.Key).ToList(), ct).ConfigureAwait(false);
        foreach (var info in objects.Where(o => o.Key == manifest)) await repository.Store.DeleteAsync(info.Key, ct).ConfigureAwait(false);
        int count = objects.Count - 1;
        long bytes = objects.Where(o => o.Key != marker).Sum(o => o.Size);
        await repository.Store.DeleteAsync(marker, ct).ConfigureAwait(false);
        await repository.DeletePrefixAsync(RepositoryLayout.BackupPrefix(cluster, id), ct).ConfigureAwait(false);
        return (count, bytes);
    }

    /// <summary>Every complete backup, oldest first (ids sort by time); a damaged manifest is skipped.</summary>
    public Task<List<BackupManifest>> ListAsync(CancellationToken ct) => ListAsync(NullProgress.Instance, ct);

    /// <summary>
    /// Every complete backup, oldest first (ids sort by time), read from the manifests. A manifest that cannot be read or
    /// fails its checks is skipped with a warning naming it, so one damaged backup does not hide the rest.
    /// For the headers alone (list, status) use <see cref="ListHeadersAsync"/>: it reads one index object.
    /// </summary>
    public async Task<List<BackupManifest>> ListAsync(IProgressSink progress, CancellationToken ct)
    {
        var ids = await ListIdsAsync(ct).ConfigureAwait(false);
        var manifests = new List<BackupManifest>(ids.Count);
        foreach (var id in ids)
        {
            if (await TryReadManifestAsync(id, progress, ct).ConfigureAwait(false) is { } manifest) manifests.Add(manifest);
        }
        return manifests;
    }

    /// <summary>
    /// The header of every complete backup, oldest first, from the catalog index (one object read
    /// when it is fresh; rebuilt from the manifests when it is missing, damaged or stale).
    /// </summary>
    public Task<List<BackupHeader>> ListHeadersAsync(IProgressSink progress, CancellationToken ct) =>
        new CatalogIndex(this).ReadAsync(progress, ct);

    /// <summary>The manifest of <paramref name="id"/>, or null (with a warning naming it) when it is missing, damaged or unreadable.</summary>
    internal async Task<BackupManifest?> TryReadManifestAsync(string id, IProgressSink progress, CancellationToken ct)
    {
        var (manifest, problem) = await ReadManifestOrProblemAsync(id, ct).ConfigureAwait(false);
        if (problem != null) WarnUnreadable(id, problem, progress);
        return manifest;
    }

    /// <summary>The manifest of <paramref name="id"/>; null without a problem when it is missing, null with one when it is damaged or unreadable.</summary>
    internal async Task<(BackupManifest? Manifest, string? Problem)> ReadManifestOrProblemAsync(string id, CancellationToken ct)
    {
        try
        {
            return (await repository.ReadMetadataAsync(RepositoryLayout.Manifest(cluster, id), RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false), null);
        }
        catch (Exception e) when (e is PgVaultException { Kind: not ErrorKind.Usage } or IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
    }

    internal void WarnUnreadable(string id, string problem, IProgressSink progress) =>
        progress.Warn($"repository '{repository.Name}': skipping backup {id}: its manifest {RepositoryLayout.Manifest(cluster, id)} is damaged or unreadable ({problem})");

    /// <summary>The backup with <paramref name="id"/> ("latest" for the newest), or a clear error.</summary>
    public Task<BackupManifest> GetAsync(string id, CancellationToken ct) => GetAsync(id, NullProgress.Instance, ct);

    /// <summary>The backup with <paramref name="id"/> ("latest": the newest intact one, damaged ones skipped with a warning).</summary>
    public async Task<BackupManifest> GetAsync(string id, IProgressSink progress, CancellationToken ct)
    {
        if (id == "latest")
        {
            var headers = await ListHeadersAsync(progress, ct).ConfigureAwait(false);
            for (int i = headers.Count - 1; i >= 0; i--)
            {
                if (await TryReadManifestAsync(headers[i].Id, progress, ct).ConfigureAwait(false) is { } newest) return newest;
            }
            throw new PgVaultException(ErrorCode.NoBackup, $"no backups of cluster '{cluster}' in repository '{repository.Name}'", "take one with 'pgvault backup'");
        }
        BackupId.Parse(id);
        var found = await repository.ReadMetadataAsync(RepositoryLayout.Manifest(cluster, id), RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false)
            ?? throw new PgVaultException(ErrorCode.BackupNotFound, $"backup '{id}' not found for cluster '{cluster}' in repository '{repository.Name}'",
                "see 'pgvault list' for the backups that exist");
        if (await repository.Store.StatAsync(RepositoryLayout.Expiring(cluster, id), ct).ConfigureAwait(false) != null)
            throw new PgVaultException(ErrorCode.BackupNotFound, $"backup '{id}' of cluster '{cluster}' is being removed from repository '{repository.Name}' (expire or delete)",
                "see 'pgvault list' for the backups that exist");
        return found;
    }

    public async Task WriteManifestAsync(BackupManifest manifest, CancellationToken ct) =>
        await repository.WriteMetadataAsync(RepositoryLayout.Manifest(cluster, manifest.Id), manifest, RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false);

    /// <summary>
    /// Allocates a new id from <paramref name="start"/> (moving on by a second while an id is taken)
    /// and writes its lock, so the backup is visibly in progress and not mistaken for debris.
    /// </summary>
    public Task<string> BeginBackupAsync(DateTimeOffset start, char kind, CancellationToken ct) =>
        new CatalogSet([this]).BeginBackupAsync(start, kind, ct);

    /// <inheritdoc cref="BeginBackupAsync(DateTimeOffset, char, CancellationToken)"/>
    public Task<string> BeginBackupAsync(DateTimeOffset start, BackupKind kind, CancellationToken ct) =>
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
    internal Task WriteLockAsync(string id, CancellationToken ct, IReadOnlyList<string>? chain = null) =>
        repository.WriteMetadataAsync(RepositoryLayout.BackupLock(cluster, id), BackupInProgress.Mine(chain), LockJson.Default.BackupInProgress, ct);

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
        var fs = repository.Store as Storage.FileSystemObjectStore;
        // A filesystem answers "is there a manifest" with one stat per backup; an object store
        // with one listing of everything (a request per 1000 keys, not one per backup).
        HashSet<string>? keys = null;
        if (fs == null)
        {
            keys = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false)) keys.Add(info.Key);
        }
        async Task<bool> ExistsAsync(string key) =>
            keys?.Contains(key) ?? await repository.Store.StatAsync(key, ct).ConfigureAwait(false) is not null;
        var removed = new List<string>();
        foreach (var id in await PresentIdsAsync(ct).ConfigureAwait(false))
        {
            if (await ExistsAsync(RepositoryLayout.Manifest(cluster, id)).ConfigureAwait(false)) continue;
            if (await ExistsAsync(RepositoryLayout.BackupLock(cluster, id)).ConfigureAwait(false))
            {
                BackupInProgress? held;
                try
                {
                    // Gone since the listing: its writer committed (manifest first, marker after) or
                    // discarded it meanwhile. Never debris: removing it could remove a committed backup.
                    if (await ReadMarkerAsync(id, ct).ConfigureAwait(false) is not { } marker) continue;
                    held = marker;
                }
                catch (PgVaultException)
                {
                    held = null; // an unreadable marker is debris too
                }
                if (held is { IsAlive: true }) continue;
            }
            else
            {
                // The listing is no atomic snapshot (a directory walk, pages): look again, marker first.
                // A writer removes its marker only after its manifest is written, so a commit under way
                // shows in one of the two.
                if (await repository.Store.StatAsync(RepositoryLayout.BackupLock(cluster, id), ct).ConfigureAwait(false) is not null
                    || await repository.Store.StatAsync(RepositoryLayout.Manifest(cluster, id), ct).ConfigureAwait(false) is not null) continue;
                if (fs != null && fs.ListTemporaries(RepositoryLayout.BackupPrefix(cluster, id)).Any(t => !t.IsDebris(DebrisSafeAge)))
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

    public static bool IsValidId(string id) => BackupId.IsValid(id);

    private Task<BackupInProgress?> ReadMarkerAsync(string id, CancellationToken ct) =>
        repository.ReadMetadataAsync(RepositoryLayout.BackupLock(cluster, id), LockJson.Default.BackupInProgress, ct);

    /// <summary>
    /// Every backup id with anything under its prefix (objects, or on a filesystem a directory at
    /// all). On a filesystem every object of a backup lives in its directory, so the directories
    /// are the answer (one directory read, not a walk of every object of every backup).
    /// </summary>
    private async Task<SortedSet<string>> PresentIdsAsync(CancellationToken ct)
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        if (repository.Store is Storage.FileSystemObjectStore fs)
        {
            foreach (var name in fs.ListChildDirectories(RepositoryLayout.BackupsPrefix(cluster)))
            {
                if (IsValidId(name)) ids.Add(name);
            }
            return ids;
        }
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            if (RepositoryLayout.BackupIdOf(cluster, info.Key) is { } id && IsValidId(id)) ids.Add(id);
        }
        return ids;
    }
}
