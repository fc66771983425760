using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;
using PgVault.Core.PostgreSql;

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

    /// <summary>How far ahead of a backup's start an existing id may be and still be followed (see <see cref="BeginBackupAsync(DateTimeOffset, BackupKind, CancellationToken, IReadOnlyList{string}?)"/>).</summary>
    internal static readonly TimeSpan FutureTolerance = TimeSpan.FromHours(1);

    /// <summary>
    /// Allocates an id that is free in every repository and later than every id there, and writes
    /// its in-progress marker in each, under the repository locks, so concurrent backups (other
    /// processes, the same second) get distinct ids that sort in the order the backups began.
    /// </summary>
    public Task<string> BeginBackupAsync(DateTimeOffset start, char kind, CancellationToken ct) =>
        BackupKinds.TryFromLetter(kind, out var typed) ? BeginBackupAsync(start, typed, ct)
            : throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a backup kind letter (L, F, D, I)");

    /// <inheritdoc cref="BeginBackupAsync(DateTimeOffset, char, CancellationToken)"/>
    /// <param name="chain">
    /// The backups this one will reference (oldest first): checked under the lock to be still
    /// listed in every repository (an expire may have removed them since they were chosen; then
    /// <see cref="ErrorCode.ReferenceExpired"/>) and recorded in the in-progress marker, so an
    /// expire keeps them until this backup ends.
    /// </param>
    public async Task<string> BeginBackupAsync(DateTimeOffset start, BackupKind kind, CancellationToken ct, IReadOnlyList<string>? chain = null)
    {
        await using var locks = await LockAllAsync("backup: allocating an id", ct).ConfigureAwait(false);
        if (chain is { Count: > 0 })
        {
            foreach (var catalog in Catalogs)
            {
                var listed = (await catalog.ListIdsAsync(ct).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
                if (chain.FirstOrDefault(id => !listed.Contains(id)) is { } gone)
                    throw new PgVaultException(ErrorCode.ReferenceExpired, $"reference backup {gone} was removed from repository '{catalog.Repository.Name}' since it was chosen",
                        "an expire or delete ran at the same moment; the backup chooses its reference again");
            }
        }
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var catalog in Catalogs) taken.UnionWith(await catalog.TakenStampsAsync(ct).ConfigureAwait(false));
        foreach (var store in Others)
        {
            try
            {
                await foreach (var info in store.ListAsync(RepositoryLayout.BackupsPrefix(Cluster), ct).ConfigureAwait(false))
                {
                    if (BackupId.TryParse(RepositoryLayout.BackupIdOf(Cluster, info.Key), out var other)) taken.Add(other.Stamp);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Best effort: an unreachable repository that this backup does not use is not an error.
            }
        }
        // Ids sort by time, so a new id comes after every id in use: an earlier id may have been
        // moved past the clock (two backups in one second) and the second it left free must not
        // be handed to a later backup once the one that held it is expired. An id more than
        // FutureTolerance ahead of this backup's start (a host whose clock ran ahead, a stray
        // name) is not followed: it would pin every later id to its time.
        var next = BackupId.Create(start, kind);
        var followed = taken.Select(t => BackupId.TryStampTime(t, out var time) ? time : (DateTimeOffset?)null)
            .Where(t => t <= next.Start + FutureTolerance).Max();
        if (followed is { } latest && latest >= next.Start) next = BackupId.Create(latest.AddSeconds(1), kind);
        while (taken.Contains(next.Stamp)) next = BackupId.Create(next.Start.AddSeconds(1), kind);
        string id = next.Text;
        for (int i = 0; i < Catalogs.Count; i++)
        {
            try
            {
                await Catalogs[i].WriteLockAsync(id, ct, chain).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                foreach (var written in Catalogs.Take(i))
                {
                    try { await written.DiscardOwnAsync(id, CancellationToken.None).ConfigureAwait(false); }
                    catch (Exception) { /* debris: the next backup removes it */ }
                }
                throw new PgVaultException(e is PgVaultException p ? p.Code : ErrorCode.IoFailed, $"unable to start backup {id} in repository '{Catalogs[i].Repository.Name}': {e.Message}", inner: e);
            }
        }
        return id;
    }

    /// <summary>Stores one object of backup <paramref name="id"/> in every repository; one result per repository, in order.</summary>
    public Task<StoredFile[]> WriteObjectAsync(string id, string relative, CompressionSpec compression, Func<Stream, CancellationToken, Task> produce, CancellationToken ct) =>
        FanOutWriter.WriteAsync(Catalogs.Select(c => c.Repository).ToList(), RepositoryLayout.BackupObject(Cluster, id, relative), compression, produce, ct);

    /// <summary>How long a commit waits for the repository lock to update the catalog index (else the next listing rebuilds it).</summary>
    public static readonly TimeSpan IndexLockWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Writes each repository's manifest (the commit point), removes the in-progress markers, then
    /// adds the backup's header to each repository's catalog index under the repository locks. The
    /// backup is committed once the manifests are written: an index that cannot be updated is only
    /// warned about (the next listing rebuilds it from the manifests).
    /// </summary>
    public async Task CommitAsync(string id, Func<int, BackupManifest> manifestFor, CancellationToken ct)
    {
        var headers = new BackupHeader[Catalogs.Count];
        for (int i = 0; i < Catalogs.Count; i++)
        {
            var manifest = manifestFor(i);
            await Catalogs[i].WriteManifestAsync(manifest, ct).ConfigureAwait(false);
            headers[i] = manifest.Header;
        }
        foreach (var catalog in Catalogs) await catalog.EndBackupAsync(id, CancellationToken.None).ConfigureAwait(false);
        await UpdateIndexesAsync(i => [headers[i]], ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Brings every repository's catalog index up to date with its manifests, under the repository
    /// locks (call after removing backups; <see cref="CommitAsync"/> does it itself). Best effort:
    /// a failure is a warning, since the next listing rebuilds a stale index.
    /// </summary>
    public async Task UpdateIndexesAsync(Func<int, IReadOnlyList<BackupHeader>> known, CancellationToken ct)
    {
        try
        {
            await using var locks = await LockAllAsync("backup: updating the catalog index", ct, IndexLockWait).ConfigureAwait(false);
            for (int i = 0; i < Catalogs.Count; i++)
                await new CatalogIndex(Catalogs[i]).UpdateAsync(known(i), _progress, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or IOException or UnauthorizedAccessException)
        {
            _progress.Warn($"the catalog index of cluster '{Cluster}' was not updated ({e.Message}); the next 'pgvault list' rebuilds it from the manifests");
        }
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
    /// "latest" is found from the catalog indexes, so only the chosen manifest is read.
    /// </summary>
    public async Task<(BackupManifest Manifest, List<Catalog> Holders)> FindAsync(string id, IProgressSink progress, CancellationToken ct)
    {
        if (id != "latest")
        {
            BackupId.Parse(id);
            return await FindOneAsync(id, progress, ct).ConfigureAwait(false);
        }
        var entries = await ListHeadersAsync(progress, ct).ConfigureAwait(false);
        for (int i = entries.Count - 1; i >= 0; i--)
        {
            if (await ReadManifestAsync(entries[i].Header.Id, entries[i].Holders, progress, ct).ConfigureAwait(false) is { } newest)
                return (newest, [.. entries[i].Holders]);
        }
        throw new PgVaultException(ErrorCode.NoBackup, Catalogs.Count == 1
                ? $"no backups of cluster '{Cluster}' in repository '{Catalogs[0].Repository.Name}'"
                : $"no backups of cluster '{Cluster}' in repositories {Names}",
            "take one with 'pgvault backup'");
    }

    private async Task<(BackupManifest Manifest, List<Catalog> Holders)> FindOneAsync(string id, IProgressSink progress, CancellationToken ct)
    {
        BackupManifest? first = null;
        var holders = new List<Catalog>();
        PgVaultException? lastError = null;
        foreach (var catalog in Catalogs)
        {
            try
            {
                var manifest = await catalog.GetAsync(id, ct).ConfigureAwait(false);
                first ??= manifest;
                holders.Add(catalog);
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                lastError = e;
                if (e.RepositoryFault || e.Code != ErrorCode.BackupNotFound)
                    progress.Warn($"repository '{catalog.Repository.Name}': {e.Message}");
            }
        }
        if (first != null) return (first, holders);
        if (Catalogs.Count == 1 && lastError != null) throw lastError;
        throw new PgVaultException(ErrorCode.BackupNotFound, $"backup '{id}' not found for cluster '{Cluster}' in repositories {Names}",
            "see 'pgvault list' for the backups that exist");
    }

    /// <summary>
    /// Every complete backup in any of the repositories, oldest first, with the catalogs holding it
    /// (configuration order); headers come from each repository's catalog index. With several
    /// repositories one that cannot be listed is skipped with a warning; with one, its error is thrown.
    /// </summary>
    public async Task<List<CatalogEntry>> ListHeadersAsync(IProgressSink progress, CancellationToken ct)
    {
        var byId = new SortedDictionary<string, (BackupHeader Header, List<Catalog> Holders)>(StringComparer.Ordinal);
        foreach (var catalog in Catalogs)
        {
            List<BackupHeader> headers;
            try
            {
                headers = await catalog.ListHeadersAsync(progress, ct).ConfigureAwait(false);
            }
            catch (PgVaultException e) when (Catalogs.Count > 1 && e.Kind != ErrorKind.Usage)
            {
                progress.Warn($"repository '{catalog.Repository.Name}' could not be listed: {e.Message}");
                continue;
            }
            foreach (var header in headers)
            {
                if (byId.TryGetValue(header.Id, out var entry)) entry.Holders.Add(catalog);
                else byId[header.Id] = (header, [catalog]);
            }
        }
        return byId.Values.Select(e => new CatalogEntry(e.Header, e.Holders)).ToList();
    }

    /// <summary>
    /// The ids of every complete backup (optionally only of some kinds) with the catalogs holding
    /// each, from one listing per repository and no manifest read; unreachable repositories are
    /// skipped with a warning.
    /// </summary>
    public async Task<SortedDictionary<string, List<Catalog>>> HoldersByIdAsync(Func<BackupKind, bool>? kinds, IProgressSink progress, CancellationToken ct)
    {
        var holdersById = new SortedDictionary<string, List<Catalog>>(StringComparer.Ordinal);
        foreach (var catalog in Catalogs)
        {
            try
            {
                foreach (var listed in await catalog.ListIdsAsync(ct).ConfigureAwait(false))
                {
                    if (!BackupId.TryParse(listed, out var id) || (kinds != null && !kinds(id.Kind))) continue;
                    if (!holdersById.TryGetValue(listed, out var list)) holdersById[listed] = list = [];
                    list.Add(catalog);
                }
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                progress.Warn($"repository '{catalog.Repository.Name}': {e.Message}");
            }
        }
        return holdersById;
    }

    /// <summary>
    /// The manifest of <paramref name="id"/> from the first of <paramref name="holders"/> that can
    /// serve it (each failure a warning), or null when none can: the one fall-back read.
    /// </summary>
    public async Task<BackupManifest?> ReadManifestAsync(string id, IReadOnlyList<Catalog> holders, IProgressSink progress, CancellationToken ct)
    {
        foreach (var catalog in holders)
        {
            try
            {
                return await catalog.GetAsync(id, ct).ConfigureAwait(false);
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                progress.Warn($"repository '{catalog.Repository.Name}': {e.Message}");
            }
        }
        return null;
    }
}

/// <summary>One backup of a merged listing: its header and the catalogs (repositories) holding it, in configuration order.</summary>
public sealed record CatalogEntry(BackupHeader Header, IReadOnlyList<Catalog> Holders);
