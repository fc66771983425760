using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Retention;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>
/// A backup commits without the repository lock (manifest first, in-progress marker removed after).
/// Whoever reads the catalog under the lock at that moment (debris removal, expire, delete) must
/// see the backup as running or as complete, never as neither. Each test stops the reader at the
/// worst moment and lets the writer commit there.
/// </summary>
public sealed class CommitRaceTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 30, 12, TimeSpan.Zero);
    private readonly MemoryObjectStore _memory = new("memrepo");
    private readonly CancellationToken _ct = CancellationToken.None;

    private static BackupManifest Manifest(string id, BackupKind kind, DateTimeOffset started, string[] chain) => new()
    {
        Id = id, Type = kind.Name(), Cluster = "main", StartedAt = started, FinishedAt = started.AddSeconds(5),
        Physical = new PhysicalBackupInfo { Chain = [.. chain], StartWal = "000000010000000000000002", StopWal = "000000010000000000000002" },
    };

    /// <summary>The writer: a catalog of its own ("another process") that has begun backup id and can commit it.</summary>
    private async Task<(CatalogSet Writer, string Id)> BeginAsync(BackupKind kind = BackupKind.Full, string[]? chain = null)
    {
        var writer = new CatalogSet([new Catalog(await Repo.OpenAsync(_memory.OpenPeer(), null, _ct), "main")]);
        string id = await writer.BeginBackupAsync(Start, kind, _ct, chain);
        return (writer, id);
    }

    private static Task CommitAsync(CatalogSet writer, string id, BackupKind kind, string[] chain) =>
        writer.CommitAsync(id, _ => Manifest(id, kind, Start, [.. chain, id]), CancellationToken.None);

    private async Task<Catalog> ReaderAsync(InterposingObjectStore store) => new(await Repo.OpenAsync(store, null, _ct), "main");

    [Fact]
    public async Task Debris_removal_whose_marker_read_meets_a_commit_keeps_the_committed_backup()
    {
        await Repo.InitAsync(_memory.OpenPeer(), null, _ct);
        var (writer, id) = await BeginAsync();
        var reader = new InterposingObjectStore(_memory.OpenPeer())
        {
            // The listing saw the marker and no manifest; the writer commits before the marker is read.
            BeforeRead = key => key == RepositoryLayout.BackupLock("main", id) ? CommitAsync(writer, id, BackupKind.Full, []) : Task.CompletedTask,
        };

        var removed = await (await ReaderAsync(reader)).RemoveDebrisAsync(NullProgress.Instance, _ct);

        Assert.Empty(removed);
        var catalog = new Catalog(await Repo.OpenAsync(_memory.OpenPeer(), null, _ct), "main");
        Assert.Equal([id], await catalog.ListIdsAsync(_ct));
        Assert.Equal(id, (await catalog.GetAsync(id, _ct)).Id);
    }

    [Fact]
    public async Task Debris_removal_whose_listing_missed_both_marker_and_manifest_keeps_the_committed_backup()
    {
        await Repo.InitAsync(_memory.OpenPeer(), null, _ct);
        var (writer, id) = await BeginAsync();
        await _memory.PutAsync(RepositoryLayout.BackupObject("main", id, "pack-0001.zst"), new byte[10], _ct);
        await CommitAsync(writer, id, BackupKind.Full, []);
        var reader = new InterposingObjectStore(_memory.OpenPeer())
        {
            // A directory walk in readdir order: it passed manifest.json before it was written and
            // backup.lock after it was removed, so it saw only the pack.
            HideFromListing = key => key == RepositoryLayout.BackupLock("main", id) || key == RepositoryLayout.Manifest("main", id),
        };

        var removed = await (await ReaderAsync(reader)).RemoveDebrisAsync(NullProgress.Instance, _ct);

        Assert.Empty(removed);
        Assert.NotNull(await _memory.StatAsync(RepositoryLayout.BackupObject("main", id, "pack-0001.zst"), _ct));
        Assert.NotNull(await _memory.StatAsync(RepositoryLayout.Manifest("main", id), _ct));
    }

    [Fact]
    public async Task Debris_removal_still_removes_a_backup_without_marker_or_manifest()
    {
        var catalog = new Catalog(await Repo.InitAsync(_memory.OpenPeer(), null, _ct), "main");
        const string lockless = "20261123T120000Z-F";
        await _memory.PutAsync(RepositoryLayout.BackupObject("main", lockless, "pack-0001.zst"), new byte[10], _ct);

        Assert.Equal([lockless], await catalog.RemoveDebrisAsync(NullProgress.Instance, _ct));
        Assert.Null(await _memory.StatAsync(RepositoryLayout.BackupObject("main", lockless, "pack-0001.zst"), _ct));
    }

    [Fact]
    public async Task Retention_sees_a_backup_that_commits_while_it_reads_the_catalog_as_running_or_complete()
    {
        var catalog = new Catalog(await Repo.InitAsync(_memory.OpenPeer(), null, _ct), "main");
        string full = BackupId.Create(Start.AddHours(-1), BackupKind.Full).Text;
        await catalog.WriteManifestAsync(Manifest(full, BackupKind.Full, Start.AddHours(-1), [full]), _ct);
        var (writer, id) = await BeginAsync(BackupKind.Incr, [full]);
        int listings = 0;
        var reader = new InterposingObjectStore(_memory.OpenPeer())
        {
            // The incremental commits right after the first listing of the backups, whichever reads it.
            AfterListing = prefix => prefix == RepositoryLayout.BackupsPrefix("main") && Interlocked.Increment(ref listings) == 1
                ? CommitAsync(writer, id, BackupKind.Incr, [full]) : Task.CompletedTask,
        };

        var (headers, running) = await new RetentionStore(await ReaderAsync(reader), NullProgress.Instance).ReadCatalogAsync(_ct);

        Assert.True(listings >= 1);
        bool complete = headers.Any(h => h.Id == id);
        bool protectsItsReference = running.Any(r => r.Id == id && r.Chain.Contains(full));
        Assert.True(complete || protectsItsReference, $"backup {id} is neither complete ({string.Join(", ", headers.Select(h => h.Id))}) nor running");
    }

    [Fact]
    public async Task Concurrent_backups_and_debris_removals_never_share_an_id_nor_lose_a_commit()
    {
        await Repo.InitAsync(_memory.OpenPeer(), null, _ct);
        const int Writers = 12;
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => Task.Run(async () =>
        {
            var set = new CatalogSet([new Catalog(await Repo.OpenAsync(_memory.OpenPeer(), null, _ct), "main")]);
            await set.RemoveDebrisAsync(NullProgress.Instance, _ct);
            string id = await set.BeginBackupAsync(Start, BackupKind.Full, _ct);
            await Task.Yield();
            await set.CommitAsync(id, _ => Manifest(id, BackupKind.Full, Start, [id]), _ct);
            ids.Add(id);
        }, _ct)));

        Assert.Equal(Writers, ids.Distinct().Count());
        var catalog = new Catalog(await Repo.OpenAsync(_memory.OpenPeer(), null, _ct), "main");
        Assert.Equal(ids.Order(StringComparer.Ordinal), await catalog.ListIdsAsync(_ct));
    }
}

/// <summary>
/// An <see cref="IObjectStore"/> decorator that lets a test act at one moment of a reader's work:
/// before an object is read, after a listing, or hide keys from listings (a walk that missed them).
/// </summary>
internal sealed class InterposingObjectStore(IObjectStore inner) : IObjectStore
{
    public Func<string, Task> BeforeRead { get; init; } = _ => Task.CompletedTask;

    public Func<string, Task> AfterListing { get; init; } = _ => Task.CompletedTask;

    public Func<string, bool> HideFromListing { get; init; } = _ => false;

    public string Name => inner.Name;

    public string Location => inner.Location;

    public async Task<Stream> OpenReadAsync(string key, CancellationToken ct)
    {
        await BeforeRead(key).ConfigureAwait(false);
        return await inner.OpenReadAsync(key, ct).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var info in inner.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            if (!HideFromListing(info.Key)) yield return info;
        }
        await AfterListing(prefix).ConfigureAwait(false);
    }

    public Task<ObjectWriter> OpenWriteAsync(string key, CancellationToken ct) => inner.OpenWriteAsync(key, ct);

    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct) => inner.StatAsync(key, ct);

    public Task DeleteAsync(string key, CancellationToken ct) => inner.DeleteAsync(key, ct);

    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct) => inner.TryCreateAsync(key, bytes, ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
