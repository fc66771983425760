using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace PgVault.Core.Physical;

/// <summary>
/// PostgreSQL's data page checksum (src/include/storage/checksum_impl.h), so a physical backup can
/// check every page it copies. The 8 KiB page is read as 64 rows of 32 uint32 columns; each column
/// is an FNV-1a-like hash of its own (<c>t = sum ^ value; sum = t * FNV_PRIME ^ (t &gt;&gt; 17)</c>)
/// started from its own base offset, followed by two rounds of zeros. The 32 sums are xor-folded,
/// xored with the block number and reduced to <c>(sum % 65535) + 1</c>. pd_checksum (bytes 8-9)
/// counts as zero. The columns are independent, so they map onto SIMD lanes: 4 x Vector256 (or
/// 2 passes of 4 x Vector128), with a scalar fallback. Words are read in host order, like
/// PostgreSQL; every platform .NET runs PostgreSQL on is little-endian.
/// </summary>
internal static class PageChecksum
{
    public const int PageSize = 8192;

    /// <summary>RELSEG_SIZE: block number = segmentNo * 131072 + block index in the segment file.</summary>
    public const int BlocksPerSegment = 131072;

    private const int Columns = 32; // N_SUMS
    private const int RowBytes = Columns * sizeof(uint);
    private const uint FnvPrime = 16777619;

    /// <summary>checksumBaseOffsets: the initial state of each column's hash.</summary>
    private static ReadOnlySpan<uint> BaseOffsets =>
    [
        0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
        0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
        0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
        0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
    ];

    /// <summary>Clears pd_checksum: the low half of word 2 (bytes 8-9), keeping pd_flags.</summary>
    private const uint ChecksumWordMask = 0xFFFF0000;

    /// <summary>The checksum PostgreSQL stores in pd_checksum for this page at absolute block number <paramref name="blockNo"/>.</summary>
    public static ushort Compute(ReadOnlySpan<byte> page, uint blockNo)
    {
        CheckSize(page);
        uint sum = Vector256.IsHardwareAccelerated ? BlockVector256(page)
            : Vector128.IsHardwareAccelerated ? BlockVector128(page)
            : BlockScalar(page);
        return (ushort)((sum ^ blockNo) % 65535 + 1);
    }

    /// <summary>A "new" page (pd_upper == 0): never initialised, so PostgreSQL does not checksum it.</summary>
    public static bool IsNew(ReadOnlySpan<byte> page)
    {
        CheckSize(page);
        return BinaryPrimitives.ReadUInt16LittleEndian(page[14..]) == 0;
    }

    /// <summary>The checksum stored in the page (pd_checksum, offset 8).</summary>
    public static ushort Stored(ReadOnlySpan<byte> page)
    {
        CheckSize(page);
        return BinaryPrimitives.ReadUInt16LittleEndian(page[8..]);
    }

    /// <summary>pd_lsn: xlogid (high half, offset 0) then xrecoff (low half, offset 4).</summary>
    public static ulong PageLsn(ReadOnlySpan<byte> page)
    {
        CheckSize(page);
        return (ulong)BinaryPrimitives.ReadUInt32LittleEndian(page) << 32 | BinaryPrimitives.ReadUInt32LittleEndian(page[4..]);
    }

    /// <summary>
    /// The checksum side of PostgreSQL's PageIsVerified: a new page passes only when it is entirely
    /// zero, any other page only when its stored checksum is the one computed for
    /// <paramref name="blockNo"/>. (PageIsVerified's header sanity checks are not repeated here.)
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> page, uint blockNo) =>
        IsNew(page) ? !page.ContainsAnyExcept((byte)0) : Stored(page) == Compute(page, blockNo);

    private static void CheckSize(ReadOnlySpan<byte> page)
    {
        if (page.Length != PageSize) throw new ArgumentException($"a page is {PageSize} bytes, not {page.Length}", nameof(page));
    }

    /// <summary>pg_checksum_block with the 32 columns in 4 x 8 lanes.</summary>
    internal static uint BlockVector256(ReadOnlySpan<byte> page)
    {
        ref byte p = ref MemoryMarshal.GetReference(page);
        ref uint offsets = ref MemoryMarshal.GetReference(BaseOffsets);
        var prime = Vector256.Create(FnvPrime);
        var mask = Vector256.Create(uint.MaxValue, uint.MaxValue, ChecksumWordMask, uint.MaxValue, uint.MaxValue, uint.MaxValue, uint.MaxValue, uint.MaxValue);
        var s0 = Round(Vector256.LoadUnsafe(ref offsets, 0), Vector256.LoadUnsafe(ref p).AsUInt32() & mask, prime);
        var s1 = Round(Vector256.LoadUnsafe(ref offsets, 8), Vector256.LoadUnsafe(ref p, 32).AsUInt32(), prime);
        var s2 = Round(Vector256.LoadUnsafe(ref offsets, 16), Vector256.LoadUnsafe(ref p, 64).AsUInt32(), prime);
        var s3 = Round(Vector256.LoadUnsafe(ref offsets, 24), Vector256.LoadUnsafe(ref p, 96).AsUInt32(), prime);
        for (nuint row = RowBytes; row < PageSize; row += RowBytes)
        {
            s0 = Round(s0, Vector256.LoadUnsafe(ref p, row).AsUInt32(), prime);
            s1 = Round(s1, Vector256.LoadUnsafe(ref p, row + 32).AsUInt32(), prime);
            s2 = Round(s2, Vector256.LoadUnsafe(ref p, row + 64).AsUInt32(), prime);
            s3 = Round(s3, Vector256.LoadUnsafe(ref p, row + 96).AsUInt32(), prime);
        }
        var zero = Vector256<uint>.Zero;
        var all = Round(Round(s0, zero, prime), zero, prime) ^ Round(Round(s1, zero, prime), zero, prime)
            ^ Round(Round(s2, zero, prime), zero, prime) ^ Round(Round(s3, zero, prime), zero, prime);
        return Fold(all.GetLower() ^ all.GetUpper());
    }

    /// <summary>pg_checksum_block in two passes (columns 0-15, then 16-31) of 4 x 4 lanes: for 128-bit SIMD (ARM64 NEON).</summary>
    internal static uint BlockVector128(ReadOnlySpan<byte> page) => HalfVector128(page, 0) ^ HalfVector128(page, RowBytes / 2);

    private static uint HalfVector128(ReadOnlySpan<byte> page, int column)
    {
        ref byte p = ref Unsafe.Add(ref MemoryMarshal.GetReference(page), column);
        ref uint offsets = ref Unsafe.Add(ref MemoryMarshal.GetReference(BaseOffsets), column / sizeof(uint));
        var prime = Vector128.Create(FnvPrime);
        var mask = column == 0 ? Vector128.Create(uint.MaxValue, uint.MaxValue, ChecksumWordMask, uint.MaxValue) : Vector128<uint>.AllBitsSet;
        var s0 = Round(Vector128.LoadUnsafe(ref offsets, 0), Vector128.LoadUnsafe(ref p).AsUInt32() & mask, prime);
        var s1 = Round(Vector128.LoadUnsafe(ref offsets, 4), Vector128.LoadUnsafe(ref p, 16).AsUInt32(), prime);
        var s2 = Round(Vector128.LoadUnsafe(ref offsets, 8), Vector128.LoadUnsafe(ref p, 32).AsUInt32(), prime);
        var s3 = Round(Vector128.LoadUnsafe(ref offsets, 12), Vector128.LoadUnsafe(ref p, 48).AsUInt32(), prime);
        for (nuint row = RowBytes; row < PageSize; row += RowBytes)
        {
            s0 = Round(s0, Vector128.LoadUnsafe(ref p, row).AsUInt32(), prime);
            s1 = Round(s1, Vector128.LoadUnsafe(ref p, row + 16).AsUInt32(), prime);
            s2 = Round(s2, Vector128.LoadUnsafe(ref p, row + 32).AsUInt32(), prime);
            s3 = Round(s3, Vector128.LoadUnsafe(ref p, row + 48).AsUInt32(), prime);
        }
        var zero = Vector128<uint>.Zero;
        return Fold(Round(Round(s0, zero, prime), zero, prime) ^ Round(Round(s1, zero, prime), zero, prime)
            ^ Round(Round(s2, zero, prime), zero, prime) ^ Round(Round(s3, zero, prime), zero, prime));
    }

    /// <summary>pg_checksum_block one column at a time, as checksum_impl.h writes it.</summary>
    internal static uint BlockScalar(ReadOnlySpan<byte> page)
    {
        ReadOnlySpan<uint> words = MemoryMarshal.Cast<byte, uint>(page);
        Span<uint> sums = stackalloc uint[Columns];
        for (int j = 0; j < Columns; j++)
            sums[j] = Round(BaseOffsets[j], j == 2 ? words[j] & ChecksumWordMask : words[j]);
        for (int row = Columns; row < words.Length; row += Columns)
        {
            ReadOnlySpan<uint> values = words.Slice(row, Columns);
            for (int j = 0; j < Columns; j++) sums[j] = Round(sums[j], values[j]);
        }
        uint result = 0;
        foreach (uint sum in sums) result ^= Round(Round(sum, 0), 0);
        return result;
    }

    /// <summary>CHECKSUM_COMP.</summary>
    private static uint Round(uint sum, uint value)
    {
        uint t = sum ^ value;
        return t * FnvPrime ^ t >> 17;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round(Vector256<uint> sum, Vector256<uint> value, Vector256<uint> prime)
    {
        var t = sum ^ value;
        return t * prime ^ Vector256.ShiftRightLogical(t, 17);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Round(Vector128<uint> sum, Vector128<uint> value, Vector128<uint> prime)
    {
        var t = sum ^ value;
        return t * prime ^ Vector128.ShiftRightLogical(t, 17);
    }

    private static uint Fold(Vector128<uint> v) => v.GetElement(0) ^ v.GetElement(1) ^ v.GetElement(2) ^ v.GetElement(3);
}
