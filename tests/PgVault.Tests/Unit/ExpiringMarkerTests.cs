using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>The crash-safe removal of a backup: the expiring marker unlists it first, the marker goes last.</summary>
public sealed class ExpiringMarkerTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 30, 12, TimeSpan.Zero);
    private readonly MemoryObjectStore _store = new("memrepo");
    private readonly CancellationToken _ct = CancellationToken.None;

    private async Task<Catalog> NewCatalogAsync() => new(await Repo.InitAsync(_store, null, _ct), "main");

    private async Task<string> WriteBackupAsync(Catalog catalog, int minute, BackupKind kind = BackupKind.Full)
    {
        string id = BackupId.Create(Start.AddMinutes(minute), kind).Text;
        await _store.PutAsync(RepositoryLayout.BackupObject("main", id, "pack-0001.zst"), new byte[100], _ct);
        await catalog.WriteManifestAsync(new BackupManifest
        {
            Id = id, Type = kind.Name(), Cluster = "main", StartedAt = Start.AddMinutes(minute), FinishedAt = Start.AddMinutes(minute + 1),
            Physical = new PhysicalBackupInfo { Chain = [id], StartWal = "000000010000000000000002", StopWal = "000000010000000000000002" },
        }, _ct);
        return id;
    }

    [Fact]
    public async Task MarkedBackup_IsNeitherListedNorReadableNorAReference()
    {
        var catalog = await NewCatalogAsync();
        string old = await WriteBackupAsync(catalog, 0);
        string kept = await WriteBackupAsync(catalog, 10);
        await catalog.MarkExpiringAsync(old, "test", _ct);

        Assert.Equal([kept], await catalog.ListIdsAsync(_ct));
        Assert.Equal([kept], (await catalog.ListHeadersAsync(NullProgress.Instance, _ct)).Select(h => h.Id));
        var e = await Assert.ThrowsAsync<PgVaultException>(() => catalog.GetAsync(old, _ct));
        Assert.Equal(ErrorCode.BackupNotFound, e.Code);
        Assert.Contains("is being removed", e.Message);

        var set = new CatalogSet([catalog]);
        var refused = await Assert.ThrowsAsync<PgVaultException>(() => set.BeginBackupAsync(Start.AddHours(1), BackupKind.Incr, _ct, [old]));
        Assert.Equal(ErrorCode.ReferenceExpired, refused.Code);
        string id = await set.BeginBackupAsync(Start.AddHours(1), BackupKind.Incr, _ct, [kept]);
        var running = await catalog.ListRunningAsync(_ct);
        Assert.Equal(id, running.Single().Id);
        Assert.Equal([kept], running.Single().Marker.Chain);
    }

    [Fact]
    public async Task RemoveExpiring_RemovesEverythingWithTheMarkerLast_AndRefusesAnUnmarkedBackup()
    {
        var catalog = await NewCatalogAsync();
        string id = await WriteBackupAsync(catalog, 0);
        var e = await Assert.ThrowsAsync<PgVaultException>(() => catalog.RemoveExpiringAsync(id, _ct));
        Assert.Equal(ErrorCode.Internal, e.Code);
        Assert.NotNull(await _store.StatAsync(RepositoryLayout.Manifest("main", id), _ct));

        await catalog.MarkExpiringAsync(id, "test", _ct);
        Assert.Equal([id], await catalog.ListExpiringAsync(_ct));
        var (objects, bytes) = await catalog.RemoveExpiringAsync(id, _ct);
        Assert.Equal(2, objects); // the pack and the manifest
        Assert.True(bytes >= 100);
        await foreach (var info in _store.ListAsync(RepositoryLayout.BackupPrefix("main", id), _ct)) Assert.Fail($"left: {info.Key}");
        Assert.Empty(await catalog.ListExpiringAsync(_ct));
    }

    [Fact]
    public async Task Pins_AreSetReleasedAndPruned()
    {
        var catalog = await NewCatalogAsync();
        string a = await WriteBackupAsync(catalog, 0);
        string b = await WriteBackupAsync(catalog, 10);
        var pins = new Pins(catalog);
        await pins.SetAsync(new BackupPin { Id = a, Until = Start.AddDays(30) }, _ct);
        await pins.SetAsync(new BackupPin { Id = b, Pitr = true }, _ct);
        await pins.SetAsync(new BackupPin { Id = a }, _ct); // replaces
        var read = await pins.ReadAsync(_ct);
        Assert.Equal(2, read.Count);
        Assert.Null(read.Single(p => p.Id == a).Until);
        Assert.True(await pins.ReleaseAsync(b, _ct));
        Assert.False(await pins.ReleaseAsync(b, _ct));
        await pins.PruneAsync(new HashSet<string>(), _ct);
        Assert.Empty(await pins.ReadAsync(_ct));
    }
}
