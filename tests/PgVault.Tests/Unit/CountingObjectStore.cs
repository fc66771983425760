using System.Collections.Concurrent;
using PgVault.Core.Storage;

namespace PgVault.Tests.Unit;

/// <summary>An <see cref="IObjectStore"/> decorator that counts the objects opened for reading, per key, and the listings.</summary>
internal sealed class CountingObjectStore(IObjectStore inner) : IObjectStore
{
    private readonly ConcurrentDictionary<string, int> _reads = new(StringComparer.Ordinal);
    private int _listings;

    public string Name => inner.Name;

    public string Location => inner.Location;

    /// <summary>Objects opened for reading since the last <see cref="Reset"/>, per key.</summary>
    public IReadOnlyDictionary<string, int> Reads => _reads;

    public int TotalReads => _reads.Values.Sum();

    public int Listings => Volatile.Read(ref _listings);

    public void Reset()
    {
        _reads.Clear();
        Interlocked.Exchange(ref _listings, 0);
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken ct)
    {
        _reads.AddOrUpdate(key, 1, (_, n) => n + 1);
        return inner.OpenReadAsync(key, ct);
    }

    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken ct)
    {
        Interlocked.Increment(ref _listings);
        return inner.ListAsync(prefix, ct);
    }

    public Task<ObjectWriter> OpenWriteAsync(string key, CancellationToken ct) => inner.OpenWriteAsync(key, ct);

    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct) => inner.StatAsync(key, ct);

    public Task DeleteAsync(string key, CancellationToken ct) => inner.DeleteAsync(key, ct);

    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct) => inner.TryCreateAsync(key, bytes, ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
