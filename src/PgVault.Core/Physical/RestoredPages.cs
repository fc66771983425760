using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace PgVault.Core.Physical;

/// <summary>
/// The page hashes of one file while a restore writes it from its base member and page deltas,
/// so its <see cref="PageDigest"/> can be checked from what was written instead of by reading the
/// file back (issue 15, target 3: that second read cost 0.3-0.5 s per GB of changed files). The
/// hashes live in a region of the restore's <see cref="PageHashFile"/>, not in memory (issue 15,
/// target 1: 1 MB per GB of such files): sequential hashes of the base go out 1024 at a time, a
/// delta's page is one 8-byte write at its number. Only whole pages are tracked: a file whose base,
/// deltas or final size are not whole 8 KiB pages (never a relation file) turns
/// <see cref="Valid"/> off and is read back as before. Not thread-safe: the restore touches one
/// file from one thread at a time.
/// </summary>
internal sealed class RestoredPages : IDisposable
{
    private const int PageSize = PageHashes.PageSize;
    private const int Batch = 1024;

    /// <summary>XXH64 of a page of zeros: the pages a file grows by without being written.</summary>
    private static readonly ulong ZeroPage = XxHash64.HashToUInt64(new byte[PageSize]);

    private readonly PageHashFile _store;
    private readonly long _region;
    private readonly int _maxPages;
    private ulong[]? _pending; // hashes of the base not yet written, after the first _count - _buffered; returned at EndBase
    private int _buffered;
    private int _count;
    private byte[]? _carry; // the start of a page split between two base reads
    private int _carried;

    /// <summary>
    /// A tracker for at most <paramref name="maxPages"/> pages (the larger of the base and the final
    /// size), in a region of <paramref name="store"/>: a delta that would take the file past them
    /// (damaged page numbers, or a file that grew and shrank again) turns <see cref="Valid"/> off.
    /// </summary>
    public RestoredPages(int maxPages, PageHashFile store)
    {
        _maxPages = maxPages;
        _store = store;
        _region = store.Allocate(maxPages);
    }

    /// <summary>Bytes of the page hash file this tracker takes (what the restore's budget counts).</summary>
    public long Footprint() => Footprint(_maxPages);

    /// <summary>False once something was written that this class does not model; the file must then be read back.</summary>
    public bool Valid { get; private set; } = true;

    /// <summary>Bytes of the page hash file a tracker for this many pages takes.</summary>
    public static long Footprint(int maxPages) => (long)maxPages * sizeof(ulong);

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

    /// <summary>
    /// The base member is complete; a partial last page is not modelled. The base's buffers go back
    /// to the pool: a tracker then holds no memory of its own until the check, however many files
    /// a restore rebuilds from deltas.
    /// </summary>
    public void EndBase()
    {
        if (_carried > 0) Valid = false;
        Flush();
        ReturnBuffers();
    }

    /// <summary>One page of a delta, written at its number (a file grows by pages of zeros up to it).</summary>
    public void Page(uint number, ReadOnlySpan<byte> page)
    {
        if (page.Length != PageSize || number >= _maxPages) Valid = false;
        if (!Valid) return;
        Flush();
        Grow((int)number + 1);
        Store(_region + number * (long)sizeof(ulong), [XxHash64.HashToUInt64(page)]);
    }

    /// <summary>The delta's final size: the file was cut or grown (by zeros) to it.</summary>
    public void Resize(long finalSize)
    {
        if (finalSize % PageSize != 0 || finalSize / PageSize > _maxPages) Valid = false;
        if (!Valid) return;
        Flush();
        int count = (int)(finalSize / PageSize);
        if (count < _count) _count = count;
        else Grow(count);
    }

    /// <summary>The page digest of what was written (read back from the page hash file), or null when the file must be read back.</summary>
    public string? Digest()
    {
        Flush();
        if (!Valid) return null;
        var xxh = new XxHash128();
        ulong[] chunk = ArrayPool<ulong>.Shared.Rent(Batch);
        try
        {
            for (int at = 0; at < _count; at += Batch)
            {
                var part = chunk.AsSpan(0, Math.Min(Batch, _count - at));
                _store.Read(_region + at * (long)sizeof(ulong), part);
                if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(part, part); // the digest hashes each XXH64 little-endian
                xxh.Append(MemoryMarshal.AsBytes(part));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Valid = false;
            return null; // the temporary file failed: the file is read back instead
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(chunk);
        }
        return Convert.ToHexStringLower(xxh.GetCurrentHash());
    }

    /// <summary>
    /// Writes hashes to this tracker's region. The tracker is an optimisation: any failure of the
    /// temporary file (a full $TMPDIR is an IOException, a file-size limit an
    /// ArgumentOutOfRangeException, lost permissions an UnauthorizedAccessException) only turns it
    /// off, so the file is read back for its check instead of failing the restore.
    /// </summary>
    private void Store(long offset, ReadOnlySpan<ulong> hashes)
    {
        if (!Valid) return;
        try
        {
            _store.Write(offset, hashes);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Valid = false;
        }
    }

    private void Add(ulong hash)
    {
        if (_count == _maxPages) Valid = false; // a base longer than its recorded size fails its own check
        if (!Valid) return;
        _pending ??= ArrayPool<ulong>.Shared.Rent(Batch);
        _pending[_buffered++] = hash;
        _count++;
        if (_buffered == Batch) Flush();
    }

    private void Flush()
    {
        if (_buffered == 0) return;
        Store(_region + (_count - _buffered) * (long)sizeof(ulong), _pending.AsSpan(0, _buffered));
        _buffered = 0;
    }

    /// <summary>Pages of zeros from the current end up to <paramref name="count"/> pages.</summary>
    private void Grow(int count)
    {
        if (count <= _count) return;
        ulong[] zeros = ArrayPool<ulong>.Shared.Rent(Batch);
        try
        {
            zeros.AsSpan(0, Batch).Fill(ZeroPage);
            while (_count < count)
            {
                int n = Math.Min(Batch, count - _count);
                Store(_region + _count * (long)sizeof(ulong), zeros.AsSpan(0, n));
                _count += n;
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(zeros);
        }
    }

    private void ReturnBuffers()
    {
        if (_pending != null) ArrayPool<ulong>.Shared.Return(_pending);
        _pending = null;
        if (_carry != null) ArrayPool<byte>.Shared.Return(_carry);
        _carry = null;
    }

    public void Dispose() => ReturnBuffers();
}
