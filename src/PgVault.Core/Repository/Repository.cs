using System.Security.Cryptography;
using System.Text;
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
    private readonly byte[]? _metadataKey;

    private Repository(IObjectStore store, RepositoryDescriptor descriptor, byte[]? dataKey)
    {
        Store = store;
        Descriptor = descriptor;
        _dataKey = dataKey;
        _metadataKey = dataKey is null ? null : DeriveKey(dataKey, "pgvault metadata v2");
    }

    public IObjectStore Store { get; }

    public RepositoryDescriptor Descriptor { get; }

    public string Name => Store.Name;

    public bool Encrypted => _dataKey != null;

    /// <summary>Format 2 binds every encrypted object to its name and authenticates the descriptor.</summary>
    internal bool BindsNames => Descriptor.Format >= 2;

    /// <summary>False for a repository of an older format: it is read, and written only after 'pgvault repo upgrade'.</summary>
    public bool Writable => Descriptor.Format == RepositoryDescriptor.CurrentFormat;

    /// <summary>Refuses to write into a repository of an older format (one clear line with the fix).</summary>
    public void EnsureWritable()
    {
        if (!Writable)
            throw new PgVaultException(ErrorCode.RepositoryFormat, $"repository '{Name}' has format {Descriptor.Format}; this PgVault writes only format {RepositoryDescriptor.CurrentFormat}",
                "run 'pgvault repo upgrade' once (backups in it stay readable meanwhile)");
    }

    /// <summary>Creates the descriptor (and, with a passphrase, a new wrapped data key).</summary>
    public static async Task<Repository> InitAsync(IObjectStore store, string? passphrase, CancellationToken ct)
    {
        if (await store.StatAsync(RepositoryLayout.Descriptor, ct).ConfigureAwait(false) != null)
            throw new PgVaultException(ErrorCode.RepositoryAlreadyInitialised, $"repository '{store.Name}' at {store.Location} is already initialised",
                "use it as it is, or choose an empty location");
        byte[]? dataKey = passphrase is null ? null : KeyWrapping.NewDataKey();
        var descriptor = new RepositoryDescriptor
        {
            CreatedAt = DateTimeOffset.UtcNow,
            CreatedBy = "pgvault " + VersionInfo.Version,
            Encryption = dataKey is null ? null : KeyWrapping.Wrap(dataKey, passphrase!, RepositoryDescriptor.CurrentFormat),
        };
        var repository = new Repository(store, descriptor, dataKey);
        await repository.WriteDescriptorAsync(descriptor, ct).ConfigureAwait(false);
        return repository;
    }

    /// <summary>
    /// Opens an initialised repository; a missing descriptor or a wrong passphrase is one clear error.
    /// The descriptor is untrusted: with a passphrase configured, a descriptor that says "not
    /// encrypted" is refused (it would switch encryption off), and an encrypted descriptor of
    /// format 2 must carry an HMAC under a key derived from the data key.
    /// </summary>
    public static async Task<Repository> OpenAsync(IObjectStore store, string? passphrase, CancellationToken ct)
    {
        byte[] raw;
        try
        {
            raw = await store.GetBytesAsync(RepositoryLayout.Descriptor, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new PgVaultException(ErrorCode.RepositoryNotInitialised, $"repository '{store.Name}' at {store.Location} is not initialised",
                "run 'pgvault repo init' first (or check the repository path)");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PgVaultException(ErrorCode.RepositoryUnreachable, $"unable to read repository '{store.Name}' at {store.Location}: {e.Message}",
                "run pgvault as the repository's owner (e.g. postgres), or fix its permissions")
            {
                RepositoryFault = true,
            };
        }
        var (body, stored) = ChecksummedJson.Split(raw, RepositoryLayout.Descriptor);
        var descriptor = ChecksummedJson.Parse(body, RepositoryJson.Default.RepositoryDescriptor, RepositoryLayout.Descriptor);
        if (descriptor.Format > RepositoryDescriptor.CurrentFormat)
            throw new PgVaultException(ErrorCode.RepositoryFormat, $"repository '{store.Name}' has format {descriptor.Format}; this PgVault reads up to {RepositoryDescriptor.CurrentFormat}",
                "upgrade PgVault");
        if (descriptor.Format < 1)
            throw PgVaultException.Corrupt(RepositoryLayout.Descriptor, $"format {descriptor.Format} is not a repository format");
        if (descriptor.Encryption is not { } encryption)
        {
            if (passphrase != null)
                throw new PgVaultException(ErrorCode.EncryptionMismatch, $"repository '{store.Name}' at {store.Location} is not encrypted, but the configuration has a passphrase: refusing to read or write it in plaintext",
                    "if it was initialised without encryption on purpose, set 'encrypted: false' on this repository in the configuration; otherwise its descriptor was replaced");
            ChecksummedJson.Check(body, stored, null, RepositoryLayout.Descriptor);
            return new Repository(store, descriptor, null);
        }
        if (passphrase is null)
            throw new PgVaultException(ErrorCode.PassphraseUnavailable, $"repository '{store.Name}' is encrypted and no passphrase is configured",
                "set encryption.passphrase_file or encryption.passphrase_env in the configuration");
        byte[] dataKey = await KeyWrapping.UnwrapAsync(encryption, passphrase, descriptor.Format, store.Name, ct).ConfigureAwait(false);
        var repository = new Repository(store, descriptor, dataKey);
        ChecksummedJson.Check(body, stored, repository.BindsNames ? repository._metadataKey : null, RepositoryLayout.Descriptor);
        return repository;
    }

    /// <summary>
    /// Brings a repository of format 1 to the current format: every encrypted object is rewritten
    /// bound to its name (encryption format 2), then the descriptor is rewritten last (re-wrapped,
    /// authenticated). Safe to interrupt and run again: objects already bound are skipped, and the
    /// repository stays format 1 (readable) until the descriptor is written. Returns the objects rewritten.
    /// </summary>
    public async Task<(Repository Upgraded, int Rewritten)> UpgradeAsync(string? passphrase, Action<string> info, CancellationToken ct)
    {
        if (Writable) return (this, 0);
        int rewritten = 0;
        if (_dataKey is { } dataKey)
        {
            var keys = new List<string>();
            await foreach (var entry in Store.ListAsync("", ct).ConfigureAwait(false))
                if (entry.Key != RepositoryLayout.Descriptor) keys.Add(entry.Key);
            foreach (var key in keys)
            {
                if (await ReadVersionByteAsync(key, ct).ConfigureAwait(false) != EncryptionVersionUnbound) continue;
                await using (var input = new DecryptingStream(await Store.OpenReadAsync(key, ct).ConfigureAwait(false), dataKey, key, leaveOpen: false))
                await using (var writer = await Store.OpenWriteAsync(key, ct).ConfigureAwait(false))
                {
                    await using (var output = new EncryptingStream(writer, dataKey, leaveOpen: true, boundName: key))
                    {
                        await input.CopyToAsync(output, ct).ConfigureAwait(false);
                        await output.FinishAsync(ct).ConfigureAwait(false);
                    }
                    await writer.CommitAsync(ct).ConfigureAwait(false);
                }
                rewritten++;
                if (rewritten % 100 == 0) info($"{rewritten} objects rewritten");
            }
        }
        var descriptor = Descriptor with
        {
            Format = RepositoryDescriptor.CurrentFormat,
            Encryption = _dataKey is null ? null : KeyWrapping.Wrap(_dataKey, passphrase ?? throw new PgVaultException(ErrorCode.PassphraseUnavailable, "the passphrase is needed to upgrade an encrypted repository"), RepositoryDescriptor.CurrentFormat),
        };
        var upgraded = new Repository(Store, descriptor, _dataKey);
        await upgraded.WriteDescriptorAsync(descriptor, ct).ConfigureAwait(false);
        return (upgraded, rewritten);
    }

    private const byte EncryptionVersionUnbound = 1;

    /// <summary>The encryption format version of a stored object, or 0 when it is not an encrypted object.</summary>
    private async Task<byte> ReadVersionByteAsync(string key, CancellationToken ct)
    {
        byte[] head = new byte[8];
        await using var input = await Store.OpenReadAsync(key, ct).ConfigureAwait(false);
        int read = await input.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        return read == 8 && head.AsSpan(0, 7).SequenceEqual("PGVAULT"u8) ? head[7] : (byte)0;
    }

    /// <summary>
    /// A name for <paramref name="text"/> that does not reveal it: HMAC-SHA256 under a key derived
    /// from the data key in an encrypted repository, SHA-256 otherwise (hex).
    /// </summary>
    public string NameTag(string text) => Convert.ToHexStringLower(_metadataKey is null
        ? SHA256.HashData(Encoding.UTF8.GetBytes(text))
        : HMACSHA256.HashData(DeriveKey(_dataKey!, "pgvault name tag v2"), Encoding.UTF8.GetBytes(text)));

    /// <summary>
    /// The content tag in a WAL object's name: the first 16 hex digits of the content's SHA-256 in
    /// an unencrypted repository (or one of format 1), of a keyed hash of it in an encrypted one, so
    /// names confirm no guess about a segment's content.
    /// </summary>
    public string WalTag(string sha256Hex) => Encrypted && BindsNames ? NameTag("wal\0" + sha256Hex)[..16] : sha256Hex[..16];

    /// <summary>True when <see cref="WalTag"/> of this repository and <paramref name="other"/> agree for every content.</summary>
    public bool WalTagsComparableWith(Repository other) => !(Encrypted && BindsNames) && !(other.Encrypted && other.BindsNames);

    /// <summary>Where <paramref name="record"/> is stored in this repository: its time, and a tag of its name that does not reveal it.</summary>
    public string RestorePointKey(string cluster, RestorePointRecord record) =>
        RepositoryLayout.RestorePoint(cluster, record.Time.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture), NameTag(record.Name)[..16]);

    private static byte[] DeriveKey(byte[] dataKey, string info) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, dataKey, 32, salt: [], info: Encoding.ASCII.GetBytes(info));

    /// <summary>Re-wraps the data key under a new passphrase; no object is re-encrypted.</summary>
    public async Task<Repository> ChangePassphraseAsync(string newPassphrase, CancellationToken ct)
    {
        if (_dataKey is null)
            throw new PgVaultException(ErrorCode.EncryptionMismatch, $"repository '{Name}' is not encrypted", "encryption is chosen when the repository is initialised");
        EnsureWritable();
        var descriptor = Descriptor with { Encryption = KeyWrapping.Wrap(_dataKey, newPassphrase, Descriptor.Format) };
        var repository = new Repository(Store, descriptor, _dataKey);
        await repository.WriteDescriptorAsync(descriptor, ct).ConfigureAwait(false);
        return repository;
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
            throw new PgVaultException(ErrorCode.EncryptionMismatch, $"object '{key}' is encrypted but repository '{Name}' is opened without a key");
        if (!file.Encrypted && _dataKey != null)
            throw PgVaultException.Corrupt(key, $"recorded as not encrypted in encrypted repository '{Name}'");
        var stored = await OpenStoredAsync(key, ct).ConfigureAwait(false);
        return ObjectPipeline.OpenRead(stored, CompressionSpec.ParseType(file.Compression), _dataKey, key, file.Sha256, file.SizeBytes, BindsNames);
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
        return ObjectPipeline.OpenRead(stored, compression, _dataKey, key, null, null, BindsNames);
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
            throw new PgVaultException(ErrorCode.ObjectMissing, $"object '{key}' is missing from repository '{Name}'",
                "the backup is damaged: restore from another repository or take a new backup")
            {
                RepositoryFault = true,
            };
        }
        catch (Exception e) when (e is not PgVaultException { RepositoryFault: true } && FaultMarkingStream.IsStoreFailure(e))
        {
            throw FaultMarkingStream.Mark(e, Name, key);
        }
    }

    public async Task WriteMetadataAsync<T>(string key, T value, JsonTypeInfo<T> typeInfo, CancellationToken ct)
    {
        EnsureWritable();
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
                await using var stream = ObjectPipeline.OpenRead(await Store.OpenReadAsync(key, ct).ConfigureAwait(false), CompressionType.None, _dataKey, key, null, null, BindsNames);
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

    /// <summary>The descriptor, checksummed (unencrypted) or authenticated with the metadata key (encrypted, format 2).</summary>
    private Task WriteDescriptorAsync(RepositoryDescriptor descriptor, CancellationToken ct) =>
        Store.PutAsync(RepositoryLayout.Descriptor, ChecksummedJson.Serialize(descriptor, RepositoryJson.Default.RepositoryDescriptor, BindsNames ? _metadataKey : null), ct);
}
