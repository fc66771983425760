using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.Errors;
using PgVault.Core.IO;

namespace PgVault.Core.Physical;

/// <summary>
/// The page hashes of one backup run, kept in a private temporary file instead of memory so that
/// a backup's memory does not grow with the cluster (8 bytes per 8 KiB page is 1 MB per GB, and a
/// run holds the reference's hashes and its own). The reference's object (see
/// <see cref="PageHashes"/> for the format) is streamed in once with <see cref="LoadReferenceAsync"/>;
/// the copy adds each file's hashes as it finishes (<see cref="Add"/>) or carries the reference's
/// forward (<see cref="CarryForward"/>); <see cref="WriteAsync"/> streams the new object out.
/// Memory: one small index entry per large file. Thread-safe.
/// </summary>
internal sealed class PageHashSpool : IDisposable
{
    private readonly record struct Entry(long Size, long Offset, int Pages);

    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _reference = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry> _current = new(StringComparer.Ordinal);
    private readonly string _directory;
    private readonly SafeFileHandle _file;
    private long _length;

    public PageHashSpool()
    {
        _directory = SafeFiles.CreatePrivateTempDirectory();
        _file = File.OpenHandle(Path.Combine(_directory, "pagehashes"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
    }

    /// <summary>Files the reference recorded page hashes for.</summary>
    public int ReferenceCount { get { lock (_gate) return _reference.Count; } }

    public bool HasReference(string path) { lock (_gate) return _reference.ContainsKey(path); }

    public bool HasCurrent(string path) { lock (_gate) return _current.ContainsKey(path); }

    /// <summary>The reference's page hashes of one file (one per page, read from the spool; dispose to return the array).</summary>
    public PageHashList ReadReference(string path)
    {
        Entry entry;
        lock (_gate) entry = _reference[path];
        var hashes = new PageHashList(entry.Pages);
        try
        {
            hashes.SetCount(entry.Pages, zeroFrom: entry.Pages); // every entry is read below
            ReadExactly(MemoryMarshal.AsBytes(hashes.Span), entry.Offset);
            return hashes;
        }
        catch
        {
            hashes.Dispose();
            throw;
        }
    }

    /// <summary>Drops what <see cref="LoadReferenceAsync"/> loaded (an object that failed part-way).</summary>
    public void ForgetReference() { lock (_gate) _reference.Clear(); }

    /// <summary>Records the hashes of a file this run read.</summary>
    public void Add(string path, long size, ReadOnlySpan<ulong> hashes)
    {
        long offset = Reserve(hashes.Length);
        RandomAccess.Write(_file, MemoryMarshal.AsBytes(hashes), offset);
        lock (_gate) _current[path] = new Entry(size, offset, hashes.Length);
    }

    /// <summary>A file found unchanged keeps the reference's hashes.</summary>
    public void CarryForward(string path)
    {
        lock (_gate)
        {
            if (_reference.TryGetValue(path, out var entry)) _current[path] = entry;
        }
    }

    private long Reserve(int pages)
    {
        lock (_gate)
        {
            long offset = _length;
            _length += (long)pages * sizeof(ulong);
            return offset;
        }
    }

    private void ReadExactly(Span<byte> target, long offset)
    {
        while (!target.IsEmpty)
        {
            int read = RandomAccess.Read(_file, target, offset);
            if (read == 0) throw new IOException("page hash spool is shorter than its index");
            target = target[read..];
            offset += read;
        }
    }

    /// <summary>
    /// Reads a stored page hash object (verified by the stream when it ends) into the reference
    /// index. Throws <see cref="PgVaultException.Corrupt"/> naming <paramref name="objectKey"/> on a malformed object.
    /// </summary>
    public async Task LoadReferenceAsync(Stream input, string objectKey, CancellationToken ct)
    {
        var reader = new ChunkReader(input, objectKey);
        try
        {
            var head = await reader.ReadAsync(12, ct).ConfigureAwait(false);
            if (!head.Span[..4].SequenceEqual("PVPH"u8) || BinaryPrimitives.ReadUInt32LittleEndian(head.Span[4..]) != PageHashes.Version)
                throw new InvalidDataException("not a version-1 page hash object");
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(head.Span[8..]);
            for (uint i = 0; i < count; i++)
            {
                int nameLength = BinaryPrimitives.ReadUInt16LittleEndian((await reader.ReadAsync(2, ct).ConfigureAwait(false)).Span);
                string path = Encoding.UTF8.GetString((await reader.ReadAsync(nameLength, ct).ConfigureAwait(false)).Span);
                var numbers = await reader.ReadAsync(12, ct).ConfigureAwait(false);
                long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(numbers.Span);
                uint pages = BinaryPrimitives.ReadUInt32LittleEndian(numbers.Span[8..]);
                if (size < 0 || pages != PageHashes.PageCount(size)) throw new InvalidDataException($"'{path}': {pages} pages for {size} bytes");
                long offset = Reserve((int)pages);
                long remaining = (long)pages * sizeof(ulong);
                long at = offset;
                while (remaining > 0)
                {
                    int chunk = (int)Math.Min(remaining, 1 << 16);
                    var bytes = await reader.ReadAsync(chunk, ct).ConfigureAwait(false);
                    RandomAccess.Write(_file, bytes.Span, at);
                    at += chunk;
                    remaining -= chunk;
                }
                lock (_gate) _reference[path] = new Entry(size, offset, (int)pages);
            }
            if (await input.ReadAsync(new byte[1], ct).ConfigureAwait(false) != 0) throw new InvalidDataException("trailing bytes");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ArgumentException)
        {
            throw PgVaultException.Corrupt(objectKey, e.Message, e);
        }
    }

    /// <summary>The byte length of the object <see cref="WriteAsync"/> writes for <paramref name="paths"/>.</summary>
    public long SerializedLength(IReadOnlyList<string> paths)
    {
        long length = 12;
        lock (_gate)
        {
            foreach (string path in paths)
                length += 2 + Encoding.UTF8.GetByteCount(path) + 12 + (long)_current[path].Pages * sizeof(ulong);
        }
        return length;
    }

    /// <summary>The paths among <paramref name="candidates"/> this run has hashes for, in the object's (ordinal) order.</summary>
    public List<string> CurrentPaths(IEnumerable<string> candidates)
    {
        lock (_gate) return candidates.Where(_current.ContainsKey).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Streams this run's hashes of <paramref name="paths"/> (ordinal order) as a version-1 object.</summary>
    public async Task WriteAsync(Stream output, IReadOnlyList<string> paths, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            "PVPH"u8.CopyTo(buffer);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), PageHashes.Version);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(8), (uint)paths.Count);
            await output.WriteAsync(buffer.AsMemory(0, 12), ct).ConfigureAwait(false);
            foreach (string path in paths)
            {
                Entry entry;
                lock (_gate) entry = _current[path];
                byte[] name = Encoding.UTF8.GetBytes(path);
                BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)name.Length);
                name.CopyTo(buffer, 2);
                BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(2 + name.Length), (ulong)entry.Size);
                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(10 + name.Length), (uint)entry.Pages);
                await output.WriteAsync(buffer.AsMemory(0, 14 + name.Length), ct).ConfigureAwait(false);
                long remaining = (long)entry.Pages * sizeof(ulong);
                long at = entry.Offset;
                while (remaining > 0)
                {
                    int chunk = (int)Math.Min(remaining, buffer.Length);
                    ReadExactly(buffer.AsSpan(0, chunk), at);
                    await output.WriteAsync(buffer.AsMemory(0, chunk), ct).ConfigureAwait(false);
                    at += chunk;
                    remaining -= chunk;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _file.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // removed by the next run's stale-directory sweep
        }
    }

    /// <summary>Exact reads from a stream into one reused buffer.</summary>
    private sealed class ChunkReader(Stream input, string objectKey)
    {
        private byte[] _buffer = new byte[1 << 16];

        /// <summary>The next <paramref name="count"/> bytes, valid until the next call.</summary>
        public async Task<ReadOnlyMemory<byte>> ReadAsync(int count, CancellationToken ct)
        {
            if (count > _buffer.Length) _buffer = new byte[count];
            int read = await input.ReadAtLeastAsync(_buffer.AsMemory(0, count), count, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (read < count) throw new EndOfStreamException($"'{objectKey}' ends early");
            return _buffer.AsMemory(0, count);
        }
    }
}
