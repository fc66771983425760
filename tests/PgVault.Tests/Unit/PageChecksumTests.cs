using System.Buffers.Binary;
using System.Diagnostics;
using PgVault.Core.Physical;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Unit;

public sealed class PageChecksumTests(ITestOutputHelper output)
{
    /// <summary>A fixed, non-trivial page: byte i = bits 13..20 of i * 2654435761 (pd_upper = 0x0145, so not new).</summary>
    private static byte[] PatternPage()
    {
        var page = new byte[PageChecksum.PageSize];
        for (int i = 0; i < page.Length; i++) page[i] = (byte)(unchecked((uint)i * 2654435761u) >> 13);
        return page;
    }

    private static byte[] RandomPage(Random random)
    {
        var page = new byte[PageChecksum.PageSize];
        random.NextBytes(page);
        page[15] |= 1; // pd_upper != 0
        return page;
    }

    private static byte[] WithStoredChecksum(byte[] page, uint blockNo)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(8), PageChecksum.Compute(page, blockNo));
        return page;
    }

    // Expected values from PostgreSQL 15 itself: pageinspect's page_checksum(page, blkno) on the same bytes.
    [Theory]
    [InlineData(false, 0u, 16078)]
    [InlineData(false, 1u, 16077)]
    [InlineData(false, 393223u, 16069)]
    [InlineData(false, 2147483647u, 16692)]
    [InlineData(true, 0u, 3612)]
    [InlineData(true, 1u, 3613)]
    [InlineData(true, 393223u, 3621)]
    [InlineData(true, 2147483647u, 29157)]
    public void Compute_matches_postgres_page_checksum(bool allOnes, uint blockNo, int expected)
    {
        byte[] page = allOnes ? Enumerable.Repeat((byte)0xFF, PageChecksum.PageSize).ToArray() : PatternPage();
        Assert.Equal((ushort)expected, PageChecksum.Compute(page, blockNo));
    }

    [Fact]
    public void Vector_and_scalar_paths_agree()
    {
        var random = new Random(1234);
        var pages = Enumerable.Range(0, 200).Select(_ => RandomPage(random)).Append(PatternPage()).ToList();
        pages.Add(new byte[PageChecksum.PageSize]);
        foreach (var page in pages)
        {
            uint scalar = PageChecksum.BlockScalar(page);
            Assert.Equal(scalar, PageChecksum.BlockVector128(page));
            Assert.Equal(scalar, PageChecksum.BlockVector256(page));
        }
        Assert.Equal(pages.Count, pages.Select(p => PageChecksum.BlockScalar(p)).Distinct().Count());
    }

    [Fact]
    public void The_stored_checksum_is_ignored_but_every_other_byte_counts()
    {
        byte[] page = PatternPage();
        ushort original = PageChecksum.Compute(page, 7);
        foreach (var path in new Func<byte[], uint>[] { p => PageChecksum.BlockScalar(p), p => PageChecksum.BlockVector128(p), p => PageChecksum.BlockVector256(p) })
        {
            uint block = path(page);
            byte[] copy = (byte[])page.Clone();
            copy[8] ^= 0xFF;
            copy[9] ^= 0x5A;
            Assert.Equal(block, path(copy));
            foreach (int offset in new[] { 0, 7, 10, 11, 14, 127, 128, 4096, 8191 })
            {
                copy = (byte[])page.Clone();
                copy[offset] ^= 0x01;
                Assert.NotEqual(block, path(copy));
            }
        }
        Assert.Equal(original, PageChecksum.Compute(page, 7));
        Assert.NotEqual(original, PageChecksum.Compute(page, 8));
    }

    [Fact]
    public void Header_fields_are_read_little_endian()
    {
        var page = new byte[PageChecksum.PageSize];
        BinaryPrimitives.WriteUInt32LittleEndian(page, 0x00000002);          // xlogid
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(4), 0xA0B0C0D0); // xrecoff
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(8), 0x1234);    // pd_checksum
        Assert.Equal(0x2_A0B0C0D0UL, PageChecksum.PageLsn(page));
        Assert.Equal(0x1234, PageChecksum.Stored(page));
        Assert.True(PageChecksum.IsNew(page));
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(14), 0x1F00);   // pd_upper
        Assert.False(PageChecksum.IsNew(page));
    }

    [Fact]
    public void Verify_accepts_the_right_checksum_only_at_the_right_block()
    {
        const uint block = PageChecksum.BlocksPerSegment + 42;
        byte[] page = WithStoredChecksum(PatternPage(), block);
        Assert.True(PageChecksum.Verify(page, block));
        Assert.False(PageChecksum.Verify(page, block + 1));
        Assert.False(PageChecksum.Verify(page, 42));

        byte[] flipped = (byte[])page.Clone();
        flipped[5000] ^= 0x10;
        Assert.False(PageChecksum.Verify(flipped, block));

        byte[] offByOne = (byte[])page.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(offByOne.AsSpan(8), (ushort)(PageChecksum.Stored(page) + 1));
        Assert.False(PageChecksum.Verify(offByOne, block));
    }

    [Fact]
    public void An_all_zero_page_is_new_and_valid_anywhere_but_a_new_page_with_data_is_not()
    {
        var zero = new byte[PageChecksum.PageSize];
        Assert.True(PageChecksum.IsNew(zero));
        foreach (uint block in new uint[] { 0, 5, PageChecksum.BlocksPerSegment, uint.MaxValue })
            Assert.True(PageChecksum.Verify(zero, block));

        var garbage = new byte[PageChecksum.PageSize];
        garbage[4000] = 1;
        Assert.True(PageChecksum.IsNew(garbage));
        Assert.False(PageChecksum.Verify(garbage, 0));

        // A real page whose pd_upper was zeroed is "new" but not zero: rejected whatever its checksum.
        byte[] page = WithStoredChecksum(PatternPage(), 3);
        page[14] = page[15] = 0;
        Assert.False(PageChecksum.Verify(page, 3));
    }

    [Fact]
    public void Pages_of_another_size_are_refused()
    {
        Assert.Throws<ArgumentException>(() => PageChecksum.Compute(new byte[4096], 0));
        Assert.Throws<ArgumentException>(() => PageChecksum.Verify(new byte[PageChecksum.PageSize + 1], 0));
        Assert.Throws<ArgumentException>(() => PageChecksum.PageLsn(new byte[8]));
    }

    /// <summary>A micro-measurement, printed not asserted: 4 MiB of pages, each path for ~300 ms.</summary>
    [Fact]
    public void Throughput_is_reported()
    {
        var random = new Random(99);
        var buffer = new byte[512 * PageChecksum.PageSize];
        random.NextBytes(buffer);
        var paths = new (string Name, Func<byte[], int, uint> Block)[]
        {
            ("Compute (dispatch)", (b, i) => PageChecksum.Compute(b.AsSpan(i * PageChecksum.PageSize, PageChecksum.PageSize), (uint)i)),
            ("Vector256", (b, i) => PageChecksum.BlockVector256(b.AsSpan(i * PageChecksum.PageSize, PageChecksum.PageSize))),
            ("Vector128", (b, i) => PageChecksum.BlockVector128(b.AsSpan(i * PageChecksum.PageSize, PageChecksum.PageSize))),
            ("Scalar", (b, i) => PageChecksum.BlockScalar(b.AsSpan(i * PageChecksum.PageSize, PageChecksum.PageSize))),
        };
        foreach (var (name, block) in paths)
        {
            uint sink = 0;
            var watch = Stopwatch.StartNew();
            while (watch.ElapsedMilliseconds < 200) sink ^= block(buffer, 0); // warm up: let tiered JIT reach tier 1
            long bytes = 0;
            watch.Restart();
            while (watch.ElapsedMilliseconds < 300)
            {
                for (int i = 0; i < 512; i++) sink ^= block(buffer, i);
                bytes += buffer.Length;
            }
            output.WriteLine($"{name,-20} {bytes / watch.Elapsed.TotalSeconds / 1e9:F2} GB/s (Vector256 accelerated: {Vector256IsAccelerated}, sink {sink:x8})");
        }
        // The three block paths agree over the whole buffer.
        uint one = 0, two = 0, three = 0;
        for (int i = 0; i < 512; i++)
        {
            one ^= paths[1].Block(buffer, i);
            two ^= paths[2].Block(buffer, i);
            three ^= paths[3].Block(buffer, i);
        }
        Assert.Equal(one, two);
        Assert.Equal(one, three);
    }

    private static bool Vector256IsAccelerated => System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated;
}
