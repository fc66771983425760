using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace PgVault.Core.Physical;

/// <summary>
/// The content check of a file stored as page deltas from the WAL block map, whose unchanged
/// pages were not read (so its XXH128 and CRC-32C cannot be known): the XXH128 of the XXH64 of
/// every 8 KiB page (the last one may be shorter), each written as 8 little-endian bytes. The
/// backup computes it from the page hashes it carries forward and reads; a restore from the file
/// it wrote.
/// </summary>
internal static class PageDigest
{
    public static string From(ReadOnlySpan<ulong> pageHashes)
    {
        var xxh = new XxHash128();
        Span<byte> bytes = stackalloc byte[8];
        foreach (ulong hash in pageHashes)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, hash);
            xxh.Append(bytes);
        }
        return Convert.ToHexStringLower(xxh.GetCurrentHash());
    }

    public static string Of(SafeFileHandle handle)
    {
        const int bufferSize = 1 << 20;
        var xxh = new XxHash128();
        Span<byte> bytes = stackalloc byte[8];
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
        try
        {
            long position = 0;
            while (true)
            {
                int filled = 0;
                while (filled < bufferSize)
                {
                    int read = RandomAccess.Read(handle, buffer.AsSpan(filled, bufferSize - filled), position + filled);
                    if (read == 0) break;
                    filled += read;
                }
                for (int at = 0; at < filled; at += PageHashes.PageSize)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, XxHash64.HashToUInt64(buffer.AsSpan(at, Math.Min(PageHashes.PageSize, filled - at))));
                    xxh.Append(bytes);
                }
                position += filled;
                if (filled < bufferSize) break;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Convert.ToHexStringLower(xxh.GetCurrentHash());
    }
}
