using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

public sealed class CatalogTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 30, 12, 500, TimeSpan.Zero);

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-catalog-");
    private readonly FileSystemObjectStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;

    public CatalogTests() => _store = new FileSystemObjectStore("testrepo", _root.FullName);

    public void Dispose() => _root.Delete(recursive: true);

    private async Task<Catalog> NewCatalogAsync(string cluster = "main") => new(await Repo.InitAsync(_store, null, _ct), cluster);

    private static BackupManifest ManifestFor(string id, long size = 1) => new() { Id = id, Cluster = "main", SizeBytes = size };

    /// <summary>A pid no process can have: above the kernel's pid_max.</summary>
    private static int DeadPid()
    {
        int pidMax = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture);
        int pid = pidMax + 1;
        Assert.False(Directory.Exists($"/proc/{pid}"));
        return pid;
    }

    private Task WriteLockAsync(Catalog catalog, string id, BackupLock held) =>
        catalog.Repository.WriteMetadataAsync(RepositoryLayout.BackupLock(catalog.Cluster, id), held, RepositoryJson.Default.BackupLock, _ct);

    [Fact]
    public async Task BeginBackup_allocates_a_utc_time_id_and_writes_its_lock()
    {
        var catalog = await NewCatalogAsync();

        string id = await catalog.BeginBackupAsync(Start, 'L', _ct);

        Assert.Equal("20261123T143012Z-L", id);
        Assert.True(Catalog.IsValidId(id));
        var held = await catalog.Repository.ReadMetadataAsync(RepositoryLayout.BackupLock("main", id), RepositoryJson.Default.BackupLock, _ct);
        Assert.NotNull(held);
        Assert.Equal(Environment.ProcessId, held.Pid);
        Assert.Equal(Environment.MachineName, held.Host);
    }

    [Fact]
    public async Task BeginBackup_converts_a_local_offset_to_utc()
    {
        var catalog = await NewCatalogAsync();

        string id = await catalog.BeginBackupAsync(new DateTimeOffset(2026, 1, 1, 1, 0, 5, TimeSpan.FromHours(2)), 'F', _ct);

        Assert.Equal("20251231T230005Z-F", id);
    }

    [Fact]
    public async Task A_second_begin_in_the_same_second_gets_the_next_second()
    {
        var catalog = await NewCatalogAsync();

        string first = await catalog.BeginBackupAsync(Start, 'L', _ct);
        string second = await catalog.BeginBackupAsync(Start.AddMilliseconds(200), 'L', _ct);
        string third = await catalog.BeginBackupAsync(Start, 'F', _ct);

        Assert.Equal("20261123T143012Z-L", first);
        Assert.Equal("20261123T143013Z-L", second);
        Assert.Equal("20261123T143014Z-F", third); // the time part is unique whatever the kind
    }

    [Fact]
    public async Task A_clock_that_stepped_back_still_gets_an_id_after_the_latest()
    {
        var catalog = await NewCatalogAsync();
        await catalog.BeginBackupAsync(Start.AddHours(1), 'F', _ct);

        Assert.Equal("20261123T153013Z-I", await catalog.BeginBackupAsync(Start, 'I', _ct));
    }

    [Fact]
    public async Task An_id_far_in_the_future_does_not_pin_later_ids_to_its_time()
    {
        var catalog = await NewCatalogAsync();
        await catalog.BeginBackupAsync(Start.AddDays(2), 'F', _ct); // a host whose clock ran two days ahead

        Assert.Equal("20261123T143012Z-F", await catalog.BeginBackupAsync(Start, 'F', _ct));
    }

    [Fact]
    public async Task A_second_left_free_by_a_removed_backup_is_not_given_to_a_later_one()
    {
        var catalog = await NewCatalogAsync();
        string first = await catalog.BeginBackupAsync(Start, 'F', _ct);
        string moved = await catalog.BeginBackupAsync(Start, 'F', _ct);
        await catalog.DiscardAsync(first, _ct);

        string later = await catalog.BeginBackupAsync(Start.AddMilliseconds(600), 'F', _ct);

        Assert.Equal("20261123T143013Z-F", moved);
        Assert.Equal("20261123T143014Z-F", later); // not 143012, which would sort before the backup it follows
    }

    [Fact]
    public async Task A_finished_backup_also_blocks_its_second()
    {
        var catalog = await NewCatalogAsync();
        string first = await catalog.BeginBackupAsync(Start, 'L', _ct);
        await catalog.WriteManifestAsync(ManifestFor(first), _ct);
        await catalog.EndBackupAsync(first, _ct);

        Assert.Null(await _store.StatAsync(RepositoryLayout.BackupLock("main", first), _ct));
        Assert.Equal("20261123T143013Z-L", await catalog.BeginBackupAsync(Start, 'L', _ct));
    }

    [Fact]
    public async Task Ids_sort_by_time()
    {
        var catalog = await NewCatalogAsync();
        DateTimeOffset[] times =
        [
            new(2026, 11, 23, 9, 59, 59, TimeSpan.Zero),
            new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero),
            new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero),
            new(2027, 1, 1, 0, 0, 0, TimeSpan.Zero),
        ];
        var ids = new List<string>();
        foreach (var t in times) ids.Add(await catalog.BeginBackupAsync(t, 'L', _ct));

        Assert.Equal(ids, ids.Order(StringComparer.Ordinal));
        Assert.Equal(times.Select(t => t.ToString(Catalog.IdTimeFormat, CultureInfo.InvariantCulture) + "-L"), ids);
    }

    [Fact]
    public async Task List_returns_only_backups_with_a_manifest_oldest_first()
    {
        var catalog = await NewCatalogAsync();
        string older = await catalog.BeginBackupAsync(Start, 'L', _ct);
        string newer = await catalog.BeginBackupAsync(Start.AddHours(1), 'L', _ct);
        string running = await catalog.BeginBackupAsync(Start.AddHours(2), 'L', _ct);
        await catalog.WriteManifestAsync(ManifestFor(newer, 2), _ct);
        await catalog.WriteManifestAsync(ManifestFor(older, 1), _ct);
        await _store.PutAsync(RepositoryLayout.BackupObject("main", running, "db/dump.zst"), new byte[] { 1, 2, 3 }, _ct);

        var list = await catalog.ListAsync(_ct);

        Assert.Equal([older, newer], list.Select(m => m.Id));
        Assert.Equal([1L, 2L], list.Select(m => m.SizeBytes));
    }

    [Fact]
    public async Task List_is_per_cluster()
    {
        var main = await NewCatalogAsync("main");
        var other = new Catalog(main.Repository, "other");
        string id = await main.BeginBackupAsync(Start, 'L', _ct);
        await main.WriteManifestAsync(ManifestFor(id), _ct);

        Assert.Single(await main.ListAsync(_ct));
        Assert.Empty(await other.ListAsync(_ct));
    }

    [Fact]
    public async Task Get_latest_returns_the_newest_complete_backup()
    {
        var catalog = await NewCatalogAsync();
        string a = await catalog.BeginBackupAsync(Start, 'L', _ct);
        string b = await catalog.BeginBackupAsync(Start.AddDays(1), 'L', _ct);
        await catalog.BeginBackupAsync(Start.AddDays(2), 'L', _ct); // still running: no manifest
        await catalog.WriteManifestAsync(ManifestFor(b), _ct);
        await catalog.WriteManifestAsync(ManifestFor(a), _ct);

        Assert.Equal(b, (await catalog.GetAsync("latest", _ct)).Id);
        Assert.Equal(a, (await catalog.GetAsync(a, _ct)).Id);
    }

    [Fact]
    public async Task Get_latest_without_backups_is_a_clear_error()
    {
        var catalog = await NewCatalogAsync();

        var e = await Assert.ThrowsAsync<PgVaultException>(() => catalog.GetAsync("latest", _ct));

        Assert.Contains("no backups of cluster 'main'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_of_an_unknown_valid_id_is_not_found()
    {
        var catalog = await NewCatalogAsync();
        string running = await catalog.BeginBackupAsync(Start, 'L', _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => catalog.GetAsync("20200101T000000Z-L", _ct));
        var e2 = await Assert.ThrowsAsync<PgVaultException>(() => catalog.GetAsync(running, _ct));

        Assert.Equal(ErrorKind.Failure, e.Kind);
        Assert.Contains("'20200101T000000Z-L' not found", e.Message, StringComparison.Ordinal);
        Assert.Contains("not found", e2.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("../../pgvault.repo.json")]
    [InlineData("20261123T143012Z-X")]
    public async Task Get_of_something_that_is_not_an_id_is_a_usage_error(string id)
    {
        var catalog = await NewCatalogAsync();

        var e = await Assert.ThrowsAsync<PgVaultException>(() => catalog.GetAsync(id, _ct));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains($"'{id}' is not a backup id", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RemoveDebris_removes_dead_or_lockless_backups_and_keeps_live_and_complete_ones()
    {
        var catalog = await NewCatalogAsync();
        const string dead = "20261123T100000Z-L";
        const string live = "20261123T110000Z-L";
        const string lockless = "20261123T120000Z-L";
        const string complete = "20261123T130000Z-L";
        const string remote = "20261123T140000Z-L";
        await WriteLockAsync(catalog, dead, new BackupLock { Host = Environment.MachineName, Pid = DeadPid(), StartedAt = DateTimeOffset.UtcNow });
        await _store.PutAsync(RepositoryLayout.BackupObject("main", dead, "db/001/dump.zst"), new byte[] { 1 }, _ct);
        await WriteLockAsync(catalog, live, new BackupLock { Host = Environment.MachineName, Pid = Environment.ProcessId, StartedAt = DateTimeOffset.UtcNow });
        await _store.PutAsync(RepositoryLayout.BackupObject("main", live, "db/001/dump.zst"), new byte[] { 2 }, _ct);
        await _store.PutAsync(RepositoryLayout.BackupObject("main", lockless, "db/001/dump.zst"), new byte[] { 3 }, _ct);
        await catalog.WriteManifestAsync(ManifestFor(complete), _ct);
        await WriteLockAsync(catalog, remote, new BackupLock { Host = "some-other-host-" + Guid.NewGuid().ToString("N"), Pid = DeadPid(), StartedAt = DateTimeOffset.UtcNow });

        var removed = await catalog.RemoveDebrisAsync(NullProgress.Instance, _ct);

        Assert.Equal([dead, lockless], removed.Order(StringComparer.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "clusters", "main", "backups", dead)));
        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "clusters", "main", "backups", lockless)));
        Assert.NotNull(await _store.StatAsync(RepositoryLayout.BackupObject("main", live, "db/001/dump.zst"), _ct));
        Assert.NotNull(await _store.StatAsync(RepositoryLayout.BackupLock("main", live), _ct));
        Assert.NotNull(await _store.StatAsync(RepositoryLayout.BackupLock("main", remote), _ct));
        Assert.Equal(complete, Assert.Single(await catalog.ListAsync(_ct)).Id);
    }

    [Fact]
    public async Task RemoveDebris_removes_a_backup_from_another_host_after_a_day()
    {
        var catalog = await NewCatalogAsync();
        const string stale = "20261123T100000Z-L";
        await WriteLockAsync(catalog, stale, new BackupLock { Host = "some-other-host-" + Guid.NewGuid().ToString("N"), Pid = 1, StartedAt = DateTimeOffset.UtcNow.AddDays(-2) });

        var removed = await catalog.RemoveDebrisAsync(NullProgress.Instance, _ct);

        Assert.Equal([stale], removed);
        Assert.Null(await _store.StatAsync(RepositoryLayout.BackupLock("main", stale), _ct));
    }

    [Fact]
    public async Task RemoveDebris_treats_an_unreadable_lock_as_debris()
    {
        var catalog = await NewCatalogAsync();
        const string broken = "20261123T100000Z-L";
        await _store.PutAsync(RepositoryLayout.BackupLock("main", broken), "{ not json"u8.ToArray(), _ct);

        var removed = await catalog.RemoveDebrisAsync(NullProgress.Instance, _ct);

        Assert.Equal([broken], removed);
    }

    [Fact]
    public async Task Discard_deletes_everything_of_one_backup()
    {
        var catalog = await NewCatalogAsync();
        string id = await catalog.BeginBackupAsync(Start, 'L', _ct);
        string keep = await catalog.BeginBackupAsync(Start.AddSeconds(5), 'L', _ct);
        await _store.PutAsync(RepositoryLayout.BackupObject("main", id, "a/b/c"), new byte[] { 1 }, _ct);

        await catalog.DiscardAsync(id, _ct);

        var left = new List<string>();
        await foreach (var info in _store.ListAsync(RepositoryLayout.BackupsPrefix("main"), _ct)) left.Add(info.Key);
        Assert.Equal([RepositoryLayout.BackupLock("main", keep)], left);
    }

    [Theory]
    [InlineData("20261123T143012Z-L", true)]
    [InlineData("20261123T143012Z-F", true)]
    [InlineData("20261123T143012Z-D", true)]
    [InlineData("20261123T143012Z-I", true)]
    [InlineData("20261123T143012Z-X", false)]
    [InlineData("20261123T143012Z-l", false)]
    [InlineData("20261323T143012Z-L", false)]
    [InlineData("20261123T253012Z-L", false)]
    [InlineData("20261123T143012Z_L", false)]
    [InlineData("20261123T143012-L", false)]
    [InlineData("20261123T143012Z-L ", false)]
    [InlineData("latest", false)]
    [InlineData("", false)]
    public void IsValidId_accepts_only_well_formed_ids(string id, bool valid)
    {
        Assert.Equal(valid, Catalog.IsValidId(id));
    }

    [Fact]
    public void Layout_keys_of_a_backup()
    {
        Assert.Equal("clusters/main/backups/20261123T143012Z-L/manifest.json", RepositoryLayout.Manifest("main", "20261123T143012Z-L"));
        Assert.Equal("clusters/main/backups/20261123T143012Z-L/backup.lock", RepositoryLayout.BackupLock("main", "20261123T143012Z-L"));
        Assert.Equal("20261123T143012Z-L", RepositoryLayout.BackupIdOf("main", "clusters/main/backups/20261123T143012Z-L/db/x"));
        Assert.Null(RepositoryLayout.BackupIdOf("main", "clusters/main/backups/loose-file"));
        Assert.Null(RepositoryLayout.BackupIdOf("main", "clusters/other/backups/20261123T143012Z-L/manifest.json"));
    }

    [Fact]
    public async Task BeginBackup_ignores_a_stray_directory_with_a_short_name()
    {
        var catalog = await NewCatalogAsync();
        await _store.PutAsync(RepositoryLayout.BackupsPrefix("main") + "tmp/notes.txt", new byte[] { 1 }, _ct);

        Assert.Equal("20261123T143012Z-L", await catalog.BeginBackupAsync(Start, 'L', _ct));
    }
}
