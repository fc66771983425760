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

    /// <summary>Every complete backup, oldest first (ids sort by time).</summary>
    public async Task<List<BackupManifest>> ListAsync(CancellationToken ct)
    {
        var ids = await ListIdsAsync(ct).ConfigureAwait(false);
        var manifests = new List<BackupManifest>(ids.Count);
        foreach (var id in ids)
        {
            var manifest = await repository.ReadMetadataAsync(RepositoryLayout.Manifest(cluster, id), RepositoryJson.Default.BackupManifest, ct).ConfigureAwait(false);
            if (manifest != null) manifests.Add(manifest);
        }
        return manifests;
    }

    /// <summary>The backup with <paramref name="id"/> ("latest" for the newest), or a clear error.</summary>
    public async Task<BackupManifest> GetAsync(string id, CancellationToken ct)
    {
        if (id == "latest")
        {
            var all = await ListAsync(ct).ConfigureAwait(false);
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

    /// <summary>The time stamps (first 16 characters) of every backup id present, complete or not.</summary>
    internal async Task<HashSet<string>> TakenStampsAsync(CancellationToken ct)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            if (RepositoryLayout.BackupIdOf(cluster, info.Key) is { } existing && IsValidId(existing)) taken.Add(existing[..16]);
        }
        return taken;
    }

    internal Task WriteLockAsync(string id, CancellationToken ct)
    {
        var backupLock = new BackupLock { Host = Environment.MachineName, Pid = Environment.ProcessId, StartedAt = DateTimeOffset.UtcNow };
        return repository.WriteMetadataAsync(RepositoryLayout.BackupLock(cluster, id), backupLock, RepositoryJson.Default.BackupLock, ct);
    }

    /// <summary>Removes the in-progress lock once the manifest is written.</summary>
    public Task EndBackupAsync(string id, CancellationToken ct) => repository.Store.DeleteAsync(RepositoryLayout.BackupLock(cluster, id), ct);

    /// <summary>Deletes everything written for a backup that did not complete.</summary>
    public Task DiscardAsync(string id, CancellationToken ct) => repository.DeletePrefixAsync(RepositoryLayout.BackupPrefix(cluster, id), ct);

    /// <summary>
    /// Removes backup directories without a manifest whose writer is gone (its lock names a process
    /// on this host that no longer runs, or there is no lock at all). Returns the ids removed.
    /// </summary>
    public async Task<List<string>> RemoveDebrisAsync(IProgressSink progress, CancellationToken ct)
    {
        var byId = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.BackupsPrefix(cluster), ct).ConfigureAwait(false))
        {
            if (RepositoryLayout.BackupIdOf(cluster, info.Key) is not { } id) continue;
            if (!byId.TryGetValue(id, out var keys)) byId[id] = keys = [];
            keys.Add(info.Key);
        }
        var removed = new List<string>();
        foreach (var (id, keys) in byId)
        {
            if (keys.Contains(RepositoryLayout.Manifest(cluster, id))) continue;
            if (keys.Contains(RepositoryLayout.BackupLock(cluster, id)))
            {
                BackupLock? held;
                try
                {
                    held = await repository.ReadMetadataAsync(RepositoryLayout.BackupLock(cluster, id), RepositoryJson.Default.BackupLock, ct).ConfigureAwait(false);
                }
                catch (PgVaultException)
                {
                    held = null; // an unreadable lock is debris too
                }
                if (held != null && IsAlive(held)) continue;
            }
            progress.Info($"removing incomplete backup {id} left by an interrupted run");
            await DiscardAsync(id, ct).ConfigureAwait(false);
            removed.Add(id);
        }
        return removed;
    }

    public static bool IsValidId(string id) =>
        id.Length == 18 && id[16] == '-' && "LFDI".Contains(id[17], StringComparison.Ordinal) &&
        DateTime.TryParseExact(id[..16], IdTimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out _);

    private static bool IsAlive(BackupLock held)
    {
        if (held.Host != Environment.MachineName)
            return DateTimeOffset.UtcNow - held.StartedAt < TimeSpan.FromDays(1); // another host: trust it for a day
        return held.Pid == Environment.ProcessId || Directory.Exists($"/proc/{held.Pid}");
    }
}
