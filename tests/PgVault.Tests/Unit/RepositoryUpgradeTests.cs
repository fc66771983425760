using System.Text;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>A repository of format 1 (objects not bound to names) is read, refused for writing, and upgraded in place.</summary>
public sealed class RepositoryUpgradeTests : IDisposable
{
    private const string Passphrase = "correct horse battery staple";
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-upgrade-");
    private readonly FileSystemObjectStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;

    public RepositoryUpgradeTests() => _store = new FileSystemObjectStore("old", _root.FullName);

    public void Dispose() => _root.Delete(recursive: true);

    private string PathOf(string key) => Path.Combine(_root.FullName, key);

    /// <summary>Writes what PgVault of format 1 wrote: a SHA-256 descriptor, a key wrapped for v1, objects of encryption format 1.</summary>
    private async Task<(string DataKey, StoredFile File)> CreateFormat1Async(bool encrypted)
    {
        byte[]? dataKey = encrypted ? KeyWrapping.NewDataKey() : null;
        var descriptor = new RepositoryDescriptor
        {
            Format = 1,
            CreatedAt = DateTimeOffset.UtcNow,
            CreatedBy = "pgvault 0.1",
            Encryption = dataKey is null ? null : KeyWrapping.Wrap(dataKey, Passphrase, format: 1),
        };
        await _store.PutAsync(RepositoryLayout.Descriptor, ChecksummedJson.Serialize(descriptor, RepositoryJson.Default.RepositoryDescriptor), _ct);
        byte[] info = ChecksummedJson.Serialize(new ClusterInfo { Name = "main" }, RepositoryJson.Default.ClusterInfo);
        await WriteV1Async(RepositoryLayout.ClusterInfo("main"), info, dataKey, CompressionSpec.Parse("none"));
        var file = await WriteV1Async("clusters/main/backups/20260101T000000Z-L/dump.zst", Encoding.ASCII.GetBytes("a dump of format 1"), dataKey, CompressionSpec.Parse("zstd:3"));
        return (dataKey is null ? "" : Convert.ToBase64String(dataKey), file);
    }

    private async Task<StoredFile> WriteV1Async(string key, byte[] data, byte[]? dataKey, CompressionSpec compression)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(PathOf(key))!);
        PipelineResult result;
        await using (var output = File.Create(PathOf(key)))
        await using (var pipeline = ObjectPipeline.OpenWrite(output, compression, dataKey))
        {
            await pipeline.Input.WriteAsync(data, _ct);
            result = await pipeline.CompleteAsync(_ct);
        }
        return new StoredFile { SizeBytes = result.SourceBytes, Sha256 = result.SourceSha256, Compression = CompressionSpec.TypeName(compression.Type), Encrypted = dataKey != null };
    }

    private static async Task<string> ReadTextAsync(Repo repo, string key, StoredFile file) =>
        Encoding.ASCII.GetString(await repo.ReadAllBytesAsync(key, file, CancellationToken.None));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Format1_IsRead_RefusedForWriting_ThenUpgradedInPlace(bool encrypted)
    {
        var (_, file) = await CreateFormat1Async(encrypted);
        string dumpKey = "clusters/main/backups/20260101T000000Z-L/dump.zst";
        string? passphrase = encrypted ? Passphrase : null;

        var old = await Repo.OpenAsync(_store, passphrase, _ct);
        Assert.False(old.Writable);
        Assert.Equal("a dump of format 1", await ReadTextAsync(old, dumpKey, file));
        Assert.Equal("main", (await old.ReadMetadataAsync(RepositoryLayout.ClusterInfo("main"), RepositoryJson.Default.ClusterInfo, _ct))!.Name);
        var refused = await Assert.ThrowsAsync<PgVaultException>(() =>
            old.WriteMetadataAsync(RepositoryLayout.ClusterInfo("other"), new ClusterInfo(), RepositoryJson.Default.ClusterInfo, _ct));
        Assert.Contains("run 'pgvault repo upgrade'", refused.Hint, StringComparison.Ordinal);

        var (upgraded, rewritten) = await old.UpgradeAsync(passphrase, _ => { }, _ct);
        Assert.Equal(encrypted ? 2 : 0, rewritten);

        var reopened = await Repo.OpenAsync(_store, passphrase, _ct);
        Assert.True(reopened.Writable);
        Assert.Equal(RepositoryDescriptor.CurrentFormat, reopened.Descriptor.Format);
        Assert.Equal("a dump of format 1", await ReadTextAsync(reopened, dumpKey, file));
        if (encrypted) Assert.Equal(2, File.ReadAllBytes(PathOf(dumpKey))[7]); // encryption format 2: bound to its name
        await reopened.WriteMetadataAsync(RepositoryLayout.ClusterInfo("other"), new ClusterInfo { Name = "other" }, RepositoryJson.Default.ClusterInfo, _ct);
        Assert.Equal(0, (await upgraded.UpgradeAsync(passphrase, _ => { }, _ct)).Rewritten);
    }

    [Fact]
    public async Task InterruptedUpgrade_LeavesFormat1Readable_AndASecondRunFinishes()
    {
        var (_, file) = await CreateFormat1Async(encrypted: true);
        var old = await Repo.OpenAsync(_store, Passphrase, _ct);
        // An upgrade killed after it rewrote one object: the descriptor still says format 1.
        var half = await Repo.OpenAsync(_store, Passphrase, _ct);
        byte[] plain = await half.ReadAllBytesAsync("clusters/main/backups/20260101T000000Z-L/dump.zst", file, _ct);
        await using (var output = File.Create(PathOf("clusters/main/backups/20260101T000000Z-L/dump.zst")))
        await using (var pipeline = ObjectPipeline.OpenWrite(output, CompressionSpec.Parse("zstd:3"), half.DataKey, "clusters/main/backups/20260101T000000Z-L/dump.zst"))
        {
            await pipeline.Input.WriteAsync(plain, _ct);
            await pipeline.CompleteAsync(_ct);
        }

        Assert.Equal("a dump of format 1", await ReadTextAsync(await Repo.OpenAsync(_store, Passphrase, _ct), "clusters/main/backups/20260101T000000Z-L/dump.zst", file));
        var (_, rewritten) = await old.UpgradeAsync(Passphrase, _ => { }, _ct);

        Assert.Equal(1, rewritten);
        Assert.Equal("a dump of format 1", await ReadTextAsync(await Repo.OpenAsync(_store, Passphrase, _ct), "clusters/main/backups/20260101T000000Z-L/dump.zst", file));
    }
}
