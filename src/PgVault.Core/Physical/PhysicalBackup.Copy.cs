using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalBackup
{
    /// <summary>Files below this size are packed together; larger ones get a pack of their own.</summary>
    internal const long SmallFileLimit = 2L << 20;

    /// <summary>How many bytes of small files go in one pack (before compression).</summary>
    internal const long PackTarget = 32L << 20;

    private const int BufferSize = 1 << 20; // a multiple of the page size

    /// <summary>A file stored as page deltas gets stored whole again after this many deltas.</summary>
    private const int MaxDeltas = 8;

    private sealed record CopyResult(List<PhysicalFile> Files, List<StoredFile>[] Packs, int FilesStored, int FilesReferenced, long BytesReferenced,
        int FilesAsDeltas);

    /// <summary>
    /// A file to read. <paramref name="Reference"/>: its entry in the reference backup when the
    /// content may be unchanged and must be compared by checksum. <paramref name="DeltaBase"/>: the
    /// reference entry when only the pages that changed since it are stored.
    /// </summary>
    private sealed record CopyItem(ScannedFile File, PhysicalFile? Reference, PhysicalFile? DeltaBase = null);

    private async Task<CopyResult> CopyAsync(string id, List<ScannedFile> scanned, BackupManifest? reference,
        PageHashSpool hashes, int timeline, ulong startLsn,
        DateTimeOffset startTime, bool checksums, PhysicalBackupOptions options, CancellationToken ct)
    {
        var files = new ConcurrentBag<PhysicalFile>();
        int asDeltas = 0;
        var toCopy = new List<CopyItem>();
        // A changed large file whose pages the reference recorded is stored as the pages that changed.
        PhysicalFile? DeltaBaseFor(ScannedFile file, PhysicalFile before) =>
            file.Size >= PageHashes.MinFileSize && hashes.HasReference(file.Path)
                && (before.Deltas?.Count ?? 0) < MaxDeltas && (before.BaseXxh128 ?? before.Xxh128) != null ? before : null;
        int referenced = 0;
        long referencedBytes = 0;
        var previous = reference?.Physical?.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        bool timelineChanged = reference?.Physical is { } rp && rp.Timeline != timeline;
        foreach (var file in scanned)
        {
            if (previous == null || !previous.TryGetValue(file.Path, out var before))
            {
                toCopy.Add(new CopyItem(file, null));
                continue;
            }
            if (before.Size != file.Size || before.Mtime != file.Mtime)
            {
                toCopy.Add(new CopyItem(file, null, DeltaBaseFor(file, before)));
                continue;
            }
            // Same size and mtime. Trust it unless the time stamps cannot be trusted: an mtime in
            // the future, an mtime inside the second the reference backup started (a change right
            // after the copy can keep both), or a timeline switch since.
            bool untrusted = timelineChanged || file.Mtime > startTime
                || file.Mtime >= TruncateToSecond(reference!.Physical!.StartTime);
            if (untrusted)
            {
                var deltaBase = DeltaBaseFor(file, before);
                toCopy.Add(deltaBase != null ? new CopyItem(file, null, deltaBase) : new CopyItem(file, before));
                continue;
            }
            files.Add(before with { Mode = file.Mode });
            hashes.CarryForward(file.Path);
            referenced++;
            referencedBytes += before.Size;
        }

        var packs = PlanPacks(toCopy);
        long total = toCopy.Sum(i => i.File.Size);
        long done = 0;
        int stored = 0;
        int vanished = 0;
        var perRepository = Enumerable.Range(0, targets.Count).Select(_ => new ConcurrentBag<StoredFile>()).ToArray();
        using var task = progress.Start($"copy {toCopy.Count} files", total);
        await Parallel.ForEachAsync(packs, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = ct }, async (pack, c) =>
        {
            string relative = RepositoryLayout.PackObject(pack.Number);
            var members = new List<PhysicalFile>();
            var results = await PackWriter.WriteAsync(targets, id, relative, (writer, c2) =>
            {
                foreach (var item in pack.Items)
                {
                    c2.ThrowIfCancellationRequested();
                    Action<long> advanced = bytes => task.Report(Interlocked.Add(ref done, bytes));
                    PhysicalFile? copied;
                    if (item.DeltaBase is { } deltaBase)
                    {
                        using var referenceHashes = hashes.ReadReference(item.File.Path);
                        copied = CopyDelta(item.File, deltaBase, referenceHashes.Span, writer, id, relative, startLsn, checksums, options.Compression, advanced, hashes, WalBlocksFor(item.File.Path));
                    }
                    else copied = CopyFile(item, writer, id, relative, startLsn, checksums, options.Compression, advanced, hashes);
                    if (copied != null) members.Add(copied);
                    else Interlocked.Increment(ref vanished);
                }
            }, c).ConfigureAwait(false);
            for (int r = 0; r < results.Length; r++) perRepository[r].Add(results[r] with { Name = relative, Object = relative });
            foreach (var member in members)
            {
                files.Add(member);
                if (member.Backup == id) Interlocked.Increment(ref stored);
                else if (member.Deltas is { Count: > 0 } deltas && deltas[^1].Backup == id) Interlocked.Increment(ref asDeltas);
                else
                {
                    Interlocked.Increment(ref referenced);
                    Interlocked.Add(ref referencedBytes, member.Size);
                }
            }
        }).ConfigureAwait(false);
        if (vanished > 0) progress.Info($"{vanished} files vanished before they could be opened (dropped or temporary relations): left out");
        return new CopyResult(files.ToList(), perRepository.Select(b => b.OrderBy(p => p.Name, StringComparer.Ordinal).ToList()).ToArray(),
            stored, referenced, referencedBytes, asDeltas);
    }

    private static DateTimeOffset TruncateToSecond(DateTimeOffset time) => new(time.Ticks - time.Ticks % TimeSpan.TicksPerSecond, time.Offset);

    private sealed record PackPlan(int Number, List<CopyItem> Items, long Bytes);

    /// <summary>Largest first: big files one per pack, small files grouped up to <see cref="PackTarget"/>.</summary>
    private static List<PackPlan> PlanPacks(List<CopyItem> items)
    {
        var packs = new List<PackPlan>();
        var ordered = items.OrderByDescending(i => i.File.Size).ThenBy(i => i.File.Path, StringComparer.Ordinal).ToList();
        List<CopyItem>? current = null;
        long currentBytes = 0;
        foreach (var item in ordered)
        {
            if (item.File.Size >= SmallFileLimit)
            {
                packs.Add(new PackPlan(packs.Count + 1, [item], item.File.Size));
                continue;
            }
            if (current == null || currentBytes + item.File.Size > PackTarget)
            {
                current = [];
                currentBytes = 0;
                packs.Add(new PackPlan(packs.Count + 1, current, 0));
            }
            current.Add(item);
            currentBytes += item.File.Size;
        }
        return packs;
    }

    /// <summary>
    /// Copies one file as a compressed member of the pack being written to <paramref name="pack"/>,
    /// or returns its reference entry when a checksum shows it unchanged; null when it vanished.
    /// Reads to the end of the file as it is now (files that grow or shrink during a backup are
    /// normal: WAL replay makes them consistent).
    /// </summary>
    private PhysicalFile? CopyFile(CopyItem item, PackWriter pack, string id, string packName, ulong startLsn, bool checksums,
        CompressionSpec compression, Action<long> advanced, PageHashSpool pageHashes)
    {
        var file = item.File;
        if (OpenForCopy(file) is not { } handle) return null;
        using (handle)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            try
            {
                if (item.Reference is { } before && Unchanged(handle, buffer, before))
                {
                    advanced(file.Size);
                    return before with { Mode = file.Mode, Mtime = file.Mtime };
                }
                int? segment = checksums ? DataDirectory.RelationSegment(file.Path) : null;
                List<long>? badPages = null;
                // CRC-32C for backup_manifest (pg_basebackup's default): SHA-256 cost a third of the
                // CPU a full backup spends besides compression; XXH128 is the content check.
                var crc = new Crc32C();
                var xxh = new XxHash128();
                using PageHashList? hashes = file.Size >= PageHashes.MinFileSize ? new PageHashList(PageHashes.PageCount(file.Size)) : null;
                long position = 0;
                PackMember placed;
                using (var member = pack.BeginMember(compression))
                {
                    var compressor = member.Content;
                    int read;
                    while ((read = FillBuffer(handle, buffer, position)) > 0)
                    {
                        crc.Append(buffer.AsSpan(0, read));
                        xxh.Append(buffer.AsSpan(0, read));
                        if (hashes != null) HashPages(buffer.AsSpan(0, read), hashes);
                        if (segment is { } seg) CheckPages(handle, buffer, read, position, seg, startLsn, ref badPages);
                        compressor.Write(buffer, 0, read);
                        position += read;
                        advanced(read);
                        if (read < BufferSize) break;
                    }
                    placed = member.Complete();
                }
                if (hashes != null) pageHashes.Add(file.Path, position, hashes.Span);
                return new PhysicalFile
                {
                    Path = file.Path,
                    Size = position,
                    Mtime = file.Mtime,
                    Mode = file.Mode,
                    Sha256 = "",
                    Crc32c = crc.Hex(),
                    Xxh128 = Convert.ToHexStringLower(xxh.GetCurrentHash()),
                    Backup = id,
                    Pack = packName,
                    Offset = placed.Offset,
                    Length = placed.Length,
                    Compression = placed.Compression,
                    BadPages = badPages,
                };
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Opens a file to copy; null when it vanished (normal during an online backup).</summary>
    private static SafeFileHandle? OpenForCopy(ScannedFile file)
    {
        try
        {
            return File.OpenHandle(file.FullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null; // dropped while the backup ran: WAL replay removes it anyway
        }
        catch (UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.SourceUnreadable, $"unable to read '{file.FullPath}': permission denied",
                "run the backup as the cluster's OS user (postgres) or root");
        }
    }

    /// <summary>XXH64 of each 8 KiB page (the last one may be shorter) of a buffer that starts on a page boundary.</summary>
    private static void HashPages(ReadOnlySpan<byte> data, PageHashList hashes)
    {
        for (int at = 0; at < data.Length; at += PageHashes.PageSize)
            hashes.Add(XxHash64.HashToUInt64(data.Slice(at, Math.Min(PageHashes.PageSize, data.Length - at))));
    }

    /// <summary>
    /// Stores the pages of a large file that differ from the reference (by XXH64 of each page) as
    /// one compressed delta member, read in one pass so the pages, the page hashes and the file's
    /// checksums all come from the same read. Returns the reference entry unchanged when no page
    /// changed, else an entry whose base is the reference's and whose deltas end with this one.
    /// </summary>
    private PhysicalFile? CopyDelta(ScannedFile file, PhysicalFile before, ReadOnlySpan<ulong> referenceHashes, PackWriter pack, string id, string packName,
        ulong startLsn, bool checksums, CompressionSpec compression, Action<long> advanced, PageHashSpool pageHashes,
        uint[]? walBlocks = null)
    {
        // walBlocks: the blocks the WAL says changed (PhysicalBackup.WalDelta.cs); null = scan every page.
        if (walBlocks != null && CopyDeltaFromWal(file, before, referenceHashes, walBlocks, pack, id, packName, startLsn, checksums, compression, advanced, pageHashes) is (true, var fromWal))
            return fromWal;
        if (OpenForCopy(file) is not { } handle) return null;
        using (handle)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            try
            {
                int? segment = checksums ? DataDirectory.RelationSegment(file.Path) : null;
                List<long>? badPages = null;
                var crc = new Crc32C();
                var xxh = new XxHash128();
                using var hashes = new PageHashList(PageHashes.PageCount(file.Size));
                long position = 0;
                int changed = 0;
                PackMember placed;
                using (var member = pack.BeginMember(compression))
                {
                    var compressor = member.Content;
                    int read;
                    while ((read = FillBuffer(handle, buffer, position)) > 0)
                    {
                        crc.Append(buffer.AsSpan(0, read));
                        xxh.Append(buffer.AsSpan(0, read));
                        if (segment is { } seg) CheckPages(handle, buffer, read, position, seg, startLsn, ref badPages);
                        for (int at = 0; at < read; at += PageHashes.PageSize)
                        {
                            var page = buffer.AsSpan(at, Math.Min(PageHashes.PageSize, read - at));
                            ulong hash = XxHash64.HashToUInt64(page);
                            int number = hashes.Count;
                            hashes.Add(hash);
                            if (number < referenceHashes.Length && referenceHashes[number] == hash) continue;
                            PageDeltas.WritePage(compressor, number, page);
                            changed++;
                        }
                        position += read;
                        advanced(read);
                        if (read < BufferSize) break;
                    }
                    PageDeltas.WriteEnd(compressor, position);
                    placed = member.Complete();
                }
                pageHashes.Add(file.Path, position, hashes.Span);
                if (changed == 0 && position == before.Size)
                    return before with { Mode = file.Mode, Mtime = file.Mtime, BadPages = badPages };
                return WithDelta(before, file, id, packName, placed, changed, position, badPages) with
                {
                    Crc32c = crc.Hex(),
                    Xxh128 = Convert.ToHexStringLower(xxh.GetCurrentHash()),
                    // Also the page digest, from the hashes just made: a restore checks it from what it writes.
                    PageDigest = PageDigest.From(hashes.Span),
                };
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// The reference's entry with one more page delta (just written at <paramref name="placed"/>)
    /// on its base; the caller sets the new content checks (CRC-32C and XXH128, or a page digest).
    /// </summary>
    private static PhysicalFile WithDelta(PhysicalFile before, ScannedFile file, string id, string packName, PackMember placed, int changed,
        long size, List<long>? badPages)
    {
        var delta = new DeltaRef
        {
            Backup = id,
            Pack = packName,
            Offset = placed.Offset,
            Length = placed.Length,
            Compression = placed.Compression,
            Pages = changed,
        };
        return before with
        {
            Size = size,
            Mtime = file.Mtime,
            Mode = file.Mode,
            Sha256 = "",
            BaseSize = before.BaseSize ?? before.Size,
            BaseXxh128 = before.BaseXxh128 ?? before.Xxh128,
            Deltas = [.. before.Deltas ?? [], delta],
            BadPages = badPages,
        };
    }

    /// <summary>Reads until the buffer is full or the file ends (pages stay aligned to the buffer).</summary>
    private static int FillBuffer(SafeFileHandle handle, byte[] buffer, long position)
    {
        int filled = 0;
        while (filled < BufferSize)
        {
            int read = RandomAccess.Read(handle, buffer.AsSpan(filled, BufferSize - filled), position + filled);
            if (read == 0) break;
            filled += read;
        }
        return filled;
    }

    /// <summary>
    /// True when the file has the reference's content: by XXH128, or by SHA-256 for entries of
    /// backups taken before XXH128 was recorded; an entry with neither is never unchanged.
    /// </summary>
    private static bool Unchanged(SafeFileHandle handle, byte[] buffer, PhysicalFile before)
    {
        if (before.Size != RandomAccess.GetLength(handle)) return false;
        bool xxh = before.Xxh128 != null;
        if (!xxh && string.IsNullOrEmpty(before.Sha256)) return false;
        var x = new XxHash128();
        using var sha = xxh ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long position = 0;
        int read;
        while ((read = FillBuffer(handle, buffer, position)) > 0)
        {
            if (sha != null) sha.AppendData(buffer, 0, read);
            else x.Append(buffer.AsSpan(0, read));
            position += read;
            if (read < BufferSize) break;
        }
        return sha != null ? Convert.ToHexStringLower(sha.GetHashAndReset()) == before.Sha256 : Convert.ToHexStringLower(x.GetCurrentHash()) == before.Xxh128;
    }

    /// <summary>
    /// Verifies the page checksums of the complete pages in <paramref name="buffer"/>. A page that
    /// fails is skipped when its LSN is at or after the backup start (WAL replay rewrites it), else
    /// read again once (it may have been changing under the copy) before it counts as bad.
    /// </summary>
    private static void CheckPages(SafeFileHandle handle, byte[] buffer, int length, long position, int segment, ulong startLsn, ref List<long>? badPages)
    {
        Span<byte> again = stackalloc byte[PageChecksum.PageSize];
        for (int at = 0; at + PageChecksum.PageSize <= length; at += PageChecksum.PageSize)
        {
            long blockInFile = (position + at) / PageChecksum.PageSize;
            uint block = (uint)((long)segment * PageChecksum.BlocksPerSegment + blockInFile);
            var page = buffer.AsSpan(at, PageChecksum.PageSize);
            if (PageChecksum.Verify(page, block) || PageChecksum.PageLsn(page) >= startLsn) continue;
            int read = RandomAccess.Read(handle, again, position + at);
            if (read == PageChecksum.PageSize && (PageChecksum.Verify(again, block) || PageChecksum.PageLsn(again) >= startLsn)) continue;
            (badPages ??= []).Add(blockInFile);
        }
    }
}
