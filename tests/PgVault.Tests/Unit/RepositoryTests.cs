using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

public sealed class RepositoryTests : IDisposable
{
    private const string Passphrase = "correct horse battery staple";
    private static readonly CompressionSpec Zstd3 = CompressionSpec.Parse("zstd:3");

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-repo-");
    private readonly FileSystemObjectStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;

    public RepositoryTests() => _store = new FileSystemObjectStore("testrepo", _root.FullName);

    public void Dispose() => _root.Delete(recursive: true);

    private string PathOf(string key) => Path.Combine(_root.FullName, key);

    private static byte[] SampleData(int size)
    {
        // Compressible but not trivial: text lines with a counter.
        var sb = new StringBuilder();
        for (int i = 0; sb.Length < size; i++) sb.Append("row ").Append(i).Append(": the quick brown fox PLAINTEXT-MARKER\n");
        return Encoding.ASCII.GetBytes(sb.ToString(0, size));
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer);
            return buffer.ToArray();
        }
    }

    private Task<StoredFile> WriteAsync(Repo repo, string key, byte[] data, CompressionSpec compression) =>
        repo.WriteObjectAsync(key, compression, (s, c) => s.WriteAsync(data, c).AsTask(), _ct);

    private static void FlipByte(string path, int index)
    {
        byte[] bytes = File.ReadAllBytes(path);
        bytes[index] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public async Task Init_then_open_an_unencrypted_repository()
    {
        var created = await Repo.InitAsync(_store, null, _ct);
        var opened = await Repo.OpenAsync(_store, null, _ct);

        Assert.False(created.Encrypted);
        Assert.False(opened.Encrypted);
        Assert.Equal("testrepo", opened.Name);
        Assert.Same(_store, opened.Store);
        Assert.Equal(RepositoryDescriptor.CurrentFormat, opened.Descriptor.Format);
        Assert.Null(opened.Descriptor.Encryption);
        Assert.StartsWith("pgvault ", opened.Descriptor.CreatedBy, StringComparison.Ordinal);
        Assert.Equal(created.Descriptor, opened.Descriptor);
        Assert.True(File.Exists(PathOf(RepositoryLayout.Descriptor)));
    }

    [Fact]
    public async Task Init_twice_fails_clearly()
    {
        await Repo.InitAsync(_store, null, _ct);
        byte[] before = File.ReadAllBytes(PathOf(RepositoryLayout.Descriptor));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.InitAsync(_store, Passphrase, _ct));

        Assert.Contains("already initialised", e.Message, StringComparison.Ordinal);
        Assert.Contains("'testrepo'", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(PathOf(RepositoryLayout.Descriptor)));
    }

    [Fact]
    public async Task Open_of_an_uninitialised_directory_says_so_and_how_to_fix_it()
    {
        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, null, _ct));

        Assert.Contains("not initialised", e.Message, StringComparison.Ordinal);
        Assert.Contains(_store.Location, e.Message, StringComparison.Ordinal);
        Assert.Contains("pgvault repo init", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_of_a_missing_directory_fails_with_a_pgvault_error()
    {
        var store = new FileSystemObjectStore("nowhere", Path.Combine(_root.FullName, "missing"));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(store, null, _ct));

        Assert.Contains("'nowhere'", e.Message, StringComparison.Ordinal);
        Assert.Contains("pgvault repo init", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encrypted_repository_needs_the_right_passphrase()
    {
        var created = await Repo.InitAsync(_store, Passphrase, _ct);
        Assert.True(created.Encrypted);
        Assert.NotNull(created.Descriptor.Encryption);
        Assert.DoesNotContain(Passphrase, File.ReadAllText(PathOf(RepositoryLayout.Descriptor)), StringComparison.Ordinal);

        var none = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, null, _ct));
        Assert.Contains("encrypted and no passphrase", none.Message, StringComparison.Ordinal);

        var wrong = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, "not the passphrase", _ct));
        Assert.StartsWith("wrong passphrase for repository 'testrepo'", wrong.Message, StringComparison.Ordinal);

        var opened = await Repo.OpenAsync(_store, Passphrase, _ct);
        Assert.True(opened.Encrypted);
    }

    [Fact]
    public async Task ChangePassphrase_rewraps_the_key_and_keeps_old_objects_readable()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        byte[] data = SampleData(100_000);
        StoredFile file = await WriteAsync(repo, "objects/before", data, Zstd3);
        string oldDescriptor = File.ReadAllText(PathOf(RepositoryLayout.Descriptor));

        var changed = await repo.ChangePassphraseAsync("a brand new passphrase", _ct);

        Assert.NotEqual(oldDescriptor, File.ReadAllText(PathOf(RepositoryLayout.Descriptor)));
        Assert.Equal(repo.Descriptor.CreatedAt, changed.Descriptor.CreatedAt);
        var wrong = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, Passphrase, _ct));
        Assert.Contains("wrong passphrase for repository", wrong.Message, StringComparison.Ordinal);

        var reopened = await Repo.OpenAsync(_store, "a brand new passphrase", _ct);
        Assert.Equal(data, await ReadAllAsync(await reopened.OpenObjectAsync("objects/before", file, _ct)));
    }

    [Fact]
    public async Task ChangePassphrase_of_an_unencrypted_repository_is_refused()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.ChangePassphraseAsync("whatever passphrase", _ct));

        Assert.Contains("is not encrypted", e.Message, StringComparison.Ordinal);
        Assert.Null((await Repo.OpenAsync(_store, null, _ct)).Descriptor.Encryption);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WriteObject_and_OpenObject_round_trip_with_zstd(bool encrypted)
    {
        var repo = await Repo.InitAsync(_store, encrypted ? Passphrase : null, _ct);
        byte[] data = SampleData(300_000);

        StoredFile file = await WriteAsync(repo, "clusters/main/backups/b/db/dump.zst", data, Zstd3);

        Assert.Equal(data.Length, file.SizeBytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), file.Sha256);
        Assert.Equal("zstd", file.Compression);
        Assert.Equal(encrypted, file.Encrypted);
        long onDisk = new FileInfo(PathOf("clusters/main/backups/b/db/dump.zst")).Length;
        Assert.Equal(onDisk, file.StoredBytes);
        Assert.True(file.StoredBytes < data.Length / 4, $"zstd stored {file.StoredBytes} of {data.Length} bytes");

        var reopened = await Repo.OpenAsync(_store, encrypted ? Passphrase : null, _ct);
        Assert.Equal(data, await ReadAllAsync(await reopened.OpenObjectAsync("clusters/main/backups/b/db/dump.zst", file, _ct)));
    }

    [Fact]
    public async Task Stored_objects_of_an_encrypted_repository_do_not_contain_the_plaintext()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        byte[] data = SampleData(50_000);

        StoredFile file = await WriteAsync(repo, "obj", data, CompressionSpec.None);

        byte[] stored = File.ReadAllBytes(PathOf("obj"));
        Assert.Equal(-1, stored.AsSpan().IndexOf("PLAINTEXT-MARKER"u8));
        Assert.Equal(-1, stored.AsSpan().IndexOf("the quick brown fox"u8));
        Assert.True(stored.AsSpan().StartsWith("PGVAULT"u8));
        Assert.Equal(data, await ReadAllAsync(await repo.OpenObjectAsync("obj", file, _ct)));
    }

    [Fact]
    public async Task Stored_objects_of_a_plain_repository_without_compression_are_the_plaintext()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        byte[] data = SampleData(10_000);

        StoredFile file = await WriteAsync(repo, "obj", data, CompressionSpec.None);

        Assert.Equal(data, File.ReadAllBytes(PathOf("obj")));
        Assert.Equal("none", file.Compression);
        Assert.Equal(data.Length, file.StoredBytes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_flipped_byte_in_a_stored_object_is_reported_as_corrupt(bool encrypted)
    {
        var repo = await Repo.InitAsync(_store, encrypted ? Passphrase : null, _ct);
        byte[] data = SampleData(200_000);
        StoredFile file = await WriteAsync(repo, "clusters/main/backups/b/data.zst", data, Zstd3);
        string path = PathOf("clusters/main/backups/b/data.zst");
        FlipByte(path, (int)(new FileInfo(path).Length / 2));

        var e = await Assert.ThrowsAsync<PgVaultException>(async () =>
            await ReadAllAsync(await repo.OpenObjectAsync("clusters/main/backups/b/data.zst", file, _ct)));

        Assert.Contains("corrupt object", e.Message, StringComparison.Ordinal);
        Assert.Contains("clusters/main/backups/b/data.zst", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plain_uncompressed_object_with_a_flipped_byte_fails_its_checksum()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        byte[] data = SampleData(10_000);
        StoredFile file = await WriteAsync(repo, "raw", data, CompressionSpec.None);
        FlipByte(PathOf("raw"), 5_000);

        var e = await Assert.ThrowsAsync<PgVaultException>(async () => await ReadAllAsync(await repo.OpenObjectAsync("raw", file, _ct)));

        Assert.Contains("corrupt object 'raw'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenObject_of_a_missing_object_says_it_is_missing()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        var file = new StoredFile { Compression = "zstd", Sha256 = new string('0', 64), SizeBytes = 1 };

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.OpenObjectAsync("gone", file, _ct));

        Assert.Contains("object 'gone' is missing from repository 'testrepo'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenObject_of_an_encrypted_file_without_a_key_is_refused()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        var file = new StoredFile { Compression = "none", Encrypted = true };

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.OpenObjectAsync("x", file, _ct));

        Assert.Contains("encrypted", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_producer_leaves_no_object()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);

        await Assert.ThrowsAsync<InvalidOperationException>(() => repo.WriteObjectAsync("half", Zstd3, async (s, c) =>
        {
            await s.WriteAsync(SampleData(100_000), c);
            throw new InvalidOperationException("pg_dump died");
        }, _ct));

        Assert.Null(await _store.StatAsync("half", _ct));
        Assert.Equal([RepositoryLayout.Descriptor], Directory.GetFiles(_root.FullName).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Metadata_round_trips(bool encrypted)
    {
        var repo = await Repo.InitAsync(_store, encrypted ? Passphrase : null, _ct);
        var value = new BackupLock { Host = "backup-host-7", Pid = 4242, StartedAt = new DateTimeOffset(2026, 11, 23, 14, 30, 12, 345, TimeSpan.Zero) };
        const string key = "clusters/main/backups/20261123T143012Z-L/backup.lock";

        await repo.WriteMetadataAsync(key, value, RepositoryJson.Default.BackupLock, _ct);

        var reopened = await Repo.OpenAsync(_store, encrypted ? Passphrase : null, _ct);
        Assert.Equal(value, await reopened.ReadMetadataAsync(key, RepositoryJson.Default.BackupLock, _ct));
        byte[] raw = File.ReadAllBytes(PathOf(key));
        if (encrypted)
        {
            Assert.Equal(-1, raw.AsSpan().IndexOf("backup-host-7"u8));
            Assert.True(raw.AsSpan().StartsWith("PGVAULT"u8));
        }
        else
        {
            string text = Encoding.UTF8.GetString(raw);
            Assert.Contains("\"host\": \"backup-host-7\"", text, StringComparison.Ordinal);
            Assert.Contains("\"checksum\": \"", text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Missing_metadata_reads_as_null(bool encrypted)
    {
        var repo = await Repo.InitAsync(_store, encrypted ? Passphrase : null, _ct);

        Assert.Null(await repo.ReadMetadataAsync("clusters/main/cluster.json", RepositoryJson.Default.ClusterInfo, _ct));
    }

    [Fact]
    public async Task Encrypted_metadata_with_a_flipped_byte_is_corrupt()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        await repo.WriteMetadataAsync("meta.json", new BackupLock { Host = "h", Pid = 1 }, RepositoryJson.Default.BackupLock, _ct);
        string path = PathOf("meta.json");
        FlipByte(path, (int)new FileInfo(path).Length - 20);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.ReadMetadataAsync("meta.json", RepositoryJson.Default.BackupLock, _ct));

        Assert.Contains("corrupt object 'meta.json'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_manifest_with_a_flipped_byte_is_corrupt()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        var catalog = new Catalog(repo, "main");
        const string id = "20261123T143012Z-L";
        await catalog.WriteManifestAsync(new BackupManifest { Id = id, Cluster = "main", SizeBytes = 123456 }, _ct);
        string path = PathOf(RepositoryLayout.Manifest("main", id));
        string text = File.ReadAllText(path);
        FlipByte(path, text.IndexOf("123456", StringComparison.Ordinal) + 2);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => catalog.GetAsync(id, _ct));

        Assert.Contains($"corrupt object '{RepositoryLayout.Manifest("main", id)}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Truncated_plain_manifest_is_corrupt()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        var catalog = new Catalog(repo, "main");
        const string id = "20261123T143012Z-L";
        await catalog.WriteManifestAsync(new BackupManifest { Id = id, Cluster = "main" }, _ct);
        string path = PathOf(RepositoryLayout.Manifest("main", id));
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.ReadMetadataAsync(RepositoryLayout.Manifest("main", id), RepositoryJson.Default.BackupManifest, _ct));

        Assert.Contains("corrupt object", e.Message, StringComparison.Ordinal);
        Assert.Contains("checksum missing", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Repository_descriptor_is_checksummed(bool encrypted)
    {
        await Repo.InitAsync(_store, encrypted ? Passphrase : null, _ct);
        string path = PathOf(RepositoryLayout.Descriptor);
        string text = File.ReadAllText(path);
        Assert.Contains("\"checksum\": \"", text, StringComparison.Ordinal);
        FlipByte(path, text.IndexOf("\"created_by\"", StringComparison.Ordinal) + 3);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, encrypted ? Passphrase : null, _ct));

        Assert.Contains($"corrupt object '{RepositoryLayout.Descriptor}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Truncated_repository_descriptor_is_corrupt()
    {
        await Repo.InitAsync(_store, null, _ct);
        string path = PathOf(RepositoryLayout.Descriptor);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 20)]);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, null, _ct));

        Assert.Contains($"corrupt object '{RepositoryLayout.Descriptor}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newer_repository_format_is_refused()
    {
        await _store.PutAsync(RepositoryLayout.Descriptor,
            ChecksummedJson.Serialize(new RepositoryDescriptor { Format = RepositoryDescriptor.CurrentFormat + 1, CreatedBy = "pgvault 9.0" }, RepositoryJson.Default.RepositoryDescriptor), _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, null, _ct));

        Assert.Contains($"format {RepositoryDescriptor.CurrentFormat + 1}", e.Message, StringComparison.Ordinal);
        Assert.Contains("upgrade PgVault", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletePrefix_removes_every_object_under_the_prefix_and_nothing_else()
    {
        var repo = await Repo.InitAsync(_store, null, _ct);
        await _store.PutAsync("clusters/main/backups/a/x", new byte[] { 1 }, _ct);
        await _store.PutAsync("clusters/main/backups/a/sub/y", new byte[] { 2 }, _ct);
        await _store.PutAsync("clusters/main/backups/ab/z", new byte[] { 3 }, _ct);
        File.WriteAllText(PathOf("clusters/main/backups/a/.w" + FileSystemObjectStore.TempMarker + "123"), "stale");

        await repo.DeletePrefixAsync("clusters/main/backups/a/", _ct);

        Assert.False(Directory.Exists(PathOf("clusters/main/backups/a/sub")));
        Assert.False(Directory.Exists(PathOf("clusters/main/backups/a")), "a directory emptied of objects and temporaries goes too");
        Assert.NotNull(await _store.StatAsync("clusters/main/backups/ab/z", _ct));
        Assert.NotNull(await _store.StatAsync(RepositoryLayout.Descriptor, _ct));
    }
}
