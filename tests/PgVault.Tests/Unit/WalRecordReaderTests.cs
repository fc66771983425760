using System.Buffers.Binary;
using PgVault.Core.Physical;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// The WAL record reader and the block map on WAL laid out here byte for byte as PostgreSQL 15
/// writes it (page headers, records split over pages and segments, CRC-32C); the same reader on
/// WAL of a real cluster is covered by Integration/WalBlockMapTests.
/// </summary>
public sealed class WalRecordReaderTests
{
    private const int Segment = 64 * 1024; // small segments: the reader takes the size from the caller and checks it in every long header
    private const uint Timeline = 1;

    /// <summary>A record body (everything after the 24-byte header) with block references and main data.</summary>
    internal static byte[] Body((uint Spc, uint Db, uint Rel, byte Fork, uint Block, int Data, bool Image)[] blocks, byte[] main)
    {
        var head = new List<byte>();
        var payload = new List<byte>();
        for (int i = 0; i < blocks.Length; i++)
        {
            var b = blocks[i];
            bool same = i > 0 && blocks[i - 1].Spc == b.Spc && blocks[i - 1].Db == b.Db && blocks[i - 1].Rel == b.Rel;
            byte flags = (byte)(b.Fork | (b.Data > 0 ? 0x20 : 0) | (b.Image ? 0x10 : 0) | (same ? 0x80 : 0));
            head.Add((byte)i);
            head.Add(flags);
            head.AddRange(U16((ushort)b.Data));
            if (b.Image)
            {
                // A compressed image with a hole: bimg_len, hole_offset, bimg_info (HAS_HOLE | APPLY | PGLZ), hole_length.
                head.AddRange(U16(100));
                head.AddRange(U16(40));
                head.Add(0x01 | 0x02 | 0x04);
                head.AddRange(U16(4000));
                payload.AddRange(new byte[100]);
            }
            if (!same) { head.AddRange(U32(b.Spc)); head.AddRange(U32(b.Db)); head.AddRange(U32(b.Rel)); }
            head.AddRange(U32(b.Block));
            payload.AddRange(Enumerable.Repeat((byte)0xAB, b.Data));
        }
        if (main.Length > 0)
        {
            if (main.Length < 256) { head.Add(255); head.Add((byte)main.Length); }
            else { head.Add(254); head.AddRange(U32((uint)main.Length)); }
        }
        return [.. head, .. payload, .. main];
    }

    private static byte[] U16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return b; }
    private static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }

    /// <summary>Lays records out from <paramref name="start"/> the way XLogInsert does; returns the segments and each record's start.</summary>
    internal static (Dictionary<ulong, byte[]> Segments, List<ulong> Starts, ulong End) Lay(ulong start, IEnumerable<(byte Rmid, byte Info, byte[] Body)> records)
    {
        var segments = new Dictionary<ulong, byte[]>();
        byte[] Seg(ulong lsn)
        {
            ulong n = lsn / Segment;
            if (!segments.TryGetValue(n, out var s))
            {
                segments[n] = s = new byte[Segment];
                for (int page = 0; page < Segment; page += 8192)
                {
                    ulong address = n * Segment + (ulong)page;
                    BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(page), 0xD110);
                    BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(page + 2), (ushort)(page == 0 ? 0x0002 : 0));
                    BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(page + 4), Timeline);
                    BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(page + 8), address);
                    if (page == 0)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(32), Segment);
                        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(36), 8192);
                    }
                }
            }
            return s;
        }
        int Header(ulong lsn) => lsn % Segment == 0 ? 40 : 24;
        var starts = new List<ulong>();
        ulong position = start, previous = 0;
        foreach (var (rmid, info, body) in records)
        {
            if (position % 8192 == 0) position += (ulong)Header(position);
            var record = new byte[24 + body.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)record.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), previous);
            record[16] = info;
            record[17] = rmid;
            body.CopyTo(record, 24);
            var crc = new Crc32C();
            crc.Append(record.AsSpan(24));
            crc.Append(record.AsSpan(0, 20));
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(20), crc.Value);
            starts.Add(position);
            previous = position;
            int written = 0;
            while (written < record.Length)
            {
                if (position % 8192 == 0)
                {
                    var s = Seg(position);
                    int page = (int)(position % Segment);
                    BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(page + 2), (ushort)((page == 0 ? 0x0002 : 0) | 0x0001));
                    BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(page + 16), (uint)(record.Length - written));
                    position += (ulong)Header(position);
                }
                int take = Math.Min(8192 - (int)(position % 8192), record.Length - written);
                record.AsSpan(written, take).CopyTo(Seg(position).AsSpan((int)(position % Segment)));
                written += take;
                position += (ulong)take;
            }
            position = (position + 7) & ~7UL;
        }
        Seg(position);
        return (segments, starts, position);
    }

    private static byte[] MainData(params uint[] words) => words.SelectMany(U32).ToArray();

    [Fact]
    public void Records_split_over_pages_and_segments_come_back_whole_with_every_block_reference()
    {
        var records = new List<(byte, byte, byte[])>();
        for (int i = 0; i < 40; i++)
            records.Add((10, 0x00, Body([(1663, 5, 16384, 0, (uint)i, 3000 + 97 * i, i % 3 == 0), (1663, 5, 16384, 0, (uint)(200000 + i), 0, true)], MainData(7, 8, 9))));
        records.Add((11, 0x10, Body([(1663, 5, 16390, 0, 3, 20000, false)], new byte[300]))); // longer than two pages: DATA_LONG
        var (segments, starts, end) = Lay(Segment - 8192 * 3 + 200 - 200 % 8, records);
        Assert.True(segments.Count >= 3); // crosses at least two segment boundaries

        var reader = new WalRecordReader(n => segments.GetValueOrDefault(n), Segment, Timeline);
        var read = reader.Read(starts[0], end).ToList();
        Assert.Equal(starts, read.Select(r => r.Lsn));
        Assert.Equal(new WalBlockRef(1663, 5, 16384, 0, 200007), read[7].Blocks[1]); // SAME_REL
        // Main data is a slice of the reader's buffer: read it while the record is current.
        Assert.All(reader.Read(starts[0], end).Take(40), r => Assert.Equal(MainData(7, 8, 9), r.MainData.ToArray()));
        Assert.Equal(300, read[^1].MainData.Length);

        var map = new WalBlockMap();
        foreach (var r in read) map.Add(r);
        Assert.Null(map.Unusable);
        Assert.Equal(81, map.Blocks);
        Assert.Equal([0u, 1, 2], map.For("base/5/16384")![..3]);
        Assert.Equal([(uint)(200000 - 131072)], map.For("base/5/16384.1")![..1]);
        Assert.Equal([3u], map.For("base/5/16390")!);
        Assert.Empty(map.For("base/5/99999")!);
        Assert.Null(map.For("base/5/16384_vm")); // only main forks are vouched for
        Assert.Null(map.For("pg_xact/0000"));
    }

    [Fact]
    public void A_window_of_two_pages_reads_the_same_records_as_whole_segments()
    {
        var records = new List<(byte, byte, byte[])>();
        for (int i = 0; i < 60; i++)
            records.Add((10, 0x00, Body([(1663, 5, 16384, 0, (uint)i, 2000 + 131 * i, i % 4 == 0)], MainData((uint)i))));
        records.Add((11, 0x10, Body([(1663, 5, 16390, 0, 3, 20000, false)], new byte[300]))); // spans several windows
        var (segments, starts, end) = Lay(Segment - 8192 * 2 + 40, records);
        var whole = new WalRecordReader(n => segments.GetValueOrDefault(n), Segment, Timeline)
            .Read(starts[0], end).Select(r => (r.Lsn, r.Blocks.ToList(), r.MainData.ToArray())).ToList();

        int windows = 0;
        var cut = WalRecordReader.WholeSegments(n => segments.GetValueOrDefault(n), Segment);
        var small = new WalRecordReader((n, offset, into) =>
        {
            windows++;
            Assert.Equal(0, offset % (2 * 8192));
            Assert.True(offset + into.Length <= Segment);
            return cut(n, offset, into);
        }, Segment, Timeline, windowSize: 2 * 8192);
        var windowed = small.Read(starts[0], end).Select(r => (r.Lsn, r.Blocks.ToList(), r.MainData.ToArray())).ToList();

        Assert.Equal(whole.Count, windowed.Count);
        for (int i = 0; i < whole.Count; i++)
        {
            Assert.Equal(whole[i].Lsn, windowed[i].Lsn);
            Assert.Equal(whole[i].Item2, windowed[i].Item2);
            Assert.Equal(whole[i].Item3, windowed[i].Item3);
        }
        Assert.True(windows > segments.Count * 2, $"{windows} windows for {segments.Count} segments");
        Assert.Throws<ArgumentOutOfRangeException>(() => new WalRecordReader(cut, Segment, Timeline, windowSize: 3 * 8192));
    }

    [Fact]
    public void A_recycled_page_a_bad_crc_and_a_missing_segment_are_errors_not_a_short_map()
    {
        var records = Enumerable.Range(0, 30).Select(i => ((byte)10, (byte)0, Body([(1663, 5, 1, 0, (uint)i, 5000, false)], []))).ToList();
        var (segments, starts, end) = Lay(40, records);

        var recycled = segments.ToDictionary(s => s.Key, s => (byte[])s.Value.Clone());
        BinaryPrimitives.WriteUInt64LittleEndian(recycled[0].AsSpan(8192 * 3 + 8), 999 * 8192); // an old page address
        Assert.Contains("recycled", Assert.Throws<WalUnreadableException>(() => new WalRecordReader(n => recycled.GetValueOrDefault(n), Segment, Timeline).Read(starts[0], end).ToList()).Message);

        var flipped = segments.ToDictionary(s => s.Key, s => (byte[])s.Value.Clone());
        flipped[0][(int)starts[5] + 60] ^= 1;
        Assert.Contains("CRC", Assert.Throws<WalUnreadableException>(() => new WalRecordReader(n => flipped.GetValueOrDefault(n), Segment, Timeline).Read(starts[0], end).ToList()).Message);

        var missing = segments.Where(s => s.Key == 0).ToDictionary(s => s.Key, s => s.Value);
        Assert.Contains("not available", Assert.Throws<WalUnreadableException>(() => new WalRecordReader(n => missing.GetValueOrDefault(n), Segment, Timeline).Read(starts[0], end).ToList()).Message);
    }

    [Fact]
    public void Smgr_and_dbase_records_withdraw_what_they_touch_and_an_unknown_special_record_withdraws_everything()
    {
        var records = new List<(byte, byte, byte[])>
        {
            (10, 0, Body([(1663, 5, 100, 0, 1, 10, false), (1663, 5, 200, 0, 1, 10, false), (1663, 6, 300, 0, 1, 10, false)], [])),
            (2, 0x20 | 0x01, Body([], MainData(7, 1663, 5, 100, 7))),          // SMGR truncate of 1663/5/100 to 7 blocks
            (4, 0x00 | 0x01, Body([], MainData(6, 1663, 1, 1663))),            // DBASE create (file copy) of database 6
            (10, 0, Body([(1663, 5, 250, 0, 4, 10, false)], [])),
            (1, 0x80 | 0x01, Body([], MainData(0, 0, 0x04 | 0x02 | 0x01, 5, 1663, 1, 777, 1, 1663, 5, 250))), // XACT commit dropping 1663/5/250
        };
        var (segments, starts, end) = Lay(8192 + 24, records);
        var map = new WalBlockMap();
        foreach (var r in new WalRecordReader(n => segments.GetValueOrDefault(n), Segment, Timeline).Read(starts[0], end)) map.Add(r);
        Assert.Null(map.For("base/5/100"));
        Assert.Equal([1u], map.For("base/5/200")!);
        Assert.Null(map.For("base/6/300"));
        Assert.Null(map.For("base/5/250"));
        Assert.Null(map.Unusable);

        var special = Lay(8192 + 24, [(10, 0x01, Body([], MainData(1)))]);
        var refused = new WalBlockMap();
        foreach (var r in new WalRecordReader(n => special.Segments.GetValueOrDefault(n), Segment, Timeline).Read(special.Starts[0], special.End)) refused.Add(r);
        Assert.NotNull(refused.Unusable);
        Assert.Null(refused.For("base/5/200"));
    }

    [Theory]
    [InlineData("base/5/16384", 1663u, 5u, 16384u, 0u)]
    [InlineData("base/5/16384.3", 1663u, 5u, 16384u, 3u)]
    [InlineData("global/1262", 1664u, 0u, 1262u, 0u)]
    [InlineData("pg_tblspc/16500/PG_15_202209061/16501/16502.1", 16500u, 16501u, 16502u, 1u)]
    public void Data_directory_paths_map_to_relation_files(string path, uint spc, uint db, uint rel, uint segment) =>
        Assert.Equal((spc, db, rel, segment), WalBlockMap.Parse(path));

    [Theory]
    [InlineData("base/5/16384_fsm")]
    [InlineData("base/5/t3_16384")]
    [InlineData("base/5/pg_filenode.map")]
    [InlineData("pg_xact/0000")]
    [InlineData("base/5/16384.x")]
    public void Other_files_are_not_relation_main_forks(string path) => Assert.Null(WalBlockMap.Parse(path));
}
