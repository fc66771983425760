using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalRestore
{
    private const int BufferSize = 1 << 20;

    private sealed record Counts(int Written, int Unchanged, int Removed, long Bytes);

    private async Task<Counts> RestoreFilesAsync(List<Catalog> holders, BackupManifest manifest, string pgdata, List<TablespacePlan> tablespaces,
        PhysicalRestoreOptions options, CancellationToken ct)
    {
        var p = manifest.Physical!;
        bool root = Posix.IsRoot;
        void Own(string path)
        {
            if (root) Posix.ChangeOwner(path, p.OwnerUid, p.OwnerGid);
        }
        var locations = tablespaces.ToDictionary(t => $"pg_tblspc/{t.Oid}", t => t.Location, StringComparer.Ordinal);

        if (options.Force)
        {
            EmptyDirectory(pgdata);
            foreach (var t in tablespaces) EmptyDirectory(t.Location);
        }
        CreateDirectory(pgdata, 0b111_000_000, Own);
        foreach (var t in tablespaces) CreateDirectory(t.Location, 0b111_000_000, Own);

        // Delta: drop what the backup does not have, keep what has the same content.
        var wanted = p.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var wantedDirs = p.Directories.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        var unchanged = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        int removed = 0;
        if (options.Delta)
        {
            var existing = new List<(string Relative, string Full)>();
            removed = Prune(pgdata, "", wanted, wantedDirs, locations, existing);
            // Largest first, so the big relation segments do not end up last on one thread.
            var candidates = existing.Select(e => (e.Relative, e.Full, Length: new FileInfo(e.Full).Length))
                .Where(e => e.Length == wanted[e.Relative].Size).OrderByDescending(e => e.Length).ToList();
            using var check = progress.Start($"compare {candidates.Count} files", candidates.Sum(e => e.Length));
            long compared = 0;
            await Parallel.ForEachAsync(candidates, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = ct }, (e, c) =>
            {
                var f = wanted[e.Relative];
                if (f.Xxh128 is { } expected ? Xxh128Of(e.Full) == expected : Sha256Of(e.Full) == f.Sha256)
                {
                    unchanged[e.Relative] = true;
                    if ((int)File.GetUnixFileMode(e.Full) != f.Mode) File.SetUnixFileMode(e.Full, (UnixFileMode)f.Mode);
                    File.SetLastWriteTimeUtc(e.Full, f.Mtime.UtcDateTime);
                }
                check.Report(Interlocked.Add(ref compared, e.Length));
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
        }

        foreach (var d in p.Directories)
        {
            string full = Path.Combine(pgdata, d.Path);
            if (locations.TryGetValue(d.Path, out var location))
            {
                if (Directory.Exists(full) || File.Exists(full))
                {
                    var link = new FileInfo(full);
                    if (link.LinkTarget == location) continue;
                    if (link.LinkTarget != null) link.Delete();
                    else Directory.Delete(full, recursive: true);
                }
                File.CreateSymbolicLink(full, location);
                if (root) Posix.ChangeOwnerOfLink(full, p.OwnerUid, p.OwnerGid);
                continue;
            }
            CreateDirectory(full, d.Mode, Own);
        }

        // Every pack that holds a file to write, largest first; members in stored order.
        var work = p.Files.Where(f => !unchanged.ContainsKey(f.Path))
            .GroupBy(f => (f.Backup, f.Pack))
            .Select(g => g.OrderBy(f => f.Offset).ToList())
            .OrderByDescending(g => g.Sum(f => f.Size))
            .ToList();
        long total = work.Sum(g => g.Sum(f => f.Size));
        // Durability: a few files (a delta restore) are fsynced one by one with their directories;
        // many are made durable at the end with one syncfs() per file system.
        _fsyncEach = work.Sum(g => g.Count) <= FsyncEachLimit;
        long done = 0;
        int written = 0;
        using (var task = progress.Start($"restore {work.Sum(g => g.Count)} files", total))
        {
            await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = ct }, async (members, c) =>
            {
                await RestorePackAsync(holders, members, pgdata, root ? p : null, bytes => task.Report(Interlocked.Add(ref done, bytes)), c).ConfigureAwait(false);
                Interlocked.Add(ref written, members.Count);
            }).ConfigureAwait(false);
        }

        await ApplyDeltasAsync(holders, p.Files.Where(f => !unchanged.ContainsKey(f.Path) && f.Deltas is { Count: > 0 }).ToList(),
            pgdata, root ? p : null, options.Parallel, ct).ConfigureAwait(false);

        string label = Path.Combine(pgdata, "backup_label");
        await File.WriteAllTextAsync(label, p.BackupLabel, ct).ConfigureAwait(false);
        File.SetUnixFileMode(label, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Own(label);
        string pgManifest = Path.Combine(pgdata, "backup_manifest");
        await WritePgManifestAsync(holders, manifest, pgManifest, ct).ConfigureAwait(false);
        Own(pgManifest);
        return new Counts(written, unchanged.Count, removed, total);
    }

    /// <summary>Restores the files stored in one pack, reading it once from the first repository that serves it.</summary>
    private Task RestorePackAsync(List<Catalog> holders, List<PhysicalFile> members, string pgdata, PhysicalBackupInfo? owner, Action<long> advanced, CancellationToken ct) =>
        ReadPackAsync(holders, members[0].Backup, members[0].Pack, (stream, key) => ExtractMembers(stream, key, members, pgdata, owner, advanced, ct), ct);

    /// <summary>Reads one pack front to back on a thread of its own, from the first repository that serves it.</summary>
    private async Task ReadPackAsync(List<Catalog> holders, string backup, string pack, Action<Stream, string> read, CancellationToken ct)
    {
        string key = RepositoryLayout.BackupObject(sources.Cluster, backup, pack);
        for (int i = 0; ; i++)
        {
            var repository = holders[i].Repository;
            try
            {
                await using var stream = await repository.OpenObjectAsync(key, CompressionType.None, ct).ConfigureAwait(false);
                await Task.Factory.StartNew(() => read(stream, key), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                return;
            }
            catch (PgVaultException e) when (e.RepositoryFault && i + 1 < holders.Count)
            {
                progress.Warn($"repository '{repository.Name}': {e.Message}; reading {pack} of backup {backup} from '{holders[i + 1].Repository.Name}'");
            }
        }
    }

    /// <summary>
    /// Applies the page deltas of the files restored from their base members: backup by backup,
    /// oldest first (a file has at most one delta per backup), packs of one backup in parallel;
    /// then checks every such file against its final XXH128 and gives it its mode and mtime.
    /// </summary>
    private async Task ApplyDeltasAsync(List<Catalog> holders, List<PhysicalFile> files, string pgdata, PhysicalBackupInfo? owner, int parallel, CancellationToken ct)
    {
        if (files.Count == 0) return;
        using var task = progress.Start($"apply page deltas to {files.Count} files");
        foreach (var backup in files.SelectMany(f => f.Deltas!).Select(d => d.Backup).Distinct().Order(StringComparer.Ordinal))
        {
            var packs = files.SelectMany(f => f.Deltas!.Where(d => d.Backup == backup).Select(d => (File: f, Delta: d)))
                .GroupBy(x => x.Delta.Pack, StringComparer.Ordinal)
                .Select(g => g.OrderBy(x => x.Delta.Offset).ToList())
                .ToList();
            await Parallel.ForEachAsync(packs, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, (items, c) =>
                new ValueTask(ReadPackAsync(holders, backup, items[0].Delta.Pack, (stream, key) => ApplyMembers(stream, key, items, pgdata, c), c))).ConfigureAwait(false);
        }
        await Parallel.ForEachAsync(files.OrderByDescending(f => f.Size), new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, (f, c) =>
        {
            string full = Path.Combine(pgdata, f.Path);
            if (new FileInfo(full).Length != f.Size || Xxh128Of(full) != f.Xxh128)
                throw new PgVaultException($"restored {f.Path} does not match the backup after applying its {f.Deltas!.Count} page delta(s)",
                    "restore from another repository or an older backup") { RepositoryFault = true };
            File.SetUnixFileMode(full, (UnixFileMode)f.Mode);
            File.SetLastWriteTimeUtc(full, f.Mtime.UtcDateTime);
            if (_fsyncEach) Posix.FsyncFile(full);
            return ValueTask.CompletedTask;
        }).ConfigureAwait(false);
    }

    private static void ApplyMembers(Stream pack, string key, List<(PhysicalFile File, DeltaRef Delta)> items, string pgdata, CancellationToken ct)
    {
        byte[] page = new byte[PageHashes.PageSize];
        byte[] head = new byte[12];
        long position = 0;
        foreach (var (f, d) in items)
        {
            ct.ThrowIfCancellationRequested();
            SkipTo(pack, key, position, d.Offset, f.Path);
            position = d.Offset;
            string full = Path.Combine(pgdata, f.Path);
            try
            {
                using var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Write);
                using var member = new BoundedReadStream(pack, d.Length);
                using var content = Compression.DecompressFrom(member, CompressionSpec.ParseType(d.Compression), leaveOpen: true);
                int pages = 0;
                while (true)
                {
                    content.ReadExactly(head, 0, 4);
                    uint number = BinaryPrimitives.ReadUInt32LittleEndian(head);
                    if (number == uint.MaxValue)
                    {
                        content.ReadExactly(head, 4, 8);
                        RandomAccess.SetLength(handle, (long)BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(4)));
                        break;
                    }
                    content.ReadExactly(head, 4, 4);
                    int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(4));
                    if (length is <= 0 or > PageHashes.PageSize) throw new InvalidDataException($"page {number} has length {length}");
                    content.ReadExactly(page, 0, length);
                    RandomAccess.Write(handle, page.AsSpan(0, length), (long)number * PageHashes.PageSize);
                    pages++;
                }
                if (content.Read(page, 0, 1) != 0 || member.Remaining > 0) throw new InvalidDataException("bytes after the end of the delta");
                if (pages != d.Pages) throw new InvalidDataException($"{pages} pages instead of {d.Pages}");
            }
            catch (Exception e) when (IsDamage(e))
            {
                if (e is PgVaultException { RepositoryFault: false } p) throw p;
                throw new PgVaultException($"stored page delta of {f.Path} (backup {d.Backup}) is damaged: {(e is PgVaultException pv ? pv.Message : e.Message)}",
                    "restore from another repository or an older backup", inner: e) { RepositoryFault = true };
            }
            position += d.Length;
        }
    }

    /// <summary>
    /// Failures that mean the stored bytes are bad (decompression, checksums, a member or pack
    /// ending early) rather than the restore's own disk failing (other I/O errors, permissions).
    /// </summary>
    private static bool IsDamage(Exception e) =>
        e is not (OperationCanceledException or UnauthorizedAccessException) && (e is EndOfStreamException || e is not IOException);

    private static void SkipTo(Stream pack, string key, long position, long offset, string path)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (position < offset)
            {
                int skip = pack.Read(scratch, 0, (int)Math.Min(BufferSize, offset - position));
                if (skip == 0) throw PgVaultException.Corrupt(key, $"the pack ends before {path}");
                position += skip;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private const int FsyncEachLimit = 256;

    private bool _fsyncEach;

    private void ExtractMembers(Stream pack, string key, List<PhysicalFile> members, string pgdata, PhysicalBackupInfo? owner, Action<long> advanced, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long position = 0;
            foreach (var f in members)
            {
                ct.ThrowIfCancellationRequested();
                while (position < f.Offset)
                {
                    int skip = pack.Read(buffer, 0, (int)Math.Min(BufferSize, f.Offset - position));
                    if (skip == 0) throw PgVaultException.Corrupt(key, $"the pack ends before {f.Path}");
                    position += skip;
                }
                string full = Path.Combine(pgdata, f.Path);
                try
                {
                    WriteMember(pack, buffer, f, full, advanced, _fsyncEach);
                }
                catch (Exception e) when (IsDamage(e))
                {
                    if (e is PgVaultException { RepositoryFault: false } p) throw p;
                    throw new PgVaultException($"stored copy of {f.Path} (backup {f.Backup}) is damaged: {(e is PgVaultException pv ? pv.Message : e.Message)}",
                        "restore from another repository or an older backup", inner: e) { RepositoryFault = true };
                }
                position += f.Length;
                if (owner != null) Posix.ChangeOwner(full, owner.OwnerUid, owner.OwnerGid);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Members from this size on are decompressed on one thread and checked + written on another.</summary>
    private const long PipelineThreshold = 8L << 20;

    /// <summary>
    /// Writes one file from its compressed member, checking size and checksum (XXH128 when the
    /// backup recorded it, else SHA-256) before it counts as restored.
    /// </summary>
    private static void WriteMember(Stream pack, byte[] buffer, PhysicalFile f, string full, Action<long> advanced, bool fsync)
    {
        // A file stored as deltas is first its base member; the deltas and the final check follow.
        bool deltas = f.Deltas is { Count: > 0 };
        var check = deltas ? new ContentCheck(f.BaseXxh128, null) : new ContentCheck(f.Xxh128, f.Sha256);
        long expectedSize = deltas ? f.BaseSize ?? -1 : f.Size;
        long size;
        using (var handle = File.OpenHandle(full, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: f.Size))
        {
            using (var member = new BoundedReadStream(pack, f.Length))
            using (var content = Compression.DecompressFrom(member, CompressionSpec.ParseType(f.Compression), leaveOpen: true))
            {
                size = expectedSize >= PipelineThreshold
                    ? CopyPipelined(content, handle, check, advanced)
                    : CopyDirect(content, handle, buffer, check, advanced);
                if (member.Remaining > 0) throw new InvalidDataException($"{member.Remaining} stored bytes left after the end of the compressed content");
            }
            if (size != expectedSize) throw new InvalidDataException($"size {size} instead of {expectedSize}");
            check.Verify();
            if (deltas) return;
            File.SetUnixFileMode(handle, (UnixFileMode)f.Mode);
            File.SetLastWriteTimeUtc(handle, f.Mtime.UtcDateTime);
            if (fsync) Posix.Fsync(handle, full);
        }
    }

    private static long CopyDirect(Stream content, SafeFileHandle handle, byte[] buffer, ContentCheck check, Action<long> advanced)
    {
        long size = 0;
        int read;
        while ((read = content.Read(buffer, 0, BufferSize)) > 0)
        {
            check.Append(buffer.AsSpan(0, read));
            RandomAccess.Write(handle, buffer.AsSpan(0, read), size);
            size += read;
            advanced(read);
        }
        return size;
    }

    /// <summary>Decompression here, checksum and write on a second thread, through a few rotating buffers.</summary>
    private static long CopyPipelined(Stream content, SafeFileHandle handle, ContentCheck check, Action<long> advanced)
    {
        const int Buffers = 4;
        using var failed = new CancellationTokenSource();
        using var free = new BlockingCollection<byte[]>(Buffers);
        using var full = new BlockingCollection<(byte[] Buffer, int Length)>(Buffers);
        var rented = Enumerable.Range(0, Buffers).Select(_ => ArrayPool<byte>.Shared.Rent(BufferSize)).ToList();
        foreach (var b in rented) free.Add(b);
        long size = 0;
        var writer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var (b, n) in full.GetConsumingEnumerable(failed.Token))
                {
                    check.Append(b.AsSpan(0, n));
                    RandomAccess.Write(handle, b.AsSpan(0, n), size);
                    size += n;
                    advanced(n);
                    free.Add(b);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed.Cancel();
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (true)
            {
                var b = free.Take(failed.Token);
                int n = content.Read(b, 0, BufferSize);
                if (n == 0) break;
                full.Add((b, n), failed.Token);
            }
            full.CompleteAdding();
            writer.GetAwaiter().GetResult();
            return size;
        }
        catch (OperationCanceledException) when (failed.IsCancellationRequested)
        {
            writer.GetAwaiter().GetResult(); // the writer's own failure
            throw;
        }
        catch
        {
            failed.Cancel();
            try { writer.GetAwaiter().GetResult(); } catch (Exception) { /* the first failure is the one reported */ }
            throw;
        }
        finally
        {
            foreach (var b in rented) ArrayPool<byte>.Shared.Return(b);
        }
    }

    /// <summary>The checksum a restored file is checked against: XXH128 when recorded, else SHA-256.</summary>
    private sealed class ContentCheck(string? xxh128, string? sha256)
    {
        private readonly XxHash128? _xxh = xxh128 != null ? new XxHash128() : null;
        private readonly IncrementalHash? _sha = xxh128 == null ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;

        public void Append(ReadOnlySpan<byte> data)
        {
            if (_xxh != null) _xxh.Append(data);
            else _sha!.AppendData(data);
        }

        public void Verify()
        {
            string expected = xxh128 ?? sha256 ?? "";
            string actual = Convert.ToHexStringLower(_xxh != null ? _xxh.GetCurrentHash() : _sha!.GetHashAndReset());
            _sha?.Dispose();
            if (actual != expected) throw new InvalidDataException($"checksum mismatch (expected {expected[..16]}, got {actual[..16]})");
        }
    }

    private async Task WritePgManifestAsync(List<Catalog> holders, BackupManifest manifest, string destination, CancellationToken ct)
    {
        var p = manifest.Physical!;
        string key = RepositoryLayout.BackupObject(sources.Cluster, manifest.Id, p.PgManifestObject);
        for (int i = 0; ; i++)
        {
            var repository = holders[i].Repository;
            try
            {
                var stored = new StoredFile { Compression = "none", Encrypted = repository.Encrypted, Sha256 = p.PgManifestSha256, SizeBytes = p.PgManifestBytes };
                await using var input = await repository.OpenObjectAsync(key, stored, ct).ConfigureAwait(false);
                using var buffer = new MemoryStream();
                await input.CopyToAsync(buffer, ct).ConfigureAwait(false);
                await File.WriteAllBytesAsync(destination, buffer.ToArray(), ct).ConfigureAwait(false);
                File.SetUnixFileMode(destination, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                return;
            }
            catch (PgVaultException e) when (e.RepositoryFault && i + 1 < holders.Count)
            {
                progress.Warn($"repository '{repository.Name}': {e.Message}");
            }
        }
    }

    /// <summary>
    /// Removes files and directories the backup does not have (following tablespace links);
    /// collects the files it does have into <paramref name="existing"/>. Returns how many entries went.
    /// </summary>
    private static int Prune(string root, string relative, Dictionary<string, PhysicalFile> wanted, HashSet<string> wantedDirs,
        Dictionary<string, string> locations, List<(string, string)> existing)
    {
        int removed = 0;
        string dir = relative.Length == 0 ? root : Path.Combine(root, relative);
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            string path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            if (entry.LinkTarget != null && locations.ContainsKey(path))
            {
                if (entry.LinkTarget == locations[path]) removed += Prune(root, path, wanted, wantedDirs, locations, existing);
                continue; // a link to elsewhere is replaced later
            }
            if ((entry.Attributes & FileAttributes.Directory) != 0 && entry.LinkTarget == null)
            {
                if (wantedDirs.Contains(path)) removed += Prune(root, path, wanted, wantedDirs, locations, existing);
                else
                {
                    ((DirectoryInfo)entry).Delete(recursive: true);
                    removed++;
                }
                continue;
            }
            if (entry.LinkTarget == null && wanted.ContainsKey(path))
            {
                existing.Add((path, entry.FullName));
                continue;
            }
            entry.Delete();
            removed++;
        }
        return removed;
    }

    private static string Sha256Of(string path)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        ReadAll(path, span => sha.AppendData(span));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static string Xxh128Of(string path)
    {
        var xxh = new XxHash128();
        ReadAll(path, span => xxh.Append(span));
        return Convert.ToHexStringLower(xxh.GetCurrentHash());
    }

    private delegate void SpanAction(ReadOnlySpan<byte> span);

    private static void ReadAll(string path, SpanAction consume)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            long position = 0;
            int read;
            while ((read = RandomAccess.Read(handle, buffer.AsSpan(0, BufferSize), position)) > 0)
            {
                consume(buffer.AsSpan(0, read));
                position += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void CreateDirectory(string path, int mode, Action<string> own)
    {
        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, (UnixFileMode)mode);
            own(path);
        }
        File.SetUnixFileMode(path, (UnixFileMode)mode);
    }

    private static void EmptyDirectory(string path)
    {
        if (!Directory.Exists(path)) return;
        foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo d && d.LinkTarget == null) d.Delete(recursive: true);
            else entry.Delete();
        }
    }

    /// <summary>Reads at most <c>length</c> bytes of the stream it wraps, which it leaves open.</summary>
    private sealed class BoundedReadStream(Stream inner, long length) : ReadOnlyStreamBase
    {
        public long Remaining { get; private set; } = length;

        public override bool CanRead => true;

        public override int Read(Span<byte> buffer)
        {
            if (Remaining == 0) return 0;
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, Remaining)]);
            if (read == 0) throw new EndOfStreamException($"the pack ends {Remaining} bytes early");
            Remaining -= read;
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
