using System.Text;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>
/// Someone who can write to the repository's storage (issue 9, items 3, 4, 12, 17): they may
/// edit, swap, plant or replay objects. Each test is one attack and shows it is refused.
/// </summary>
public sealed class HostileStorageTests : IDisposable
{
    private const string Passphrase = "correct horse battery staple";
    private static readonly CompressionSpec Zstd3 = CompressionSpec.Parse("zstd:3");

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-hostile-");
    private readonly FileSystemObjectStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;

    public HostileStorageTests() => _store = new FileSystemObjectStore("testrepo", _root.FullName);

    public void Dispose() => _root.Delete(recursive: true);

    private string PathOf(string key) => Path.Combine(_root.FullName, key);

    private Task<StoredFile> WriteAsync(Repo repo, string key, byte[] data) =>
        repo.WriteObjectAsync(key, Zstd3, (s, c) => s.WriteAsync(data, c).AsTask(), _ct);

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer);
            return buffer.ToArray();
        }
    }

    /// <summary>Rewrites the descriptor as an attacker would: edit the JSON, recompute its plain SHA-256.</summary>
    private void TamperDescriptor(Action<JsonObject> edit)
    {
        var (body, _) = ChecksummedJson.Split(File.ReadAllBytes(PathOf(RepositoryLayout.Descriptor)), RepositoryLayout.Descriptor);
        var json = JsonNode.Parse(body)!.AsObject();
        edit(json);
        File.WriteAllBytes(PathOf(RepositoryLayout.Descriptor), ChecksummedJson.Serialize(json, TamperJson.Default.JsonObject));
    }

    [Fact]
    public async Task EncryptionDowngrade_DescriptorWithoutEncryption_IsRefusedWhenAPassphraseIsConfigured()
    {
        await Repo.InitAsync(_store, Passphrase, _ct);
        TamperDescriptor(json => json.Remove("encryption"));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, Passphrase, _ct));

        Assert.Contains("is not encrypted, but the configuration has a passphrase", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EncryptedDescriptor_EditedWithARecomputedChecksum_FailsAuthentication()
    {
        await Repo.InitAsync(_store, Passphrase, _ct);
        TamperDescriptor(json => json["created_by"] = "someone else");

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, Passphrase, _ct));

        Assert.Equal("corrupt object 'pgvault.repo.json': metadata authentication failed (edited without the repository key)", e.Message);
    }

    [Fact]
    public async Task FormatDowngrade_ToFormat1_NoLongerUnwrapsTheKey()
    {
        await Repo.InitAsync(_store, Passphrase, _ct);
        TamperDescriptor(json => json["format"] = 1);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, Passphrase, _ct));

        Assert.StartsWith("wrong passphrase for repository 'testrepo' (or its descriptor pgvault.repo.json was altered)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlantedPlaintextMetadata_InAnEncryptedRepository_IsRefused()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        string key = RepositoryLayout.ClusterInfo("main");
        await repo.WriteMetadataAsync(key, new ClusterInfo { Name = "main" }, Core.Repository.RepositoryJson.Default.ClusterInfo, _ct);
        File.WriteAllBytes(PathOf(key), ChecksummedJson.Serialize(new ClusterInfo { Name = "planted" }, Core.Repository.RepositoryJson.Default.ClusterInfo));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.ReadMetadataAsync(key, Core.Repository.RepositoryJson.Default.ClusterInfo, _ct));

        Assert.Contains($"corrupt object '{key}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlantedPlaintextObject_RecordedAsUnencrypted_IsRefusedByAnEncryptedRepository()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        var file = await WriteAsync(repo, "objects/a", Encoding.ASCII.GetBytes("secret data"));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => repo.OpenObjectAsync("objects/a", file with { Encrypted = false }, _ct));

        Assert.Contains("recorded as not encrypted in encrypted repository", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SwappedEncryptedObjects_FailAuthenticationUnderTheirNewNames()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        var a = await WriteAsync(repo, "clusters/main/wal/0000000100000000/000000010000000000000001-aaaa", Encoding.ASCII.GetBytes("segment one"));
        var b = await WriteAsync(repo, "clusters/main/wal/0000000100000000/000000010000000000000002-bbbb", Encoding.ASCII.GetBytes("segment two"));
        string pa = PathOf("clusters/main/wal/0000000100000000/000000010000000000000001-aaaa");
        string pb = PathOf("clusters/main/wal/0000000100000000/000000010000000000000002-bbbb");
        byte[] bytesA = File.ReadAllBytes(pa);
        File.WriteAllBytes(pa, File.ReadAllBytes(pb));
        File.WriteAllBytes(pb, bytesA);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(repo.OpenObjectAsync("clusters/main/wal/0000000100000000/000000010000000000000001-aaaa", CompressionType.Zstd, _ct).Result));
        Assert.Equal("corrupt object 'clusters/main/wal/0000000100000000/000000010000000000000001-aaaa': authentication failed (wrong key or damaged data) at frame 0", e.Message);
        // Even with the recorded checksum of the other object, a renamed object never reads back.
        await Assert.ThrowsAsync<PgVaultException>(async () => await ReadAllAsync(await repo.OpenObjectAsync("clusters/main/wal/0000000100000000/000000010000000000000002-bbbb", a, _ct)));
        Assert.NotEqual(a.Sha256, b.Sha256);
    }

    [Fact]
    public async Task ReplayedFormat1Object_IsRefusedByAFormat2Repository()
    {
        var repo = await Repo.InitAsync(_store, Passphrase, _ct);
        var file = await WriteAsync(repo, "objects/a", Encoding.ASCII.GetBytes("current"));
        // An object of encryption format 1 under the same data key (as a format-1 repository wrote them): not bound to a name.
        using (var output = File.Create(PathOf("objects/a")))
        await using (var pipeline = ObjectPipeline.OpenWrite(output, Zstd3, repo.DataKey))
        {
            await pipeline.Input.WriteAsync(Encoding.ASCII.GetBytes("current"));
            await pipeline.CompleteAsync(_ct);
        }

        var e = await Assert.ThrowsAsync<PgVaultException>(async () => await ReadAllAsync(await repo.OpenObjectAsync("objects/a", file, _ct)));

        Assert.Contains("not bound to its name", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("iterations", "1", "key derivation iterations 1 outside")]
    [InlineData("iterations", "2000000000", "key derivation iterations 2000000000 outside")]
    [InlineData("salt", "\"not base64!\"", "salt is not base64")]
    [InlineData("salt", "\"AAAA\"", "salt has 3 bytes")]
    [InlineData("salt", "null", "salt is not base64")]
    [InlineData("wrapped_key", "null", "wrapped key is not base64")]
    public async Task UntrustedKdfParameters_AreBoundedAndGiveOneCorruptLine(string field, string value, string expected)
    {
        await Repo.InitAsync(_store, Passphrase, _ct);
        TamperDescriptor(json => json["encryption"]![field] = JsonNode.Parse(value));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, Passphrase, _ct));

        Assert.StartsWith("corrupt object 'pgvault.repo.json': " + expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DescriptorWithJsonNulls_IsOneCorruptLine()
    {
        await Repo.InitAsync(_store, null, _ct);
        File.WriteAllBytes(PathOf(RepositoryLayout.Descriptor), ChecksummedJson.Serialize(JsonNode.Parse("{\"format\": null}")!.AsObject(), TamperJson.Default.JsonObject));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => Repo.OpenAsync(_store, null, _ct));

        Assert.StartsWith("corrupt object 'pgvault.repo.json': ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyDerivation_IsInterruptedByCancellation()
    {
        await Repo.InitAsync(_store, Passphrase, _ct);
        // The longest derivation a descriptor may ask for (seconds): without interruption the open
        // would run it to the end and then fail to unwrap (the key was wrapped with fewer iterations).
        TamperDescriptor(json => json["encryption"]!["iterations"] = KeyWrapping.MaxIterations);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Repo.OpenAsync(_store, Passphrase, cts.Token));
    }

    [Fact]
    public async Task NameTags_AreKeyedInEncryptedRepositories()
    {
        var encrypted = await Repo.InitAsync(_store, Passphrase, _ct);
        var other = await Repo.InitAsync(new FileSystemObjectStore("other", Directory.CreateDirectory(Path.Combine(_root.FullName, "o")).FullName), Passphrase, _ct);
        var plain = await Repo.InitAsync(new FileSystemObjectStore("plain", Directory.CreateDirectory(Path.Combine(_root.FullName, "p")).FullName), null, _ct);

        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("before_upgrade")));
        Assert.Equal(sha, plain.NameTag("before_upgrade"));
        Assert.NotEqual(sha, encrypted.NameTag("before_upgrade"));
        Assert.NotEqual(encrypted.NameTag("before_upgrade"), other.NameTag("before_upgrade"));
        Assert.Equal(encrypted.NameTag("before_upgrade"), (await Repo.OpenAsync(_store, Passphrase, _ct)).NameTag("before_upgrade"));
    }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class TamperJson : JsonSerializerContext;
