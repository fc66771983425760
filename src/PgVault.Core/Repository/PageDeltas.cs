using System.Buffers.Binary;

namespace PgVault.Core.Repository;

/// <summary>
/// The content of a page-delta member (docs/repository-format.md, <c>files[].deltas[]</c>): per
/// changed page, u32 page number, u32 length and the page's bytes; then u32 0xFFFFFFFF and the
/// u64 final size of the file (all little-endian). Pages are 8 KiB; the last page of a file may be shorter.
/// </summary>
internal static class PageDeltas
{
    /// <summary>Receives one page of a delta: its number in the file and its bytes.</summary>
    public delegate void PageAction(uint number, ReadOnlySpan<byte> page);

    public const int PageSize = 8192;

    private const uint End = uint.MaxValue;

    /// <summary>Appends one changed page (number <paramref name="number"/>) to a delta member's content.</summary>
    public static void WritePage(Stream content, int number, ReadOnlySpan<byte> page)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)number);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)page.Length);
        content.Write(header);
        content.Write(page);
    }

    /// <summary>Ends a delta member's content: the end mark and the file's final size.</summary>
    public static void WriteEnd(Stream content, long finalSize)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(header, End);
        BinaryPrimitives.WriteUInt64LittleEndian(header[4..], (ulong)finalSize);
        content.Write(header);
    }

    /// <summary>
    /// Reads a delta member's content to its end mark, handing each page to <paramref name="apply"/>
    /// (page number, bytes); returns the number of pages and the final size. Damage (a length the
    /// format forbids, content that ends early) throws <see cref="InvalidDataException"/> or
    /// <see cref="EndOfStreamException"/>.
    /// </summary>
    public static (int Pages, long FinalSize) Read(Stream content, PageAction apply)
    {
        byte[] page = new byte[PageSize];
        byte[] head = new byte[12];
        int pages = 0;
        while (true)
        {
            content.ReadExactly(head, 0, 4);
            uint number = BinaryPrimitives.ReadUInt32LittleEndian(head);
            if (number == End)
            {
                content.ReadExactly(head, 4, 8);
                return (pages, (long)BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(4)));
            }
            content.ReadExactly(head, 4, 4);
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(4));
            if (length is <= 0 or > PageSize) throw new InvalidDataException($"page {number} has length {length}");
            content.ReadExactly(page, 0, length);
            apply(number, page.AsSpan(0, length));
            pages++;
        }
    }
}
