using System.Buffers.Binary;
using System.Text;
using PgVault.Core.Errors;

namespace PgVault.Core.Physical;

/// <summary>
/// The XXH64 of every 8 KiB page of each large file of a backup, stored as one object per backup
/// ("pagehashes") so the next incremental can find the changed pages of a changed file and store
/// only those. Format: "PVPH" u32 version=1, u32 files; per file u16 path length, UTF-8 path,
/// u64 size, u32 pages, pages x u64 (little-endian). Backups stream it through
/// <see cref="PageHashSpool"/>; the in-memory forms below serve tests and small tools.
/// </summary>
internal static class PageHashes
{
    public const int PageSize = 8192;

    /// <summary>The format version written (and the only one read).</summary>
    public const uint Version = 1;

    /// <summary>Files from this size on get page hashes (and can be stored as deltas).</summary>
    public const long MinFileSize = 1L << 20;

    public static int PageCount(long size) => (int)((size + PageSize - 1) / PageSize);

    public static byte[] Serialize(IReadOnlyDictionary<string, (long Size, ulong[] Hashes)> files)
    {
        using var output = new MemoryStream();
        Span<byte> head = stackalloc byte[12];
        "PVPH"u8.CopyTo(head);
        BinaryPrimitives.WriteUInt32LittleEndian(head[4..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(head[8..], (uint)files.Count);
        output.Write(head);
        Span<byte> number = stackalloc byte[8];
        foreach (var (path, (size, hashes)) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            byte[] name = Encoding.UTF8.GetBytes(path);
            BinaryPrimitives.WriteUInt16LittleEndian(number, (ushort)name.Length);
            output.Write(number[..2]);
            output.Write(name);
            BinaryPrimitives.WriteUInt64LittleEndian(number, (ulong)size);
            output.Write(number);
            BinaryPrimitives.WriteUInt32LittleEndian(number, (uint)hashes.Length);
            output.Write(number[..4]);
            foreach (ulong h in hashes)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(number, h);
                output.Write(number);
            }
        }
        return output.ToArray();
    }

    public static Dictionary<string, (long Size, ulong[] Hashes)> Deserialize(ReadOnlySpan<byte> data, string objectKey)
    {
        try
        {
            if (data.Length < 12 || !data[..4].SequenceEqual("PVPH"u8) || BinaryPrimitives.ReadUInt32LittleEndian(data[4..]) != 1)
                throw new InvalidDataException("not a version-1 page hash object");
            int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[8..]);
            var files = new Dictionary<string, (long, ulong[])>(count, StringComparer.Ordinal);
            int at = 12;
            for (int i = 0; i < count; i++)
            {
                int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(data[at..]);
                at += 2;
                string path = Encoding.UTF8.GetString(data.Slice(at, nameLength));
                at += nameLength;
                long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(data[at..]);
                at += 8;
                int pages = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[at..]);
                at += 4;
                var hashes = new ulong[pages];
                for (int p = 0; p < pages; p++, at += 8) hashes[p] = BinaryPrimitives.ReadUInt64LittleEndian(data[at..]);
                files[path] = (size, hashes);
            }
            if (at != data.Length) throw new InvalidDataException("trailing bytes");
            return files;
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidDataException or IndexOutOfRangeException)
        {
            throw PgVaultException.Corrupt(objectKey, e.Message, e);
        }
    }
}
