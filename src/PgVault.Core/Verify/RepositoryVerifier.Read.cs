using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Pipeline;
using PgVault.Core.PostgreSql;
using PgVault.Core.Wal;

namespace PgVault.Core.Verify;

/// <summary>
/// Verify, phase 2: every planned object read back whole, in parallel, through the same readers a
/// restore uses (Repository.OpenObjectAsync: decrypt, authenticate, decompress, size and SHA-256 at
/// the end; each pack member decompressed and checked against its file's checksum; WAL checked
/// against the tag in its name and its header against the name). Memory: a buffer per reader.
/// </summary>
internal sealed partial class RepositoryVerifier
{
    private const int BufferSize = 1 << 20;

    /// <summary>Problems listed per object before the rest are counted (a pack full of damaged members stays readable).</summary>
    private const int ProblemsPerObject = 5;

    private async Task<(int Read, int Skipped, long Bytes)> ReadItemsAsync(CancellationToken ct)
    {
        var toRead = new List<Item>();
        int skipped = 0;
        foreach (var item in _items.Values)
        {
            if (!_listing.ContainsKey(item.Key))
            {
                item.Missing = true;
                item.Problems.Add($"object {item.Key} is missing");
                continue;
            }
            if (item.IsData && ((!options.Full && VerifiedBefore(item)) || (options.SamplePercent is { } share && Random.Shared.NextDouble() * 100 >= share)))
            {
                item.Skipped = true;
                skipped++;
                continue;
            }
            toRead.Add(item);
        }
        // Largest first, so one big pack does not end up last on one thread.
        toRead.Sort((a, b) => _listing[b.Key].Size.CompareTo(_listing[a.Key].Size));
        long total = toRead.Sum(i => _listing[i.Key].Size), done = 0;
        using var task = progress.Start($"verify {toRead.Count} objects in repository '{Repo.Name}'", total);
        await Parallel.ForEachAsync(toRead, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = ct }, async (item, c) =>
        {
            try
            {
                await ReadItemAsync(item, c).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !c.IsCancellationRequested)
            {
                item.Problems.Add(Describe(item.Key, e));
            }
            item.Read = true;
            task.Report(Interlocked.Add(ref done, _listing[item.Key].Size));
        }).ConfigureAwait(false);
        _metadataRead += toRead.Count(i => !i.IsData);
        return (toRead.Count(i => i.IsData), skipped, total);
    }

    /// <summary>One line for what failed: the message of our own errors (they name the object), else the object and the reason.</summary>
    private static string Describe(string key, Exception e) =>
        e is PgVaultException p && p.Message.Contains(key, StringComparison.Ordinal) ? p.Message : $"{key}: {e.Message}";

    private async Task ReadItemAsync(Item item, CancellationToken ct)
    {
        switch (item.Kind)
        {
            case ItemKind.Pack:
                await using (var stream = await Repo.OpenObjectAsync(item.Key, item.Recorded!, ct).ConfigureAwait(false))
                {
                    await Task.Factory.StartNew(() => ReadPack(stream, item, ct), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                }
                break;
            case ItemKind.File or ItemKind.Metadata:
                await using (var stream = await Repo.OpenObjectAsync(item.Key, item.Recorded!, ct).ConfigureAwait(false))
                {
                    await DrainAsync(stream, null, ct).ConfigureAwait(false);
                }
                break;
            case ItemKind.Wal or ItemKind.History:
                await ReadWalAsync(item, ct).ConfigureAwait(false);
                break;
        }
    }

    private static async Task<long> DrainAsync(Stream stream, Action<ReadOnlySpan<byte>>? consume, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long length = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, BufferSize), ct).ConfigureAwait(false)) > 0)
            {
                consume?.Invoke(buffer.AsSpan(0, read));
                length += read;
            }
            return length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A stored WAL file read whole: its content's tag against its name, a segment's header against its file name and the cluster's system.</summary>
    private async Task ReadWalAsync(Item item, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] head = new byte[WalSegmentHeader.Size];
        int headLength = 0;
        using var text = item.Kind == ItemKind.History ? new MemoryStream() : null;
        long length;
        await using (var input = await Repo.OpenObjectAsync(item.Key, item.Compression, ct).ConfigureAwait(false))
        {
            length = await DrainAsync(input, span =>
            {
                hash.AppendData(span);
                int take = Math.Min(span.Length, head.Length - headLength);
                span[..take].CopyTo(head.AsSpan(headLength));
                headLength += take;
                text?.Write(span);
            }, ct).ConfigureAwait(false);
        }
        string tag = Repo.WalTag(Convert.ToHexStringLower(hash.GetHashAndReset()));
        if (tag != item.WalTag)
            throw PgVaultException.Corrupt(item.Key, $"checksum mismatch (the content's tag is {tag}, not the {item.WalTag} of its name)");
        if (text != null) item.Text = System.Text.Encoding.UTF8.GetString(text.ToArray());
        if (item.Wal is not { HasPageHeader: true } wal) return;
        WalArchive.CheckHeader(item.Key, wal, head.AsSpan(0, headLength), length);
        item.SystemIdentifier = WalSegmentHeader.Parse(head.AsSpan(0, headLength), item.Key).SystemIdentifier;
    }

    /// <summary>
    /// Reads a pack front to back: each needed member decompressed and checked (a file against its
    /// size and XXH128/SHA-256, a delta base against its base size and XXH128, a page delta against
    /// its format and page count), then the rest, so the pack's own size and SHA-256 are checked at its end.
    /// </summary>
    private static void ReadPack(Stream pack, Item item, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        int failed = 0;
        try
        {
            long position = 0;
            foreach (var m in item.Members.Values.OrderBy(m => m.Offset).ThenBy(m => m.Role))
            {
                ct.ThrowIfCancellationRequested();
                if (m.Offset < position) continue; // the same member seen in another role (or an overlap, which its checksum then shows)
                Skip(pack, buffer, m.Offset - position, item.Key, m.Path);
                position = m.Offset;
                using var member = new BoundedReadStream(pack, m.Length);
                try
                {
                    using var content = Compression.DecompressFrom(member, CompressionSpec.ParseType(m.Compression), leaveOpen: true);
                    if (m.Role == MemberRole.Delta) CheckDelta(content, buffer, m);
                    else CheckContent(content, buffer, m);
                    if (member.Remaining > 0) throw new InvalidDataException($"{member.Remaining} stored bytes left after the end of the compressed content");
                }
                catch (Exception e) when (e is not (OperationCanceledException or PgVaultException) && !member.Truncated)
                {
                    if (++failed <= ProblemsPerObject)
                        item.Problems.Add($"{m.Path} (backup {m.Backup}{(m.Role == MemberRole.Delta ? ", page delta" : "")}) in {item.Key} is damaged: {e.Message}");
                    Skip(member, buffer, long.MaxValue, item.Key, m.Path);
                }
                position += m.Length;
            }
            Skip(pack, buffer, long.MaxValue, item.Key, "its end");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw PgVaultException.Corrupt(item.Key, e.Message, e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (failed > ProblemsPerObject) item.Problems.Add($"{item.Key}: {failed - ProblemsPerObject} more damaged member(s)");
        }
    }

    /// <summary>Reads and discards up to <paramref name="count"/> bytes (to the end for long.MaxValue); a pack that ends earlier is damaged.</summary>
    private static void Skip(Stream stream, byte[] buffer, long count, string key, string what)
    {
        while (count > 0)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(BufferSize, count));
            if (read == 0)
            {
                if (count == long.MaxValue) return;
                throw PgVaultException.Corrupt(key, $"the pack ends before {what}");
            }
            if (count != long.MaxValue) count -= read;
        }
    }

    private static void CheckContent(Stream content, byte[] buffer, Member m)
    {
        var xxh = m.Xxh128 != null ? new XxHash128() : null;
        using var sha = m.Xxh128 == null ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        long size = 0;
        int read;
        while ((read = content.Read(buffer, 0, BufferSize)) > 0)
        {
            if (xxh != null) xxh.Append(buffer.AsSpan(0, read));
            else sha!.AppendData(buffer, 0, read);
            size += read;
        }
        if (size != m.Size) throw new InvalidDataException($"size {size} instead of {m.Size}");
        string expected = m.Xxh128 ?? m.Sha256 ?? "";
        string actual = Convert.ToHexStringLower(xxh != null ? xxh.GetCurrentHash() : sha!.GetHashAndReset());
        if (actual != expected) throw new InvalidDataException($"checksum mismatch (expected {expected[..Math.Min(16, expected.Length)]}, got {actual[..16]})");
    }

    /// <summary>A page delta: (u32 page, u32 length, bytes)* then u32 0xFFFFFFFF and the u64 final size, with the recorded page count.</summary>
    private static void CheckDelta(Stream content, byte[] buffer, Member m)
    {
        byte[] head = new byte[12];
        int pages = 0;
        while (true)
        {
            content.ReadExactly(head, 0, 4);
            uint number = BinaryPrimitives.ReadUInt32LittleEndian(head);
            if (number == uint.MaxValue)
            {
                content.ReadExactly(head, 4, 8);
                break;
            }
            content.ReadExactly(head, 4, 4);
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(4));
            if (length is <= 0 or > 8192) throw new InvalidDataException($"page {number} has length {length}");
            content.ReadExactly(buffer, 0, length);
            pages++;
        }
        if (content.Read(buffer, 0, 1) != 0) throw new InvalidDataException("bytes after the end of the delta");
        if (pages != m.Pages) throw new InvalidDataException($"{pages} pages instead of {m.Pages}");
    }

    /// <summary>Reads at most <c>length</c> bytes of the pack, which it leaves open; <see cref="Truncated"/> when the pack ended first.</summary>
    private sealed class BoundedReadStream(Stream inner, long length) : ReadOnlyStreamBase
    {
        public long Remaining { get; private set; } = length;

        public bool Truncated { get; private set; }

        public override bool CanRead => true;

        public override int Read(Span<byte> buffer)
        {
            if (Remaining == 0) return 0;
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, Remaining)]);
            if (read == 0)
            {
                Truncated = true;
                throw new EndOfStreamException($"the pack ends {Remaining} bytes early");
            }
            Remaining -= read;
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
