namespace PgVault.Core.Storage;

/// <summary>
/// A flat object store: keys are '/'-separated relative paths such as
/// <c>clusters/main/backups/20261123T143012Z-L/manifest.json</c>. It knows nothing of PostgreSQL
/// or of the repository layout. Rules every backend keeps (the conformance tests check them):
/// <list type="bullet">
/// <item>Writes are atomic: an object is visible whole after <see cref="ObjectWriter.CommitAsync"/>
///   returns, or not at all. Disposing a writer without committing leaves nothing visible.</item>
/// <item>Committing over an existing key replaces it atomically.</item>
/// <item>Commit returns only once the object is durable (fsync / completed upload).</item>
/// <item>Reads stream; the caller disposes the returned stream.</item>
/// <item>Deleting a missing key is not an error.</item>
/// <item>Listing returns every key under the prefix, in ordinal order, however many there are.</item>
/// <item><see cref="TryCreateAsync"/> is create-if-absent: of any number of concurrent creators of
///   one key (in any processes or hosts), exactly one gets true and its bytes are the object; the
///   others get false and change nothing. The object appears whole or not at all. It is the only
///   primitive for mutual exclusion (repository lock, WAL claims); a plain put may still replace
///   the object afterwards, and delete removes it.</item>
/// </list>
/// </summary>
public interface IObjectStore : IAsyncDisposable
{
    /// <summary>Human name used in messages: the repository name.</summary>
    string Name { get; }

    /// <summary>Where the store lives (path or URL), for messages.</summary>
    string Location { get; }

    /// <summary>Opens a writer for <paramref name="key"/>; nothing is visible until it is committed.</summary>
    Task<ObjectWriter> OpenWriteAsync(string key, CancellationToken ct);

    /// <summary>Opens <paramref name="key"/> for reading; throws <see cref="ObjectNotFoundException"/> when missing.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken ct);

    /// <summary>Size and time of <paramref name="key"/>, or null when it does not exist.</summary>
    Task<ObjectInfo?> StatAsync(string key, CancellationToken ct);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in ordinal key order.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken ct);

    /// <summary>Removes <paramref name="key"/>; a missing key is fine.</summary>
    Task DeleteAsync(string key, CancellationToken ct);

    /// <summary>
    /// Removes every key (missing ones are fine), in batches where the store has them (S3:
    /// DeleteObjects, up to 1000 keys a request); otherwise one by one, in order.
    /// </summary>
    async Task DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        foreach (var key in keys) await DeleteAsync(key, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores <paramref name="bytes"/> (a small object) under <paramref name="key"/> only when no
    /// object has that key: true when this call created it (durable, visible), false when the key
    /// already existed. Filesystem: temp file, fsync, link(2) (never replaces), directory fsync.
    /// S3: PutObject with <c>If-None-Match: *</c>, or a candidate-listing protocol on servers
    /// lacking conditional puts (see <see cref="S3ObjectStore"/>).
    /// </summary>
    Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct);
}

public sealed record ObjectInfo(string Key, long Size, DateTimeOffset LastModified);

/// <summary>
/// A write-only stream for one object. Bytes written are not visible until <see cref="CommitAsync"/>;
/// disposing without committing aborts and removes whatever was staged.
/// </summary>
public abstract class ObjectWriter : Stream
{
    public sealed override bool CanRead => false;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => true;
    public sealed override long Length => throw new NotSupportedException();
    public sealed override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Makes the object durable and visible under its key.</summary>
    public abstract Task CommitAsync(CancellationToken ct);
}

internal sealed class ObjectNotFoundException(string store, string key)
    : Exception($"object '{key}' not found in repository '{store}'")
{
    public string Key { get; } = key;
}

internal static class ObjectStoreExtensions
{
    /// <summary>Writes a small object in one go.</summary>
    public static async Task PutAsync(this IObjectStore store, string key, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await using var writer = await store.OpenWriteAsync(key, ct).ConfigureAwait(false);
        await writer.WriteAsync(data, ct).ConfigureAwait(false);
        await writer.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reads a small object whole (metadata only: never for backup data).</summary>
    public static async Task<byte[]> GetBytesAsync(this IObjectStore store, string key, CancellationToken ct)
    {
        await using var stream = await store.OpenReadAsync(key, ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, ct).ConfigureAwait(false);
        return buffer.ToArray();
    }
}
