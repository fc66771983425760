using System.Buffers.Binary;
using PgVault.Core.Errors;

namespace PgVault.Core.PostgreSql;

/// <summary>
/// The long page header at the start of every WAL segment (XLogLongPageHeaderData): it names the
/// system the segment belongs to and the segment size.
/// </summary>
internal sealed record WalSegmentHeader(ushort Magic, uint Timeline, ulong PageAddress, ulong SystemIdentifier, uint SegmentSize, uint BlockSize)
{
    /// <summary>Bytes needed to read the header.</summary>
    public const int Size = 40;

    private const ushort LongHeaderFlag = 0x0002;

    /// <summary>XLOG_PAGE_MAGIC by PostgreSQL major version.</summary>
    public static readonly IReadOnlyDictionary<int, ushort> MagicByMajor = new Dictionary<int, ushort>
    {
        [12] = 0xD101, [13] = 0xD106, [14] = 0xD10D, [15] = 0xD110, [16] = 0xD113, [17] = 0xD116,
    };

    public static WalSegmentHeader Parse(ReadOnlySpan<byte> bytes, string file)
    {
        if (bytes.Length < Size)
            throw new PgVaultException(ErrorCode.WalDamaged, $"'{file}' is too short to be a WAL segment ({bytes.Length} bytes)");
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(bytes);
        ushort info = BinaryPrimitives.ReadUInt16LittleEndian(bytes[2..]);
        if ((info & LongHeaderFlag) == 0 || !MagicByMajor.Values.Contains(magic))
            throw new PgVaultException(ErrorCode.WalDamaged, $"'{file}' does not start with a WAL segment header (magic 0x{magic:X4}, info 0x{info:X4})",
                "archive-push takes the %p path PostgreSQL passes to archive_command");
        var header = new WalSegmentHeader(
            magic,
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[32..]),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[36..]));
        if (header.SegmentSize < 1 << 20 || header.SegmentSize > 1 << 30 || (header.SegmentSize & (header.SegmentSize - 1)) != 0)
            throw new PgVaultException(ErrorCode.WalDamaged, $"'{file}' has an invalid WAL segment size in its header ({header.SegmentSize})");
        return header;
    }

    /// <summary>The PostgreSQL major version whose page magic this is, or 0 when unknown.</summary>
    public int MajorVersion => MagicByMajor.FirstOrDefault(kv => kv.Value == Magic).Key;
}
