using System.Runtime.CompilerServices;

namespace PgVault.Core.Storage;

/// <summary>
/// An <see cref="IObjectStore"/> held in memory, for unit tests of catalog and repository logic
/// (it passes the same conformance suite as the filesystem and S3 stores). Objects are immutable
/// lists of chunks: a commit swaps one in atomically, a read streams over the chunks it opened
/// with (a later overwrite does not change a read under way). Stores opened with
/// <see cref="OpenPeer"/> share the objects, as two processes share a directory or a bucket.
/// </summary>
internal sealed class MemoryObjectStore : IObjectStore
{
    private const int ChunkSize = 1024 * 1024;

    private readonly Shared _shared;

    public MemoryObjectStore(string name = "memory") : this(name, new Shared())
    {
    }

    private MemoryObjectStore(string name, Shared shared)
    {
        Name = name;
        _shared = shared;
    }

    public string Name { get; }

    public string Location => $"memory:{Name}";

    /// <summary>Writers opened and neither committed nor disposed (what a crash would leave staged).</summary>
    public int OpenWriters => Volatile.Read(ref _shared.OpenWriters);

    /// <summary>Another store over the same objects, as a second process would open it.</summary>
    public MemoryObjectStore OpenPeer() => new(Name, _shared);

    public Task<ObjectWriter> OpenWriteAsync(string key, CancellationToken ct)
    {
        CheckKey(key);
        ct.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _shared.OpenWriters);
        return Task.FromResult<ObjectWriter>(new Writer(this, key));
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken ct)
    {
        CheckKey(key);
        ct.ThrowIfCancellationRequested();
        lock (_shared.Objects)
        {
            return _shared.Objects.TryGetValue(key, out var stored)
                ? Task.FromResult<Stream>(new Reader(stored))
                : throw new ObjectNotFoundException(Name, key);
        }
    }

    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct)
    {
        CheckKey(key);
        lock (_shared.Objects)
        {
            return Task.FromResult(_shared.Objects.TryGetValue(key, out var stored) ? new ObjectInfo(key, stored.Length, stored.Time) : null);
        }
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        if (prefix.StartsWith('/') || prefix.Split('/').Any(part => part is "." or ".."))
            throw new ArgumentException($"invalid prefix '{prefix}'", nameof(prefix));
        List<ObjectInfo> found;
        lock (_shared.Objects)
        {
            found = _shared.Objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))
                .Select(o => new ObjectInfo(o.Key, o.Value.Length, o.Value.Time)).ToList();
        }
        found.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var info in found)
        {
            ct.ThrowIfCancellationRequested();
            yield return info;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        CheckKey(key);
        ct.ThrowIfCancellationRequested();
        lock (_shared.Objects) _shared.Objects.Remove(key);
        return Task.CompletedTask;
    }

    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        CheckKey(key);
        ct.ThrowIfCancellationRequested();
        var stored = new StoredObject([bytes.ToArray()], bytes.Length, DateTimeOffset.UtcNow);
        lock (_shared.Objects) return Task.FromResult(_shared.Objects.TryAdd(key, stored));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static void CheckKey(string key)
    {
        if (key.Length == 0 || key.StartsWith('/') || key.Split('/').Any(part => part is "" or "." or ".."))
            throw new ArgumentException($"invalid object key '{key}'", nameof(key));
    }

    private sealed class Shared
    {
        public readonly Dictionary<string, StoredObject> Objects = new(StringComparer.Ordinal);
        public int OpenWriters;
    }

    private sealed record StoredObject(IReadOnlyList<byte[]> Chunks, long Length, DateTimeOffset Time);

    /// <summary>Fills chunks of <see cref="ChunkSize"/>; nothing is visible until <see cref="CommitAsync"/>.</summary>
    private sealed class Writer(MemoryObjectStore store, string key) : ObjectWriter
    {
        private readonly List<byte[]> _chunks = [];
        private int _used = ChunkSize;
        private long _length;
        private bool _done;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            while (!buffer.IsEmpty)
            {
                if (_used == ChunkSize)
                {
                    _chunks.Add(new byte[ChunkSize]);
                    _used = 0;
                }
                int n = Math.Min(buffer.Length, ChunkSize - _used);
                buffer[..n].CopyTo(_chunks[^1].AsSpan(_used));
                _used += n;
                _length += n;
                buffer = buffer[n..];
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override Task CommitAsync(CancellationToken ct)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            ct.ThrowIfCancellationRequested();
            if (_chunks.Count > 0 && _used < ChunkSize) _chunks[^1] = _chunks[^1][.._used];
            var stored = new StoredObject(_chunks.ToArray(), _length, DateTimeOffset.UtcNow);
            lock (store._shared.Objects) store._shared.Objects[key] = stored;
            Finish();
            return Task.CompletedTask;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) Finish();
            base.Dispose(disposing);
        }

        public override ValueTask DisposeAsync()
        {
            Finish();
            return base.DisposeAsync();
        }

        private void Finish()
        {
            if (_done) return;
            _done = true;
            _chunks.Clear();
            Interlocked.Decrement(ref store._shared.OpenWriters);
        }
    }

    /// <summary>A read-only stream over one committed version of an object.</summary>
    private sealed class Reader(StoredObject stored) : Stream
    {
        private int _chunk;
        private int _offset;
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => stored.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int total = 0;
            while (!buffer.IsEmpty && _chunk < stored.Chunks.Count)
            {
                var current = stored.Chunks[_chunk];
                int n = Math.Min(buffer.Length, current.Length - _offset);
                current.AsSpan(_offset, n).CopyTo(buffer);
                buffer = buffer[n..];
                _offset += n;
                total += n;
                if (_offset == current.Length)
                {
                    _chunk++;
                    _offset = 0;
                }
            }
            _position += total;
            return total;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(Read(buffer.Span));
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
