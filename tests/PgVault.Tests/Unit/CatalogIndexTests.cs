using System.Collections.Concurrent;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>The per-cluster catalog index (clusters/C/catalog.json) against an in-memory store whose reads are counted.</summary>
public sealed class CatalogIndexTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 30, 12, TimeSpan.Zero);
    private static readonly string IndexKey = RepositoryLayout.CatalogIndex("main");

    private readonly MemoryObjectStore _memory = new("memrepo");
    private readonly CountingObjectStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;
    private readonly Warnings _warnings = new();

    public CatalogIndexTests() => _store = new CountingObjectStore(_memory);

    private async Task<Catalog> NewCatalogAsync(string? passphrase = null) => new(await Repo.InitAsync(_store, passphrase, _ct), "main");

    /// <summary>A physical manifest with a file list, as a real full/incr backup carries.</summary>
    private static BackupManifest Physical(int n)
    {
        var kind = n % 10 == 0 ? BackupKind.Full : BackupKind.Incr;
        string id = BackupId.Create(Start.AddMinutes(n), kind).Text;
        return new BackupManifest
        {
            Id = id, Type = kind.Name(), Cluster = "main", StartedAt = Start.AddMinutes(n), FinishedAt = Start.AddMinutes(n).AddSeconds(5),
            SizeBytes = 1000 + n, StoredBytes = 100 + n, Compression = "zst:1",
            Physical = new PhysicalBackupInfo
            {
                Reference = kind == BackupKind.Full ? null : BackupId.Create(Start.AddMinutes(n - 1), (n - 1) % 10 == 0 ? BackupKind.Full : BackupKind.Incr).Text,
                Chain = [id], StartLsn = $"0/{n:X}000028", StopLsn = $"0/{n:X}000100", Timeline = 1,
                Files = Enumerable.Range(0, 40).Select(f => new PhysicalFile { Path = $"base/5/{16384 + f}", Size = 8192, Sha256 = new string('a', 64) }).ToList(),
            },
        };
    }

    private async Task<List<BackupManifest>> WriteManifestsAsync(Catalog catalog, int count)
    {
        var manifests = Enumerable.Range(1, count).Select(Physical).ToList();
        foreach (var m in manifests) await catalog.WriteManifestAsync(m, _ct);
        return manifests;
    }

    private List<string> ManifestReads() => _store.Reads.Keys.Where(k => k.EndsWith("/manifest.json", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task List_of_500_physical_backups_reads_one_index_object_and_no_manifest()
    {
        var catalog = await NewCatalogAsync();
        var manifests = await WriteManifestsAsync(catalog, 500);
        var first = await catalog.ListHeadersAsync(_warnings, _ct); // no index yet: built from the manifests and stored
        Assert.Equal(500, ManifestReads().Count);
        Assert.NotNull(await _store.StatAsync(IndexKey, _ct));

        _store.Reset();
        var set = new CatalogSet([catalog]);
        var listed = await set.ListHeadersAsync(_warnings, _ct);

        Assert.Equal(new Dictionary<string, int> { [IndexKey] = 1 }, _store.Reads);
        Assert.True(_store.Listings == 1, $"{_store.Listings} listings");
        Assert.Equal(manifests.Select(m => m.Id), listed.Select(e => e.Header.Id));
        Assert.Equal(first, listed.Select(e => e.Header), HeaderComparer.Instance);
        var last = listed[^1].Header;
        Assert.Equal(BackupKind.Full, last.Kind); // 500 is a multiple of 10
        Assert.Equal(BackupKind.Incr, listed[^2].Header.Kind);
        Assert.Equal(manifests[^1].Physical!.StopLsn, last.Physical!.StopLsn);
        Assert.Equal(manifests[^1].Physical!.Reference, last.Physical.Reference);
        Assert.Equal([catalog], listed[^1].Holders);
        Assert.Empty(_warnings.Lines);
    }

    [Fact]
    public async Task Commit_adds_the_backup_to_the_index_so_the_next_list_reads_no_manifest()
    {
        var catalog = await NewCatalogAsync();
        var set = new CatalogSet([catalog]);
        var manifest = Physical(10);
        string id = await set.BeginBackupAsync(manifest.StartedAt, BackupKind.Full, _ct);
        Assert.Equal(manifest.Id, id);
        await set.CommitAsync(id, _ => manifest, _ct);

        _store.Reset();
        var listed = await catalog.ListHeadersAsync(_warnings, _ct);

        Assert.Equal([id], listed.Select(h => h.Id));
        Assert.Empty(ManifestReads());
        Assert.Equal(1, _store.Reads[IndexKey]);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("damaged")]
    [InlineData("other cluster")]
    public async Task Index_that_cannot_be_used_is_rebuilt_from_the_manifests_with_the_same_result(string how)
    {
        var catalog = await NewCatalogAsync();
        await WriteManifestsAsync(catalog, 30);
        var expected = await catalog.ListHeadersAsync(_warnings, _ct);
        byte[] index = await _memory.GetBytesAsync(IndexKey, _ct);
        switch (how)
        {
            case "missing":
                await _memory.DeleteAsync(IndexKey, _ct);
                break;
            case "damaged":
                index[index.Length / 2] ^= 0x01;
                await _memory.PutAsync(IndexKey, index, _ct);
                break;
            default:
                var other = new Catalog(catalog.Repository, "other");
                await other.WriteManifestAsync(Physical(1) with { Cluster = "other" }, _ct);
                await other.ListHeadersAsync(_warnings, _ct);
                await _memory.PutAsync(IndexKey, await _memory.GetBytesAsync(RepositoryLayout.CatalogIndex("other"), _ct), _ct);
                break;
        }

        _store.Reset();
        var rebuilt = await catalog.ListHeadersAsync(_warnings, _ct);

        Assert.Equal(expected, rebuilt, HeaderComparer.Instance);
        Assert.Equal(30, ManifestReads().Count);
        if (how != "missing") Assert.Contains(_warnings.Lines, w => w.Contains("catalog index", StringComparison.Ordinal));
        _store.Reset();
        Assert.Equal(expected, await catalog.ListHeadersAsync(_warnings, _ct), HeaderComparer.Instance); // written back: fresh again
        Assert.Empty(ManifestReads());
    }

    [Fact]
    public async Task Stale_index_sees_a_manifest_added_or_removed_behind_its_back_and_reads_only_the_new_one()
    {
        var catalog = await NewCatalogAsync();
        var manifests = await WriteManifestsAsync(catalog, 20);
        await catalog.ListHeadersAsync(_warnings, _ct);

        var added = Physical(21);
        await catalog.WriteManifestAsync(added, _ct); // as a process without the index update would
        await catalog.Repository.DeletePrefixAsync(RepositoryLayout.BackupPrefix("main", manifests[3].Id), _ct);
        _store.Reset();
        var listed = await catalog.ListHeadersAsync(_warnings, _ct);

        var expected = manifests.Where((_, i) => i != 3).Append(added).Select(m => m.Id).ToList();
        Assert.Equal(expected, listed.Select(h => h.Id));
        Assert.Equal([RepositoryLayout.Manifest("main", added.Id)], ManifestReads());
        _store.Reset();
        Assert.Equal(expected, (await catalog.ListHeadersAsync(_warnings, _ct)).Select(h => h.Id));
        Assert.Empty(ManifestReads());
    }

    [Fact]
    public async Task Damaged_manifest_is_skipped_with_a_warning_on_every_listing_even_with_a_fresh_index()
    {
        var catalog = await NewCatalogAsync();
        var manifests = await WriteManifestsAsync(catalog, 5);
        await catalog.ListHeadersAsync(_warnings, _ct);
        string key = RepositoryLayout.Manifest("main", manifests[0].Id);
        byte[] bytes = await _memory.GetBytesAsync(key, _ct);
        bytes[bytes.Length / 2] ^= 0x01;
        await _memory.PutAsync(key, bytes, _ct);

        for (int i = 0; i < 2; i++)
        {
            _warnings.Lines.Clear();
            var listed = await catalog.ListHeadersAsync(_warnings, _ct);
            Assert.Equal(manifests.Skip(1).Select(m => m.Id), listed.Select(h => h.Id));
            Assert.Contains(_warnings.Lines, w => w.Contains($"skipping backup {manifests[0].Id}", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Concurrent_commits_under_the_lock_keep_every_backup_in_the_index()
    {
        var repository = (await NewCatalogAsync()).Repository;
        const int Writers = 8;
        var ids = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            // Each writer is another process: its own store object and catalog on the same objects.
            var peer = await Repo.OpenAsync(_memory.OpenPeer(), null, _ct);
            var set = new CatalogSet([new Catalog(peer, "main")]);
            await set.RemoveDebrisAsync(NullProgress.Instance, _ct);
            string id = await set.BeginBackupAsync(Start, BackupKind.Full, _ct);
            await set.CommitAsync(id, _ => Physical(0) with { Id = id }, _ct);
            ids.Add(id);
        })));

        var stored = await repository.ReadMetadataAsync(IndexKey, RepositoryJson.Default.CatalogIndexFile, _ct);
        Assert.NotNull(stored);
        Assert.Equal(ids.Order(StringComparer.Ordinal), stored.Backups.Select(e => e.Header.Id));
        Assert.Equal(Writers, ids.Distinct().Count());
    }

    [Fact]
    public async Task Encrypted_index_is_bound_to_its_cluster()
    {
        var catalog = await NewCatalogAsync("secret passphrase");
        await WriteManifestsAsync(catalog, 3);
        var expected = await catalog.ListHeadersAsync(_warnings, _ct);
        var other = new Catalog(catalog.Repository, "other");
        await other.WriteManifestAsync(Physical(1) with { Cluster = "other" }, _ct);
        await other.ListHeadersAsync(_warnings, _ct);
        await _memory.PutAsync(IndexKey, await _memory.GetBytesAsync(RepositoryLayout.CatalogIndex("other"), _ct), _ct);

        var listed = await catalog.ListHeadersAsync(_warnings, _ct);

        Assert.Equal(expected, listed, HeaderComparer.Instance);
        Assert.Contains(_warnings.Lines, w => w.Contains("catalog index", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Latest_reads_only_the_newest_manifest()
    {
        var catalog = await NewCatalogAsync();
        var manifests = await WriteManifestsAsync(catalog, 50);
        await catalog.ListHeadersAsync(_warnings, _ct);
        _store.Reset();

        var (latest, holders) = await new CatalogSet([catalog]).FindAsync("latest", _warnings, _ct);

        Assert.Equal(manifests[^1].Id, latest.Id);
        Assert.Equal([catalog], holders);
        Assert.Equal([RepositoryLayout.Manifest("main", latest.Id)], ManifestReads());
    }

    private sealed class Warnings : IProgressSink
    {
        public List<string> Lines { get; } = [];

        public void Info(string message) { }

        public void Warn(string message)
        {
            lock (Lines) Lines.Add(message);
        }

        public IProgressTask Start(string description, long? totalBytes = null) => NullProgress.Instance.Start(description, totalBytes);
    }

    /// <summary>Headers compared by value, lists included (records compare lists by reference).</summary>
    private sealed class HeaderComparer : IEqualityComparer<BackupHeader>
    {
        public static readonly HeaderComparer Instance = new();

        public bool Equals(BackupHeader? x, BackupHeader? y) =>
            System.Text.Json.JsonSerializer.Serialize(x, RepositoryJson.Default.BackupHeader!) == System.Text.Json.JsonSerializer.Serialize(y, RepositoryJson.Default.BackupHeader!);

        public int GetHashCode(BackupHeader obj) => obj.Id.GetHashCode(StringComparison.Ordinal);
    }
}
