using System.Buffers;

namespace PgVault.Core.Physical;

/// <summary>
/// The page hashes of one file while it is copied, in an array rented from the shared pool.
/// A 1 GiB relation segment has 131,072 pages (1 MB of hashes); a fresh array per file is
/// large-object-heap garbage that only a full collection frees, and a long backup has few of
/// those, so the process used to grow with the number of large files, that is with the cluster
/// (issue 15: peak RSS flat in cluster size). Not thread-safe; dispose it to return the array.
/// </summary>
internal sealed class PageHashList : IDisposable
{
    private ulong[] _items;

    public PageHashList(int capacity) => _items = ArrayPool<ulong>.Shared.Rent(Math.Max(capacity, 16));

    public int Count { get; private set; }

    public ulong this[int index]
    {
        get => Span[index];
        set => Span[index] = value;
    }

    public Span<ulong> Span => _items.AsSpan(0, Count);

    public void Add(ulong hash)
    {
        if (Count == _items.Length) Grow(Count + 1);
        _items[Count++] = hash;
    }

    /// <summary>Sets the count; new entries (when it grows) are zero, unless <paramref name="zeroFrom"/> says the caller fills them below that index.</summary>
    public void SetCount(int count, int zeroFrom = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _items.Length) Grow(count);
        int from = Math.Max(Count, zeroFrom);
        if (count > from) _items.AsSpan(from, count - from).Clear();
        Count = count;
    }

    private void Grow(int needed)
    {
        var larger = ArrayPool<ulong>.Shared.Rent(Math.Max(needed, _items.Length * 2));
        _items.AsSpan(0, Count).CopyTo(larger);
        ArrayPool<ulong>.Shared.Return(_items);
        _items = larger;
    }

    public void Dispose()
    {
        if (_items.Length == 0) return;
        ArrayPool<ulong>.Shared.Return(_items);
        _items = [];
        Count = 0;
    }
}
