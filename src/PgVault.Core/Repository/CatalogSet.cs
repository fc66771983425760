using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;

namespace PgVault.Core.Repository;

/// <summary>
/// The catalogs of one cluster in every selected repository, written together: a backup gets the
/// same id everywhere, each object goes to every repository, and the backup succeeds only when
/// every repository has it. Reads pick the first repository that can serve them.
/// </summary>
public sealed class CatalogSet
{
    public CatalogSet(IReadOnlyList<Catalog> catalogs)
    {
        if (catalogs.Count == 0) throw new ArgumentException("no catalogs", nameof(catalogs));
        Catalogs = catalogs;
    }

    public IReadOnlyList<Catalog> Catalogs { get; }

    /// <summary>
    /// Stores of configured repositories this command does not write to (--repo): a new backup id
    /// must not be taken there either, or a later repo sync would see two backups as one.
    /// </summary>
    public IReadOnlyList<Storage.IObjectStore> Others { get; init; } = [];

    public string Cluster => Catalogs[0].Cluster;

    public int Count => Catalogs.Count;

    public string Names => string.Join(", ", Catalogs.Select(c => c.Repository.Name));

    public bool AnyEncrypted => Catalogs.Any(c => c.Repository.Encrypted);

    /// <summary>How long a backup waits for the repository lock held by another command.</summary>
    public static readonly TimeSpan BackupLockWait = TimeSpan.FromMinutes(5);

    private IProgressSink _progress = NullProgress.Instance;

    /// <summary>Removes debris of interrupted runs in every repository, under each repository's lock.</summary>
    public async Task RemoveDebrisAsync(IProgressSink progress, CancellationToken ct)
    {
        _progress = progress;
        await using var locks = await LockAllAsync("backup: removing debris", ct).ConfigureAwait(false);
        foreach (var catalog in Catalogs) await catalog.RemoveDebrisAsync(progress, ct).ConfigureAwait(false);
    }

    /// <summary>Takes the repository lock of the cluster in every repository, in configuration order.</summary>
    public async Task<IAsyncDisposable> LockAllAsync(string operation, CancellationToken ct, TimeSpan? wait = null)
    {
        var held = new LockGroup();
        try
        {
            foreach (var catalog in Catalogs)
                held.Locks.Add(await RepositoryLock.AcquireAsync(catalog.Repository, Cluster, operation, wait ?? BackupLockWait, _progress, ct).ConfigureAwait(false));
        }
        catch
        {
            await held.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return held;
    }

    private sealed class LockGroup : IAsyncDisposable
    {
        public List<RepositoryLock> Locks { get; } = [];

        public async ValueTask DisposeAsync()
        {
            for (int i = Locks.Count - 1; i >= 0; i--) await Locks[i].DisposeAsync().ConfigureAwait(false);
        }
    }

    public async Task RecordSystemAsync(ServerFacts server, IProgressSink progress, CancellationToken ct)
    {
        foreach (var catalog in Catalogs) await new ClusterRegistry(catalog).RecordAsync(server, progress, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Allocates an id that is free in every repository and writes its in-progress marker in each,
    /// under the repository locks, so concurrent backups (other processes, the same second) get distinct ids.
    /// </summary>
    public async Task<string> BeginBackupAsync(DateTimeOffset start, char kind, CancellationToken ct)
    {
        await using var locks = await LockAllAsync("backup: allocating an id", ct).ConfigureAwait(false);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var catalog in Catalogs) taken.UnionWith(await catalog.TakenStampsAsync(ct).ConfigureAwait(false));
        foreach (var store in Others)
        {
            try
            {
                await foreach (var info in store.ListAsync(RepositoryLayout.BackupsPrefix(Cluster), ct).ConfigureAwait(false))
                {
                    if (RepositoryLayout.BackupIdOf(Cluster, info.Key) is { } other && Catalog.IsValidId(other)) taken.Add(other[..16]);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Best effort: an unreachable repository that this backup does not use is not an error.
            }
        }
        var time = start.ToUniversalTime();
        string stamp = time.ToString(Catalog.IdTimeFormat, CultureInfo.InvariantCulture);
        while (taken.Contains(stamp))
        {
            time = time.AddSeconds(1);
            stamp = time.ToString(Catalog.IdTimeFormat, CultureInfo.InvariantCulture);
        }
        string id = $"{stamp}-{kind}";
        for (int i = 0; i < Catalogs.Count; i++)
        {
            try
            {
                await Catalogs[i].WriteLockAsync(id, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                foreach (var written in Catalogs.Take(i))
                {
                    try { await written.DiscardOwnAsync(id, CancellationToken.None).ConfigureAwait(false); }
                    catch (Exception) { /* debris: the next backup removes it */ }
                }
                throw new PgVaultException($"unable to start backup {id} in repository '{Catalogs[i].Repository.Name}': {e.Message}", inner: e);
            }
        }
        return id;
    }

    /// <summary>Stores one object of backup <paramref name="id"/> in every repository; one result per repository, in order.</summary>
    public Task<StoredFile[]> WriteObjectAsync(string id, string relative, CompressionSpec compression, Func<Stream, CancellationToken, Task> produce, CancellationToken ct) =>
        FanOutWriter.WriteAsync(Catalogs.Select(c => c.Repository).ToList(), RepositoryLayout.BackupObject(Cluster, id, relative), compression, produce, ct);

    /// <summary>Writes each repository's manifest (the commit point), then removes the locks.</summary>
    public async Task CommitAsync(string id, Func<int, BackupManifest> manifestFor, CancellationToken ct)
    {
        for (int i = 0; i < Catalogs.Count; i++) await Catalogs[i].WriteManifestAsync(manifestFor(i), ct).ConfigureAwait(false);
        foreach (var catalog in Catalogs) await catalog.EndBackupAsync(id, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes what this process wrote for a failed backup, in every repository (best effort, reported):
    /// a backup directory whose in-progress marker names another process is never touched.
    /// </summary>
    public async Task DiscardAsync(string id, IProgressSink progress)
    {
        foreach (var catalog in Catalogs)
        {
            try
            {
                if (!await catalog.DiscardOwnAsync(id, CancellationToken.None).ConfigureAwait(false))
                    progress.Warn($"left backup {id} in repository '{catalog.Repository.Name}' alone: it was not written by this process");
            }
            catch (Exception e) when (e is IOException or PgVaultException or UnauthorizedAccessException)
            {
                progress.Warn($"could not remove the incomplete backup {id} from repository '{catalog.Repository.Name}' ({e.Message}); the next backup removes it");
            }
        }
    }

    /// <summary>
    /// The manifest of <paramref name="id"/> ("latest": the newest in any repository) with the
    /// catalogs that hold it, in configuration order; unreachable repositories are skipped with a warning.
    /// </summary>
    public async Task<(BackupManifest Manifest, List<Catalog> Holders)> FindAsync(string id, IProgressSink progress, CancellationToken ct)
    {
        var found = new List<(Catalog Catalog, BackupManifest Manifest)>();
        PgVaultException? lastError = null;
        foreach (var catalog in Catalogs)
        {
            try
            {
                if (id == "latest")
                {
                    var all = await catalog.ListAsync(progress, ct).ConfigureAwait(false);
                    if (all.Count > 0) found.Add((catalog, all[^1]));
                }
                else
                {
                    found.Add((catalog, await catalog.GetAsync(id, ct).ConfigureAwait(false)));
                }
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                lastError = e;
                if (e.RepositoryFault || !e.Message.Contains("not found", StringComparison.Ordinal))
                    progress.Warn($"repository '{catalog.Repository.Name}': {e.Message}");
            }
        }
        if (found.Count == 0)
        {
            if (Catalogs.Count == 1 && lastError != null) throw lastError;
            throw new PgVaultException(id == "latest"
                    ? $"no backups of cluster '{Cluster}' in repositories {Names}"
                    : $"backup '{id}' not found for cluster '{Cluster}' in repositories {Names}",
                "see 'pgvault list' for the backups that exist");
        }
        string chosen = id == "latest" ? found.Max(f => f.Manifest.Id)! : id;
        var holders = found.Where(f => f.Manifest.Id == chosen).ToList();
        return (holders[0].Manifest, holders.Select(h => h.Catalog).ToList());
    }
}
