using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Security.Cryptography;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;

namespace PgVault.Core.Wal;

/// <summary>archive-push: a file's checksum and compressed bytes, computed on two cores at once.</summary>
public sealed partial class WalArchive
{
    /// <summary>Files up to this size are pushed from memory (hash and compression in parallel).</summary>
    private const long InMemoryLimit = 64L << 20;

    /// <summary>From this size a file is mapped (mmap) rather than read into a buffer.</summary>
    private const long MapFrom = 1L << 20;

    /// <summary>Compression is fed (and can be stopped) in slices of this size.</summary>
    private const int Slice = 1 << 20;

    /// <summary>
    /// The bytes of a file being pushed: a read-only mapping of it (a segment: no copy, no fresh
    /// memory to fault in) or, for a small file, a rented buffer holding it.
    /// </summary>
    private sealed class FileBytes : IDisposable
    {
        private readonly MemoryMappedFile? _map;
        private readonly MemoryMappedViewAccessor? _view;
        private readonly unsafe byte* _pointer;
        private readonly byte[]? _buffer;

        private unsafe FileBytes(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer, int length)
        {
            _map = map;
            _view = view;
            _pointer = pointer;
            Length = length;
        }

        private FileBytes(byte[] buffer, int length)
        {
            _buffer = buffer;
            Length = length;
        }

        public int Length { get; }

        public unsafe ReadOnlySpan<byte> Span => _buffer != null ? _buffer.AsSpan(0, Length) : new ReadOnlySpan<byte>(_pointer, Length);

        /// <summary>The bytes as an array segment (small files only; null for a mapping).</summary>
        public byte[]? Buffer => _buffer;

        public static unsafe FileBytes Map(FileStream file, int length)
        {
            var map = MemoryMappedFile.CreateFromFile(file, mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            MemoryMappedViewAccessor? view = null;
            try
            {
                view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
                byte* pointer = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
                return new FileBytes(map, view, pointer + view.PointerOffset, length);
            }
            catch
            {
                view?.Dispose();
                map.Dispose();
                throw;
            }
        }

        public static async Task<FileBytes> ReadAsync(FileStream file, int length, CancellationToken ct)
        {
            byte[] data = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
            int read = await file.ReadAtLeastAsync(data.AsMemory(0, length), length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (read != length)
            {
                ArrayPool<byte>.Shared.Return(data);
                throw new PgVaultException(ErrorCode.SourceUnreadable, $"'{file.Name}' changed size while it was read");
            }
            return new FileBytes(data, length);
        }

        public void Dispose()
        {
            if (_buffer != null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                return;
            }
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map!.Dispose();
        }
    }

    /// <summary>
    /// The checksum of a file being pushed and, when it fit in memory, its bytes, compressed on
    /// another core while the hash runs.
    /// </summary>
    private sealed class PreparedFile(Task<string> sha256, FileBytes? data)
    {
        private readonly CancellationTokenSource _stop = new();

        public Task<string> Sha256 { get; } = sha256;

        /// <summary>The compressed bytes once started (null result: stream the file instead).</summary>
        public Task<MemoryStream?>? Compressed { get; private set; }

        public void StartCompression(CompressionSpec compression, CancellationToken ct)
        {
            if (Compressed != null) return;
            if (data is null || (compression.Type == CompressionType.None && data.Buffer is null))
            {
                Compressed = Task.FromResult<MemoryStream?>(null);
                return;
            }
            if (compression.Type == CompressionType.None)
            {
                Compressed = Task.FromResult<MemoryStream?>(new MemoryStream(data.Buffer!, 0, data.Length, writable: false, publiclyVisible: true));
                return;
            }
            var stop = _stop.Token;
            Compressed = Task.Run<MemoryStream?>(() =>
            {
                long started = TraceTiming.Now();
                var buffer = new MemoryStream(data.Length / 4 + 1024);
                using (var compressor = Compression.CompressTo(buffer, compression, leaveOpen: true))
                {
                    for (int offset = 0; offset < data.Length; offset += Slice)
                    {
                        stop.ThrowIfCancellationRequested();
                        compressor.Write(data.Span.Slice(offset, Math.Min(Slice, data.Length - offset)));
                    }
                }
                TraceTiming.Add("push: compress (thread time)", started, data.Length);
                return buffer;
            }, ct);
        }

        /// <summary>Stops a compression that is no longer needed, waits for the tasks reading the bytes, then releases them.</summary>
        public void Release()
        {
            _stop.Cancel();
            if (data != null)
            {
                try { Task.WaitAll(Compressed is null ? [Sha256] : [Sha256, Compressed]); } catch (AggregateException) { }
                data.Dispose();
            }
            _stop.Dispose();
        }
    }

    private static async Task<PreparedFile> PrepareInMemoryAsync(FileStream file, CancellationToken ct)
    {
        int length = (int)file.Length;
        var data = length >= MapFrom ? FileBytes.Map(file, length) : await FileBytes.ReadAsync(file, length, ct).ConfigureAwait(false);
        var sha = Task.Run(() =>
        {
            long started = TraceTiming.Now();
            string hex = Convert.ToHexStringLower(SHA256.HashData(data.Span));
            TraceTiming.Add("push: SHA-256 (thread time)", started, data.Length);
            return hex;
        }, ct);
        return new PreparedFile(sha, data);
    }

    private static async Task<PreparedFile> PrepareStreamingAsync(FileStream file, CancellationToken ct)
    {
        string sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct).ConfigureAwait(false));
        return new PreparedFile(Task.FromResult(sha), null);
    }
}
