using System.Text.Json.Serialization.Metadata;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Storage;

namespace PgVault.Core.Repository;

/// <summary>
/// An opened repository: its store, descriptor and (when encrypted) the unwrapped data key.
/// Reads and writes objects through the pipeline and metadata through <see cref="ChecksummedJson"/>.
/// </summary>
public sealed class Repository
{
    private readonly byte[]? _dataKey;

    private Repository(IObjectStore store, RepositoryDescriptor descriptor, byte[]? dataKey)
    {
        Store = store;
        Descriptor = descriptor;
        _dataKey = dataKey;
    }

    public IObjectStore Store { get; }

    public RepositoryDescriptor Descriptor { get; }

    public string Name => Store.Name;

    public bool Encrypted => _dataKey != null;

    /// <summary>Creates the descriptor (and, with a passphrase, a new wrapped data key).</summary>
    public static async Task<Repository> InitAsync(IObjectStore store, string? passphrase, CancellationToken ct)
    {
        if (await store.StatAsync(RepositoryLayout.Descriptor, ct).ConfigureAwait(false) != null)
            throw new PgVaultException($"repository '{store.Name}' at {store.Location} is already initialised",
                "use it as it is, or choose an empty location");
        byte[]? dataKey = passphrase is null ? null : KeyWrapping.NewDataKey();
        var descriptor = new RepositoryDescriptor
        {
            CreatedAt = DateTimeOffset.UtcNow,
            CreatedBy = "pgvault " + VersionInfo.Version,
            Encryption = dataKey is null ? null : KeyWrapping.Wrap(dataKey, passphrase!),
        };
        await WriteDescriptorAsync(store, descriptor, ct).ConfigureAwait(false);
        return new Repository(store, descriptor, dataKey);
    }

    /// <summary>Opens an initialised repository; a missing descriptor or a wrong passphrase is one clear error.</summary>
    public static async Task<Repository> OpenAsync(IObjectStore store, string? passphrase, CancellationToken ct)
    {
        byte[] raw;
        try
        {
            raw = await store.GetBytesAsync(RepositoryLayout.Descriptor, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new PgVaultException($"repository '{store.Name}' at {store.Location} is not initialised",
                "run 'pgvault repo init' first (or check the repository path)");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PgVaultException($"unable to read repository '{store.Name}' at {store.Location}: {e.Message}",
                "run pgvault as the repository's owner (e.g. postgres), or fix its permissions") { RepositoryFault = true };
        }
        var descriptor = ChecksummedJson.Deserialize(raw, RepositoryJson.Default.RepositoryDescriptor, RepositoryLayout.Descriptor);
        if (descriptor.Format > RepositoryDescriptor.CurrentFormat)
            throw new PgVaultException($"repository '{store.Name}' has format {descriptor.Format}; this PgVault reads up to {RepositoryDescriptor.CurrentFormat}",
                "upgrade PgVault");
        byte[]? dataKey = null;
        if (descriptor.Encryption is { } encryption)
        {
            if (passphrase is null)
                throw new PgVaultException($"repository '{store.Name}' is encrypted and no passphrase is configured",
                    "set encryption.passphrase_file or encryption.passphrase_env in the configuration");
            dataKey = KeyWrapping.Unwrap(encryption, passphrase, store.Name);
        }
        return new Repository(store, descriptor, dataKey);
    }

    /// <summary>Re-wraps the data key under a new passphrase; no object is re-encrypted.</summary>
    public async Task<Repository> ChangePassphraseAsync(string newPassphrase, CancellationToken ct)
    {
        if (_dataKey is null)
            throw new PgVaultException($"repository '{Name}' is not encrypted", "encryption is chosen when the repository is initialised");
        var descriptor = Descriptor with { Encryption = KeyWrapping.Wrap(_dataKey, newPassphrase) };
        await WriteDescriptorAsync(Store, descriptor, ct).ConfigureAwait(false);
        return new Repository(Store, descriptor, _dataKey);
    }

    /// <summary>The unwrapped data key, or null for an unencrypted repository.</summary>
    internal byte[]? DataKey => _dataKey;

    /// <summary>
    /// Streams what <paramref name="produce"/> writes through hash, compression and encryption into
    /// <paramref name="key"/>; the object is committed (durable, visible) only when all succeeded.
    /// </summary>
    public async Task<StoredFile> WriteObjectAsync(string key, CompressionSpec compression, Func<Stream, CancellationToken, Task> produce, CancellationToken ct) =>
        (await FanOutWriter.WriteAsync([this], key, compression, produce, ct).ConfigureAwait(false))[0];

    /// <summary>Opens a stored file for reading; its size and checksum are verified when the stream ends.</summary>
    public async Task<Stream> OpenObjectAsync(string key, StoredFile file, CancellationToken ct)
    {
        if (file.Encrypted && _dataKey is null)
            throw new PgVaultException($"object '{key}' is encrypted but repository '{Name}' is opened without a key");
        var stored = await OpenStoredAsync(key, ct).ConfigureAwait(false);
        return ObjectPipeline.OpenRead(stored, CompressionSpec.ParseType(file.Compression), file.Encrypted ? _dataKey : null, key, file.Sha256, file.SizeBytes);
    }

    /// <summary>A small stored file read whole, verified against its size and checksum.</summary>
    public async Task<byte[]> ReadAllBytesAsync(string key, StoredFile file, CancellationToken ct)
    {
        await using var input = await OpenObjectAsync(key, file, ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        await input.CopyToAsync(buffer, ct).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>
    /// Opens an object whose compression is known from its name (WAL): decrypted with the
    /// repository's key when it is encrypted; the caller verifies the content checksum.
    /// </summary>
    public async Task<Stream> OpenObjectAsync(string key, CompressionType compression, CancellationToken ct)
    {
        var stored = await OpenStoredAsync(key, ct).ConfigureAwait(false);
        return ObjectPipeline.OpenRead(stored, compression, _dataKey, key, null, null);
    }

    /// <summary>
    /// The stored bytes of <paramref name="key"/>, with every failure of the store (missing object,
    /// I/O error, unreachable server), now or while reading, marked as a repository fault.
    /// </summary>
    private async Task<Stream> OpenStoredAsync(string key, CancellationToken ct)
    {
        try
        {
            return new FaultMarkingStream(await Store.OpenReadAsync(key, ct).ConfigureAwait(false), Name, key);
        }
        catch (ObjectNotFoundException)
        {
            throw new PgVaultException($"object '{key}' is missing from repository '{Name}'",
                "the backup is damaged: restore from another repository or take a new backup") { RepositoryFault = true };
        }
        catch (Exception e) when (e is not PgVaultException { RepositoryFault: true } && FaultMarkingStream.IsStoreFailure(e))
        {
            throw FaultMarkingStream.Mark(e, Name, key);
        }
    }

    public async Task WriteMetadataAsync<T>(string key, T value, JsonTypeInfo<T> typeInfo, CancellationToken ct)
    {
        byte[] bytes = ChecksummedJson.Serialize(value, typeInfo);
        if (_dataKey is null)
        {
            await Store.PutAsync(key, bytes, ct).ConfigureAwait(false);
            return;
        }
        await WriteObjectAsync(key, new CompressionSpec(CompressionType.None, 0), (s, c) => s.WriteAsync(bytes, c).AsTask(), ct).ConfigureAwait(false);
    }

    public async Task<T?> ReadMetadataAsync<T>(string key, JsonTypeInfo<T> typeInfo, CancellationToken ct) where T : class
    {
        byte[] raw;
        try
        {
            if (_dataKey is null)
            {
                raw = await Store.GetBytesAsync(key, ct).ConfigureAwait(false);
            }
            else
            {
                await using var stream = ObjectPipeline.OpenRead(await Store.OpenReadAsync(key, ct).ConfigureAwait(false), CompressionType.None, _dataKey, key, null, null);
                using var buffer = new MemoryStream();
                await stream.CopyToAsync(buffer, ct).ConfigureAwait(false);
                raw = buffer.ToArray();
            }
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        return ChecksummedJson.Deserialize(raw, typeInfo, key);
    }

    /// <summary>Deletes every object under <paramref name="prefix"/> (and, on a filesystem, stray temporaries).</summary>
    public async Task DeletePrefixAsync(string prefix, CancellationToken ct)
    {
        var keys = new List<string>();
        await foreach (var info in Store.ListAsync(prefix, ct).ConfigureAwait(false)) keys.Add(info.Key);
        foreach (var key in keys) await Store.DeleteAsync(key, ct).ConfigureAwait(false);
        if (Store is FileSystemObjectStore fs) fs.RemoveStaleTemporaries(prefix, TimeSpan.Zero);
    }

    private static Task WriteDescriptorAsync(IObjectStore store, RepositoryDescriptor descriptor, CancellationToken ct) =>
        store.PutAsync(RepositoryLayout.Descriptor, ChecksummedJson.Serialize(descriptor, RepositoryJson.Default.RepositoryDescriptor), ct);
}
