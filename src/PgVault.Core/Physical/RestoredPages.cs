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
    private byte[]? _carry; // the start of a page split between two base reads
    private int _carried;

    public RestoredPages(long baseSize) => _hashes = new PageHashList(PageHashes.PageCount(baseSize));

    /// <summary>False once something was written that this class does not model; the file must then be read back.</summary>
    public bool Valid { get; private set; } = true;

    /// <summary>Bytes a tracker for a file of this size holds (one hash per page).</summary>
    public static long Footprint(long size) => (long)PageHashes.PageCount(size) * sizeof(ulong);

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
            _hashes.Add(XxHash64.HashToUInt64(_carry));
            _carried = 0;
        }
        int whole = data.Length - data.Length % PageSize;
        for (int at = 0; at < whole; at += PageSize) _hashes.Add(XxHash64.HashToUInt64(data.Slice(at, PageSize)));
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
        if (page.Length != PageSize || number >= int.MaxValue) Valid = false;
        if (!Valid) return;
        Grow((int)number + 1);
        _hashes[(int)number] = XxHash64.HashToUInt64(page);
    }

    /// <summary>The delta's final size: the file was cut or grown (by zeros) to it.</summary>
    public void Resize(long finalSize)
    {
        if (finalSize % PageSize != 0 || finalSize / PageSize >= int.MaxValue) Valid = false;
        if (!Valid) return;
        int count = (int)(finalSize / PageSize);
        if (count < _hashes.Count) _hashes.SetCount(count);
        else Grow(count);
    }

    /// <summary>The page digest of what was written, or null when it must be read back.</summary>
    public string? Digest() => Valid ? PageDigest.From(_hashes.Span) : null;

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
