using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Sync;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>`repo sync` copies the WAL archive and restore points, verified, re-encrypted, once.</summary>
public sealed class RepositorySyncTests : IDisposable
{
    private const string Cluster = "main";
    private const string Segment = "000000010000000000000003";
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-sync-");
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose() => _root.Delete(recursive: true);

    private async Task<Repo> NewRepositoryAsync(string name, string? passphrase)
    {
        string path = Path.Combine(_root.FullName, name);
        Directory.CreateDirectory(path);
        return await Repo.InitAsync(new FileSystemObjectStore(name, path), passphrase, _ct);
    }

    private string PathOf(Repo repository, string key) => Path.Combine(_root.FullName, repository.Name, key);

    /// <summary>Stores <paramref name="content"/> as archived WAL file <paramref name="name"/>; returns its key.</summary>
    private async Task<string> ArchiveAsync(Repo repository, string name, byte[] content, string? nameSha = null)
    {
        string sha = nameSha ?? Convert.ToHexStringLower(SHA256.HashData(content));
        string key = RepositoryLayout.WalObject(Cluster, name, repository.WalTag(sha), "zst");
        await repository.WriteObjectAsync(key, CompressionSpec.Parse("zstd:3"), (s, c) => s.WriteAsync(content, c).AsTask(), _ct);
        return key;
    }

    private async Task<byte[]> ReadWalAsync(Repo repository, string key)
    {
        await using var input = await repository.OpenObjectAsync(key, CompressionType.Zstd, _ct);
        using var buffer = new MemoryStream();
        await input.CopyToAsync(buffer, _ct);
        return buffer.ToArray();
    }

    private Task<List<SyncedBackup>> SyncAsync(Repo from, Repo to) => new RepositorySync([from, to], NullProgress.Instance).RunAsync([to], [from], _ct);

    private static byte[] Wal(string text) => Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(text, 5000)));

    [Fact]
    public async Task Sync_CopiesWalHistoryFilesRestorePointsAndClusterInfo_IntoAnEncryptedTarget_Once()
    {
        var source = await NewRepositoryAsync("a", null);
        var target = await NewRepositoryAsync("b", "correct horse battery staple");
        await source.WriteMetadataAsync(RepositoryLayout.ClusterInfo(Cluster),
            new ClusterInfo { Name = Cluster, History = [new ClusterSystem { SystemIdentifier = "7300000000000000001", MajorVersion = 15 }] }, RepositoryJson.Default.ClusterInfo, _ct);
        byte[] segment = Wal("segment PLAINTEXT-MARKER ");
        byte[] history = Encoding.ASCII.GetBytes("1\t0/3000000\tno recovery target specified\n");
        byte[] backupHistory = Wal("backup history ");
        string segmentKey = await ArchiveAsync(source, Segment, segment);
        await ArchiveAsync(source, "00000002.history", history);
        await ArchiveAsync(source, Segment + ".00000028.backup", backupHistory);
        await ArchiveAsync(source, Segment + ".partial", segment);
        var point = new RestorePointRecord { Name = "before-upgrade", Cluster = Cluster, Lsn = "0/3000028", Timeline = 1, Time = new DateTimeOffset(2026, 12, 1, 10, 10, 10, TimeSpan.Zero) };
        await source.WriteMetadataAsync(source.RestorePointKey(Cluster, point), point, RepositoryJson.Default.RestorePointRecord, _ct);
        // The target names it with its own keyed tag (the name is not guessable from the key).
        string pointKey = target.RestorePointKey(Cluster, point);
        Assert.NotEqual(source.RestorePointKey(Cluster, point), pointKey);

        await SyncAsync(source, target);

        // The encrypted target names each file with its own keyed tag of the content.
        string TargetKey(string name, byte[] content) => RepositoryLayout.WalObject(Cluster, name, target.WalTag(Convert.ToHexStringLower(SHA256.HashData(content))), "zst");
        Assert.NotEqual(segmentKey, TargetKey(Segment, segment));
        segmentKey = TargetKey(Segment, segment);
        Assert.Equal(segment, await ReadWalAsync(target, segmentKey));
        Assert.Equal(history, await ReadWalAsync(target, TargetKey("00000002.history", history)));
        Assert.Equal(backupHistory, await ReadWalAsync(target, TargetKey(Segment + ".00000028.backup", backupHistory)));
        Assert.Equal(segment, await ReadWalAsync(target, TargetKey(Segment + ".partial", segment)));
        Assert.DoesNotContain("PLAINTEXT-MARKER", Encoding.ASCII.GetString(await File.ReadAllBytesAsync(PathOf(target, segmentKey))), StringComparison.Ordinal);
        Assert.Equal("before-upgrade", (await target.ReadMetadataAsync(pointKey, RepositoryJson.Default.RestorePointRecord, _ct))!.Name);
        Assert.Equal("7300000000000000001",
            (await target.ReadMetadataAsync(RepositoryLayout.ClusterInfo(Cluster), RepositoryJson.Default.ClusterInfo, _ct))!.History[0].SystemIdentifier);

        // Idempotent: a second run writes nothing (every object keeps its first write).
        var stamps = Directory.GetFiles(Path.Combine(_root.FullName, "b"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        await Task.Delay(20);
        await SyncAsync(source, target);
        var after = Directory.GetFiles(Path.Combine(_root.FullName, "b"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        Assert.Equal(stamps, after);
    }

    [Fact]
    public async Task Sync_RefusesAWalNameTheTargetHoldsWithOtherContent()
    {
        var source = await NewRepositoryAsync("a", null);
        var target = await NewRepositoryAsync("b", null);
        string mine = await ArchiveAsync(source, Segment, Wal("from cluster one "));
        string theirs = await ArchiveAsync(target, Segment, Wal("from cluster two "));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => SyncAsync(source, target));

        Assert.Contains($"WAL file {Segment} of cluster 'main' is in repository 'b' with different content", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(PathOf(target, mine)));
        Assert.Equal(Wal("from cluster two "), await ReadWalAsync(target, theirs)); // never overwritten
    }

    [Fact]
    public async Task Sync_DoesNotCopyADamagedWalObject()
    {
        var source = await NewRepositoryAsync("a", null);
        var target = await NewRepositoryAsync("b", null);
        // The name promises one checksum, the content has another (damaged or altered in storage).
        string key = await ArchiveAsync(source, Segment, Wal("altered "), nameSha: Convert.ToHexStringLower(SHA256.HashData(Wal("original "))));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => SyncAsync(source, target));

        Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(PathOf(target, key)));
        string clusters = Path.Combine(_root.FullName, "b", "clusters");
        Assert.True(!Directory.Exists(clusters) || Directory.GetFiles(clusters, "*", SearchOption.AllDirectories).Length == 0);
    }
}
