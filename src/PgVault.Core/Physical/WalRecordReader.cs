using System.Buffers.Binary;

namespace PgVault.Core.Physical;

/// <summary>One block reference of a WAL record: which page of which relation fork it changes.</summary>
internal readonly record struct WalBlockRef(uint Tablespace, uint Database, uint Relation, byte Fork, uint Block);

/// <summary>
/// One WAL record as far as the block map needs it: where it starts, its resource manager and
/// info byte, its block references and its main data (a slice of the reader's buffer, valid until
/// the next record is read).
/// </summary>
internal readonly record struct WalRecord(ulong Lsn, byte ResourceManager, byte Info, IReadOnlyList<WalBlockRef> Blocks, ReadOnlyMemory<byte> MainData);

/// <summary>The WAL between two positions cannot be read: a segment is missing, or a page or record is not what it must be.</summary>
internal sealed class WalUnreadableException(string message) : Exception(message);

/// <summary>An LSN that is formatted (0/16B3F28) only when an interpolated message asks for it.</summary>
internal readonly record struct LsnText(ulong Lsn)
{
    public override string ToString() => PostgreSql.Lsn.FormatLsn(Lsn);
}

/// <summary>
/// Reads the records of PostgreSQL 15 WAL (8 KiB WAL pages, page magic 0xD110) from a start
/// position that is a record boundary (a backup's start LSN, a checkpoint's redo point) up to an
/// end position, following records across pages and segments. Every page header is checked
/// (magic, the page's own address, timeline, the continuation flag and remaining length of a record
/// that goes on), and so is every record (total length, the chain of previous-record pointers,
/// CRC-32C, and that its block headers and payloads add up to its length), so a recycled or
/// damaged segment is an error, never a silently wrong map. Memory: one segment and one record.
/// The layout is PostgreSQL's xlogrecord.h / xlog_internal.h; the decoding follows
/// DecodeXLogRecord in xlogreader.c.
/// </summary>
internal sealed class WalRecordReader
{
    public const int PageSize = 8192;
    public const ushort PageMagic = 0xD110; // XLOG_PAGE_MAGIC of PostgreSQL 15
    private const int ShortHeader = 24;     // MAXALIGN(sizeof(XLogPageHeaderData))
    private const int LongHeader = 40;      // MAXALIGN(sizeof(XLogLongPageHeaderData))
    private const int RecordHeader = 24;    // sizeof(XLogRecord)
    private const ushort FirstIsContRecord = 0x0001;
    private const ushort LongHeaderFlag = 0x0002;
    private const uint MaxRecordLength = 1024 * 1024 * 1024; // XLogRecordMaxSize

    // Block reference layout (xlogrecord.h).
    public const int MaxBlockId = 32;
    private const byte DataShort = 255, DataLong = 254, Origin = 253, ToplevelXid = 252;
    private const byte ForkMask = 0x0F, HasImage = 0x10, HasData = 0x20, SameRel = 0x80;
    private const byte ImageHasHole = 0x01, ImageCompressed = 0x04 | 0x08 | 0x10; // PGLZ | LZ4 | ZSTD
    public const byte RmXlog = 0, XlogSwitch = 0x40;

    /// <summary>
    /// Reads <c>into.Length</c> bytes at <paramref name="offset"/> of WAL segment <paramref name="segment"/>;
    /// returns a reason when that segment cannot be had whole (missing, of another length), else null.
    /// </summary>
    public delegate string? WindowSource(ulong segment, long offset, Span<byte> into);

    /// <summary>How much of a segment is held at once: the reader's memory does not depend on the segment size.</summary>
    internal const int WindowSize = 1024 * 1024;

    private readonly WindowSource _source;
    private readonly long _segmentSize;
    private readonly uint _timeline;
    private readonly byte[] _window;
    private ulong _windowStart = ulong.MaxValue;
    private byte[] _record = new byte[16384];

    /// <param name="source">Reads windows of the segments (page-aligned, never across a segment's end).</param>
    /// <param name="windowSize">A power of two of at least one page (tests use small ones).</param>
    public WalRecordReader(WindowSource source, long segmentSize, uint timeline, int windowSize = WindowSize)
    {
        if (windowSize < PageSize || !int.IsPow2(windowSize)) throw new ArgumentOutOfRangeException(nameof(windowSize), windowSize, "a power of two of at least one page");
        _source = source;
        _segmentSize = segmentSize;
        _timeline = timeline;
        _window = new byte[Math.Min(windowSize, segmentSize)];
    }

    /// <param name="segment">The bytes of segment number N (exactly one segment long), or null when it cannot be had.</param>
    public WalRecordReader(Func<ulong, byte[]?> segment, long segmentSize, uint timeline)
        : this(WholeSegments(segment, segmentSize), segmentSize, timeline)
    {
    }

    /// <summary>Windows cut from whole segments (the last one asked for is kept).</summary>
    internal static WindowSource WholeSegments(Func<ulong, byte[]?> segment, long segmentSize)
    {
        ulong last = ulong.MaxValue;
        byte[]? bytes = null;
        return (number, offset, into) =>
        {
            if (number != last)
            {
                bytes = segment(number);
                last = number;
            }
            if (bytes == null) return "is not available";
            if (bytes.Length != segmentSize) return $"is {bytes.Length} bytes, not {segmentSize}";
            bytes.AsSpan((int)offset, into.Length).CopyTo(into);
            return null;
        };
    }

    /// <summary>Every record that starts at or after <paramref name="start"/> and before <paramref name="end"/>.</summary>
    public IEnumerable<WalRecord> Read(ulong start, ulong end)
    {
        ulong position = start;
        ulong previous = 0;
        if (position % PageSize != 0) CheckPage(position - position % PageSize, continuing: null);
        while (position < end)
        {
            if (position % PageSize == 0)
            {
                CheckPage(position, continuing: null, recordStarts: true);
                position += (ulong)HeaderSize(position);
            }
            if (position >= end) yield break;
            ulong lsn = position;
            // xl_tot_len is in the first 8 bytes, and a record starts MAXALIGNed with at least 8 bytes left on its page.
            var (page, offset) = Locate(lsn);
            uint total = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(offset));
            if (total < RecordHeader || total > MaxRecordLength)
                throw new WalUnreadableException($"invalid record length {total} at {PostgreSql.Lsn.FormatLsn(lsn)}");
            if (_record.Length < total) _record = new byte[Math.Max(total, _record.Length * 2)];
            position = CopyRecord(lsn, total);
            var record = Decode(lsn, _record, (int)total, previous);
            previous = lsn;
            yield return record;
            if (record.ResourceManager == RmXlog && (record.Info & 0xF0) == XlogSwitch)
                position = (position + (ulong)_segmentSize - 1) / (ulong)_segmentSize * (ulong)_segmentSize; // the rest of the segment is padding
            else
                position = (position + 7) & ~7UL;
        }
    }

    private int HeaderSize(ulong pageAddress) => pageAddress % (ulong)_segmentSize == 0 ? LongHeader : ShortHeader;

    /// <summary>The window holding <paramref name="lsn"/> and the offset in it (a page never spans two windows).</summary>
    private (byte[] Window, int Offset) Locate(ulong lsn)
    {
        if (lsn < _windowStart || lsn - _windowStart >= (ulong)_window.Length)
        {
            _windowStart = ulong.MaxValue;
            ulong start = lsn - lsn % (ulong)_window.Length;
            ulong number = start / (ulong)_segmentSize;
            if (_source(number, (long)(start % (ulong)_segmentSize), _window) is { } problem)
                throw new WalUnreadableException($"WAL segment {PostgreSql.WalSegments.Name(_timeline, number, _segmentSize)} {problem}");
            _windowStart = start;
        }
        return (_window, (int)(lsn - _windowStart));
    }

    /// <summary>
    /// Checks the header of the page at <paramref name="address"/>; <paramref name="continuing"/>:
    /// the bytes of a record still to come on it (the page must say so), null otherwise;
    /// <paramref name="recordStarts"/>: a record starts right after the header.
    /// </summary>
    private void CheckPage(ulong address, uint? continuing, bool recordStarts = false)
    {
        var (segment, offset) = Locate(address);
        var header = segment.AsSpan(offset, LongHeader);
        var at = new LsnText(address); // formatted only into an error message
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(header);
        ushort info = BinaryPrimitives.ReadUInt16LittleEndian(header[2..]);
        uint timeline = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        ulong pageAddress = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        uint remaining = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        if (magic != PageMagic) throw new WalUnreadableException($"WAL page at {at} has magic 0x{magic:X4}, not 0x{PageMagic:X4} (PostgreSQL 15)");
        if (pageAddress != address) throw new WalUnreadableException($"WAL page at {at} says it is at {PostgreSql.Lsn.FormatLsn(pageAddress)} (a recycled or misplaced segment)");
        if (timeline == 0 || timeline > _timeline) throw new WalUnreadableException($"WAL page at {at} is of timeline {timeline}, not {_timeline}");
        bool isLong = (info & LongHeaderFlag) != 0;
        if (isLong != (address % (ulong)_segmentSize == 0)) throw new WalUnreadableException($"WAL page at {at} has {(isLong ? "a long" : "a short")} header where the other kind belongs");
        if (isLong)
        {
            uint segmentSize = BinaryPrimitives.ReadUInt32LittleEndian(header[32..]);
            uint blockSize = BinaryPrimitives.ReadUInt32LittleEndian(header[36..]);
            if (segmentSize != _segmentSize || blockSize != PageSize)
                throw new WalUnreadableException($"WAL page at {at} is of {segmentSize}-byte segments and {blockSize}-byte pages, not {_segmentSize} and {PageSize}");
        }
        bool continues = (info & FirstIsContRecord) != 0;
        if (continuing is { } left)
        {
            if (!continues || remaining != left)
                throw new WalUnreadableException($"WAL page at {at} does not continue the record before it ({left} bytes expected, the page says {(continues ? remaining : 0)})");
        }
        else if (recordStarts && continues)
        {
            throw new WalUnreadableException($"WAL page at {at} continues a record ({remaining} bytes) where a new record must start");
        }
    }

    /// <summary>Copies the record at <paramref name="lsn"/> of <paramref name="total"/> bytes into the record buffer; returns the position after it.</summary>
    private ulong CopyRecord(ulong lsn, uint total)
    {
        int copied = 0;
        ulong position = lsn;
        while (copied < total)
        {
            if (position % PageSize == 0)
            {
                CheckPage(position, continuing: total - (uint)copied);
                position += (ulong)HeaderSize(position);
            }
            var (segment, offset) = Locate(position);
            int onPage = PageSize - (int)(position % PageSize);
            int take = (int)Math.Min(onPage, total - copied);
            segment.AsSpan(offset, take).CopyTo(_record.AsSpan(copied));
            copied += take;
            position += (ulong)take;
        }
        return position;
    }

    /// <summary>Checks a record whole and returns its block references and main data (DecodeXLogRecord of PostgreSQL 15).</summary>
    internal static WalRecord Decode(ulong lsn, byte[] record, int length, ulong previous)
    {
        var at = new LsnText(lsn); // formatted only into an error message
        uint total = BinaryPrimitives.ReadUInt32LittleEndian(record);
        if (total != length || total < RecordHeader) throw new WalUnreadableException($"record at {at} is {length} bytes, but says {total}");
        ulong prev = BinaryPrimitives.ReadUInt64LittleEndian(record.AsSpan(8));
        byte info = record[16];
        byte rmid = record[17];
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(20));
        if (previous != 0 && prev != previous)
            throw new WalUnreadableException($"record at {at} points back to {PostgreSql.Lsn.FormatLsn(prev)}, not to the record before it at {PostgreSql.Lsn.FormatLsn(previous)}");
        var check = new Crc32C();
        check.Append(record.AsSpan(RecordHeader, (int)total - RecordHeader));
        check.Append(record.AsSpan(0, 20));
        if (check.Value != crc) throw new WalUnreadableException($"record at {at} fails its CRC-32C");

        List<WalBlockRef>? blocks = null; // most records without block references allocate nothing
        int position = RecordHeader;
        long remaining = total - RecordHeader;
        long dataTotal = 0;
        int mainLength = 0;
        int lastId = -1;
        (uint Spc, uint Db, uint Rel)? lastRel = null;
        byte Byte() { if (remaining < 1) throw Truncated(); remaining--; return record[position++]; }
        ushort U16() { if (remaining < 2) throw Truncated(); remaining -= 2; position += 2; return BinaryPrimitives.ReadUInt16LittleEndian(record.AsSpan(position - 2)); }
        uint U32() { if (remaining < 4) throw Truncated(); remaining -= 4; position += 4; return BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(position - 4)); }
        WalUnreadableException Truncated() => new($"record at {at} ends inside its block headers");
        while (remaining > dataTotal)
        {
            byte id = Byte();
            if (id == DataShort) { mainLength = Byte(); dataTotal += mainLength; break; }
            if (id == DataLong) { mainLength = (int)U32(); dataTotal += mainLength; break; }
            if (id == Origin) { U16(); continue; }
            if (id == ToplevelXid) { U32(); continue; }
            if (id > MaxBlockId) throw new WalUnreadableException($"record at {at} has an invalid block id {id}");
            if (id <= lastId) throw new WalUnreadableException($"record at {at} has block id {id} out of order");
            lastId = id;
            byte flags = Byte();
            ushort dataLength = U16();
            if (((flags & HasData) != 0) != (dataLength > 0))
                throw new WalUnreadableException($"record at {at}: block {id} has data length {dataLength} against its HAS_DATA flag");
            dataTotal += dataLength;
            if ((flags & HasImage) != 0)
            {
                ushort imageLength = U16();
                ushort holeOffset = U16();
                byte imageInfo = Byte();
                bool compressed = (imageInfo & ImageCompressed) != 0;
                int holeLength = (imageInfo & ImageHasHole) != 0
                    ? compressed ? U16() : PageSize - imageLength
                    : 0;
                if ((imageInfo & ImageHasHole) != 0 && (holeOffset == 0 || holeLength == 0 || (!compressed && imageLength == PageSize)))
                    throw new WalUnreadableException($"record at {at}: block {id} has an image with an invalid hole (offset {holeOffset}, length {holeLength})");
                if ((imageInfo & ImageHasHole) == 0 && (holeOffset != 0 || (!compressed && imageLength != PageSize)))
                    throw new WalUnreadableException($"record at {at}: block {id} has an image of {imageLength} bytes without a hole");
                dataTotal += imageLength;
            }
            if ((flags & SameRel) == 0) lastRel = (U32(), U32(), U32());
            else if (lastRel is null) throw new WalUnreadableException($"record at {at}: block {id} says SAME_REL with no relation before it");
            uint block = U32();
            var (spc, db, rel) = lastRel!.Value;
            (blocks ??= new List<WalBlockRef>(2)).Add(new WalBlockRef(spc, db, rel, (byte)(flags & ForkMask), block));
        }
        if (remaining != dataTotal)
            throw new WalUnreadableException($"record at {at}: its headers announce {dataTotal} bytes of payload, but {remaining} remain");
        return new WalRecord(lsn, rmid, info, (IReadOnlyList<WalBlockRef>?)blocks ?? [], record.AsMemory((int)total - mainLength, mainLength));
    }
}
