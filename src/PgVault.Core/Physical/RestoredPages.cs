using System.Buffers;
using System.IO.Hashing;

namespace PgVault.Core.Physical;

/// <summary>
/// The page hashes of one file while a restore writes it from its base member and page deltas,
/// so its <see cref="PageDigest"/> can be checked from what was written instead of by reading the
/// file back (issue 15, target 3: that second read cost 0.3-0.5 s per GB of changed files). Only
/// whole pages are tracked: a file whose base, deltas or final size are not whole 8 KiB pages
/// (never a relation file) turns <see cref="Valid"/> off and is read back as before. Not
/// thread-safe: the restore touches one file from one thread at a time.
/// </summary>
internal sealed class RestoredPages : IDisposable
{
    private const int PageSize = PageHashes.PageSize;

    /// <summary>XXH64 of a page of zeros: the pages a file grows by without being written.</summary>
    private static readonly ulong ZeroPage = XxHash64.HashToUInt64(new byte[PageSize]);

    private readonly PageHashList _hashes;
    private readonly int _maxPages;
    private byte[]? _carry; // the start of a page split between two base reads
    private int _carried;

    /// <summary>
    /// A tracker for at most <paramref name="maxPages"/> pages (the larger of the base and the final
    /// size): a delta that would take the file past them (damaged page numbers, or a file that
    /// grew and shrank again) turns <see cref="Valid"/> off instead of growing the list.
    /// </summary>
    public RestoredPages(int maxPages)
    {
        _maxPages = maxPages;
        _hashes = new PageHashList(maxPages);
    }

    /// <summary>Bytes this tracker holds (what the restore's budget counts).</summary>
    public long Footprint() => Footprint(_maxPages);

    /// <summary>False once something was written that this class does not model; the file must then be read back.</summary>
    public bool Valid { get; private set; } = true;

    /// <summary>Bytes a tracker for this many pages holds: the pooled array rounds up to a power of two.</summary>
    public static long Footprint(int maxPages) => (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(maxPages, 16)) * sizeof(ulong);

    /// <summary>The base member's content, in order, in pieces of any length.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        if (_carried > 0)
        {
            int take = Math.Min(PageSize - _carried, data.Length);
            data[..take].CopyTo(_carry.AsSpan(_carried));
            _carried += take;
            data = data[take..];
            if (_carried < PageSize) return;
            Add(XxHash64.HashToUInt64(_carry.AsSpan(0, PageSize)));
            _carried = 0;
        }
        int whole = data.Length - data.Length % PageSize;
        for (int at = 0; at < whole; at += PageSize) Add(XxHash64.HashToUInt64(data.Slice(at, PageSize)));
        if (whole == data.Length) return;
        _carry ??= ArrayPool<byte>.Shared.Rent(PageSize);
        data[whole..].CopyTo(_carry);
        _carried = data.Length - whole;
    }

    /// <summary>The base member is complete; a partial last page is not modelled.</summary>
    public void EndBase()
    {
        if (_carried > 0) Valid = false;
    }

    /// <summary>One page of a delta, written at its number (a file grows by pages of zeros up to it).</summary>
    public void Page(uint number, ReadOnlySpan<byte> page)
    {
        if (page.Length != PageSize || number >= _maxPages) Valid = false;
        if (!Valid) return;
        Grow((int)number + 1);
        _hashes[(int)number] = XxHash64.HashToUInt64(page);
    }

    /// <summary>The delta's final size: the file was cut or grown (by zeros) to it.</summary>
    public void Resize(long finalSize)
    {
        if (finalSize % PageSize != 0 || finalSize / PageSize > _maxPages) Valid = false;
        if (!Valid) return;
        int count = (int)(finalSize / PageSize);
        if (count < _hashes.Count) _hashes.SetCount(count);
        else Grow(count);
    }

    /// <summary>The page digest of what was written, or null when it must be read back.</summary>
    public string? Digest() => Valid ? PageDigest.From(_hashes.Span) : null;

    private void Add(ulong hash)
    {
        if (_hashes.Count == _maxPages) Valid = false; // a base longer than its recorded size fails its own check
        if (Valid) _hashes.Add(hash);
    }

    private void Grow(int count)
    {
        int from = _hashes.Count;
        if (count <= from) return;
        _hashes.SetCount(count);
        _hashes.Span[from..].Fill(ZeroPage);
    }

    public void Dispose()
    {
        _hashes.Dispose();
        if (_carry != null) ArrayPool<byte>.Shared.Return(_carry);
        _carry = null;
    }
}
