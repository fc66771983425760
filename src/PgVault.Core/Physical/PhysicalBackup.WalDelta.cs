using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Hashing;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalBackup
{
    /// <summary>
    /// <see cref="CopyDelta"/> for a file the WAL block map vouches for: reads only the pages the
    /// WAL listed plus every page at or beyond the reference's last complete page, and carries the
    /// reference's hash for every other page. The member written is the same kind of page delta
    /// <see cref="CopyDelta"/> writes (a listed page whose hash did not change is not stored). The
    /// file's XXH128 and CRC-32C are unknown (most of it was not read): the entry carries a
    /// <see cref="PageDigest"/> instead. With --verify-block-map every page is read and a page that
    /// changed without being listed fails the backup. Returns Done = false (nothing written) when
    /// the file is shorter than in the reference: the page-hash scan then handles it.
    /// </summary>
    private (bool Done, PhysicalFile? File) CopyDeltaFromWal(ScannedFile file, PhysicalFile before, ReadOnlySpan<ulong> referenceHashes, uint[] listed, PackWriter pack,
        string id, string packName, ulong startLsn, bool checksums, CompressionSpec compression, Action<long> advanced,
        PageHashSpool pageHashes)
    {
        if (OpenForCopy(file) is not { } handle) return (true, null);
        using (handle)
        {
            long size = RandomAccess.GetLength(handle);
            if (size < before.Size) return (false, null);
            int pages = PageHashes.PageCount(size);
            // Pages the reference holds whole; a short last page of the reference is read again.
            int carried = (int)Math.Min(Math.Min(before.Size / PageHashes.PageSize, referenceHashes.Length), pages);
            using var hashes = new PageHashList(pages);
            hashes.SetCount(pages, zeroFrom: carried);
            referenceHashes[..carried].CopyTo(hashes.Span);
            bool verify = verifyBlockMap;
            // Runs of pages to read: the listed pages below `carried`, then everything from `carried` on (or the whole file to verify).
            var runs = new List<(int First, int Count)>();
            if (verify) runs.Add((0, pages));
            else
            {
                foreach (uint b in listed)
                {
                    if (b >= carried) break;
                    if (runs.Count > 0 && runs[^1].First + runs[^1].Count == b) runs[^1] = (runs[^1].First, runs[^1].Count + 1);
                    else runs.Add(((int)b, 1));
                }
                if (pages > carried) runs.Add((carried, pages - carried));
            }
            int? segment = checksums ? DataDirectory.RelationSegment(file.Path) : null;
            List<long>? badPages = null;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            int changed = 0, read = 0;
            long end = size;
            try
            {
                PackMember placed;
                using (var member = pack.BeginMember(compression))
                {
                    var compressor = member.Content;
                    foreach (var (first, count) in runs)
                    {
                        for (int at = first; at < first + count && (long)at * PageHashes.PageSize < end;)
                        {
                            int take = Math.Min(first + count - at, BufferSize / PageHashes.PageSize);
                            long position = (long)at * PageHashes.PageSize;
                            int want = (int)Math.Min((long)take * PageHashes.PageSize, end - position);
                            int got = FillSpan(handle, buffer.AsSpan(0, want), position);
                            if (got < want) end = position + got; // it shrank under the copy: WAL replay makes it consistent
                            if (segment is { } seg) CheckPages(handle, buffer, got, position, seg, startLsn, ref badPages);
                            for (int o = 0; o < got; o += PageHashes.PageSize)
                            {
                                int number = at + o / PageHashes.PageSize;
                                var page = buffer.AsSpan(o, Math.Min(PageHashes.PageSize, got - o));
                                ulong hash = XxHash64.HashToUInt64(page);
                                read++;
                                bool unchanged = number < carried && referenceHashes[number] == hash;
                                if (verify && !unchanged && number < carried && Array.BinarySearch(listed, (uint)number) < 0
                                    && !ChangedSinceStart(handle, page, position + o, referenceHashes[number], startLsn))
                                    throw new PgVaultException(ErrorCode.BlockMapMismatch,
                                        $"block {number} of {file.Path} changed since backup {blockMapReference}, but the WAL from {blockMapRange} does not list it",
                                        "take this backup without --verify-block-map (the page-hash scan is then used for it) and report this as a bug");
                                hashes[number] = hash;
                                if (unchanged) continue;
                                PageDeltas.WritePage(compressor, number, page);
                                changed++;
                            }
                            advanced(got);
                            at += take;
                            if (got < want) break;
                        }
                    }
                    PageDeltas.WriteEnd(compressor, end);
                    placed = member.Complete();
                }
                if (end < size) hashes.SetCount(PageHashes.PageCount(end));
                Interlocked.Increment(ref blockMapFiles);
                Interlocked.Add(ref blockMapPagesRead, read);
                pageHashes.Add(file.Path, end, hashes.Span);
                if (changed == 0 && end == before.Size)
                    return (true, before with { Mode = file.Mode, Mtime = file.Mtime, BadPages = badPages });
                return (true, WithDelta(before, file, id, packName, placed, changed, end, badPages) with
                {
                    Crc32c = null,
                    Xxh128 = null,
                    PageDigest = PageDigest.From(hashes.Span),
                });
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// --verify-block-map: an unlisted page that differs from the reference is no mismatch when it
    /// changed after this backup started (its LSN says so; replay rewrites it), also on a second
    /// read (the first may have caught a write half done).
    /// </summary>
    private static bool ChangedSinceStart(Microsoft.Win32.SafeHandles.SafeFileHandle handle, ReadOnlySpan<byte> page, long position, ulong referenceHash, ulong startLsn)
    {
        if (page.Length == PageChecksum.PageSize && PageChecksum.PageLsn(page) >= startLsn) return true;
        Span<byte> again = stackalloc byte[PageChecksum.PageSize];
        int read = FillSpan(handle, again[..page.Length], position);
        return read == page.Length && (XxHash64.HashToUInt64(again[..read]) == referenceHash
            || (read == PageChecksum.PageSize && PageChecksum.PageLsn(again) >= startLsn));
    }

    /// <summary>Reads until <paramref name="span"/> is full or the file ends.</summary>
    private static int FillSpan(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> span, long position)
    {
        int filled = 0;
        while (filled < span.Length)
        {
            int read = RandomAccess.Read(handle, span[filled..], position + filled);
            if (read == 0) break;
            filled += read;
        }
        return filled;
    }
}
