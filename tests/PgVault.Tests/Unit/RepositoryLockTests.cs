using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>The repository lock, id allocation under it, and removal of debris left by kill -9 (issue 9, items 8 and 14).</summary>
public sealed class RepositoryLockTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 30, 12, TimeSpan.Zero);

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-lock-");
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose() => _root.Delete(recursive: true);

    private async Task<Repo> InitAsync() => await Repo.InitAsync(new FileSystemObjectStore("testrepo", _root.FullName), null, _ct);

    private async Task<Catalog> OpenCatalogAsync() => new(await Repo.OpenAsync(new FileSystemObjectStore("testrepo", _root.FullName), null, _ct), "main");

    private static int DeadPid() =>
        int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture) + 1;

    private string BackupDir(string id) => Path.Combine(_root.FullName, "clusters", "main", "backups", id);

    private static string Stamp(DateTimeOffset t) => t.ToString(Catalog.IdTimeFormat, CultureInfo.InvariantCulture);

    [Fact]
    public async Task ConcurrentBackupsInOneSecond_GetDistinctIds()
    {
        await InitAsync();
        var catalogs = new List<Catalog>();
        for (int i = 0; i < 6; i++) catalogs.Add(await OpenCatalogAsync());

        string[] ids = await Task.WhenAll(catalogs.Select(c => Task.Run(() => new CatalogSet([c]).BeginBackupAsync(Start, 'L', _ct))));

        Assert.Equal(6, ids.Distinct().Count());
        Assert.False(File.Exists(Path.Combine(_root.FullName, "clusters", "main", "lock.json")));
    }

    [Fact]
    public async Task LiveLockHolder_IsWaitedForThenRefusedWithItsName()
    {
        var repository = await InitAsync();
        await using var held = await RepositoryLock.AcquireAsync(repository, "main", "expire", TimeSpan.Zero, NullProgress.Instance, _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => RepositoryLock.AcquireAsync(repository, "main", "backup", TimeSpan.FromMilliseconds(300), NullProgress.Instance, _ct));

        Assert.Contains("'expire'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"pid {Environment.ProcessId}", e.Message, StringComparison.Ordinal);
        Assert.Contains("pgvault repo unlock", e.Hint, StringComparison.Ordinal);
        await Assert.ThrowsAsync<PgVaultException>(() => RepositoryLock.UnlockAsync(repository, "main", force: false, _ct));
    }

    [Fact]
    public async Task StaleLocalLock_OfAGoneProcess_IsTakenOver()
    {
        var repository = await InitAsync();
        var stale = new RepositoryLockHolder { Host = Environment.MachineName, Pid = DeadPid(), ProcessStart = 1, Operation = "expire", Token = "dead" };
        await repository.Store.PutAsync(RepositoryLayout.Lock("main"), ChecksummedJson.Serialize(stale, LockJson.Default.RepositoryLockHolder), _ct);
        var infos = new List<string>();

        await using (var taken = await RepositoryLock.AcquireAsync(repository, "main", "backup", TimeSpan.Zero, new Collect(infos), _ct))
        {
            Assert.Equal(Environment.ProcessId, taken.Holder.Pid);
        }

        Assert.Contains(infos, i => i.Contains("taking over", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LocalLockWithReusedPid_IsStale()
    {
        // Our own pid with another start time: a later process reused the pid of the holder.
        var repository = await InitAsync();
        var stale = new RepositoryLockHolder { Host = Environment.MachineName, Pid = Environment.ProcessId, ProcessStart = ProcessIdentity.StartTicks + 1, Operation = "expire", Token = "old" };
        await repository.Store.PutAsync(RepositoryLayout.Lock("main"), ChecksummedJson.Serialize(stale, LockJson.Default.RepositoryLockHolder), _ct);

        await using var taken = await RepositoryLock.AcquireAsync(repository, "main", "backup", TimeSpan.Zero, NullProgress.Instance, _ct);

        Assert.Equal(ProcessIdentity.StartTicks, taken.Holder.ProcessStart);
    }

    [Fact]
    public async Task OtherHostLockWithOldHeartbeat_IsRefusedNamingUnlock_AndUnlockRemovesIt()
    {
        var repository = await InitAsync();
        var old = DateTimeOffset.UtcNow.AddHours(-1);
        var remote = new RepositoryLockHolder { Host = "elsewhere", Pid = 42, Started = old, Heartbeat = old, Operation = "expire", Token = "x" };
        await repository.Store.PutAsync(RepositoryLayout.Lock("main"), ChecksummedJson.Serialize(remote, LockJson.Default.RepositoryLockHolder), _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => RepositoryLock.AcquireAsync(repository, "main", "backup", TimeSpan.FromMinutes(1), NullProgress.Instance, _ct));
        Assert.Contains("host elsewhere", e.Message, StringComparison.Ordinal);
        Assert.Contains("pgvault repo unlock --cluster main", e.Hint, StringComparison.Ordinal);

        Assert.NotNull(await RepositoryLock.UnlockAsync(repository, "main", force: false, _ct));
        Assert.Null(await RepositoryLock.ReadAsync(repository, "main", _ct));
    }

    [Fact]
    public async Task KilledWritersTemporaries_AreRemovedAndTheirIdsNeverReused()
    {
        await InitAsync();
        var catalog = await OpenCatalogAsync();
        // Second 0: a backup killed while writing its lock (writer provably gone).
        string dead = Stamp(Start) + "-L";
        Directory.CreateDirectory(BackupDir(dead));
        File.WriteAllText(Path.Combine(BackupDir(dead), $".backup.lock{FileSystemObjectStore.TempMarker}{DeadPid()}-1.abc"), "{");
        // Second 1: an empty backup directory.
        string empty = Stamp(Start.AddSeconds(1)) + "-L";
        Directory.CreateDirectory(BackupDir(empty));
        // Second 2: a writer that still runs (this process) is writing its lock.
        string live = Stamp(Start.AddSeconds(2)) + "-F";
        Directory.CreateDirectory(BackupDir(live));
        string liveTemp = Path.Combine(BackupDir(live), $".backup.lock{FileSystemObjectStore.TempMarker}{ProcessIdentity.Tag}.abc");
        File.WriteAllText(liveTemp, "{");
        // The WAL archive: a killed archive-push and one still running.
        string walDir = Path.Combine(_root.FullName, "clusters", "main", "wal", "0000000100000000");
        Directory.CreateDirectory(walDir);
        string walDead = Path.Combine(walDir, $".000000010000000000000001-0123456789abcdef.zst{FileSystemObjectStore.TempMarker}{DeadPid()}-7.abc");
        string walLive = Path.Combine(walDir, $".000000010000000000000002-0123456789abcdef.zst{FileSystemObjectStore.TempMarker}{ProcessIdentity.Tag}.abc");
        File.WriteAllText(walDead, "x");
        File.WriteAllText(walLive, "x");

        var set = new CatalogSet([catalog]);
        await set.RemoveDebrisAsync(NullProgress.Instance, _ct);
        string id = await set.BeginBackupAsync(Start.AddSeconds(2), 'I', _ct);

        Assert.False(Directory.Exists(BackupDir(dead)));
        Assert.False(Directory.Exists(BackupDir(empty)));
        Assert.True(File.Exists(liveTemp));
        Assert.False(File.Exists(walDead));
        Assert.True(File.Exists(walLive));
        Assert.Equal(Stamp(Start.AddSeconds(3)) + "-I", id); // never into the live writer's directory
    }

    [Fact]
    public async Task FailingBackup_DoesNotDeleteAnotherProcesssBackup()
    {
        await InitAsync();
        var catalog = await OpenCatalogAsync();
        string id = Stamp(Start) + "-L";
        var other = new BackupInProgress { Host = Environment.MachineName, Pid = 1, ProcessStart = 1, StartedAt = DateTimeOffset.UtcNow };
        await catalog.Repository.WriteMetadataAsync(RepositoryLayout.BackupLock("main", id), other, LockJson.Default.BackupInProgress, _ct);
        await catalog.Repository.Store.PutAsync(RepositoryLayout.BackupObject("main", id, "data.bin"), new byte[] { 1 }, _ct);
        var warnings = new List<string>();

        await new CatalogSet([catalog]).DiscardAsync(id, new Collect(warnings));

        Assert.NotNull(await catalog.Repository.Store.StatAsync(RepositoryLayout.BackupObject("main", id, "data.bin"), _ct));
        Assert.Contains(warnings, w => w.Contains("not written by this process", StringComparison.Ordinal));
    }

    private sealed class Collect(List<string> lines) : IProgressSink
    {
        public void Info(string message) => lines.Add(message);

        public void Warn(string message) => lines.Add(message);

        public IProgressTask Start(string description, long? totalBytes = null) => NullProgress.Instance.Start(description, totalBytes);
    }
}
