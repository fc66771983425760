using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace PgVault.Core.Physical;

/// <summary>
/// CRC-32C (Castagnoli), as PostgreSQL's backup_manifest uses it: SSE4.2 instructions where the
/// CPU has them, a table otherwise. <see cref="Hex"/> gives the checksum the way the manifest
/// writes it (the four bytes of the value in memory order, little-endian, as hex).
/// </summary>
internal sealed class Crc32C
{
    private static readonly uint[] Table = BuildTable();
    private uint _state = 0xFFFFFFFF;

    public void Append(ReadOnlySpan<byte> data)
    {
        uint crc = _state;
        if (Sse42.X64.IsSupported)
        {
            ulong wide = crc;
            while (data.Length >= 8)
            {
                wide = Sse42.X64.Crc32(wide, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[8..];
            }
            crc = (uint)wide;
            foreach (byte b in data) crc = Sse42.Crc32(crc, b);
        }
        else
        {
            foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        _state = crc;
    }

    public uint Value => ~_state;

    public string Hex()
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Value);
        return Convert.ToHexStringLower(bytes);
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78 ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
