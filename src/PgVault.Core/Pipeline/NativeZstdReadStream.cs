using System.Buffers;
using PgVault.Core.IO;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Decompresses a zstd stream (one frame or several in a row) through the system's libzstd
/// (<see cref="NativeZstd"/>: 3.3 GB/s against 2.1-2.4 GB/s for ZstdSharp on pgbench data). Like
/// ZstdSharp's stream with checkEndOfStream, input that ends inside a frame is an
/// <see cref="EndOfStreamException"/>, damaged input an <see cref="InvalidDataException"/>.
/// </summary>
internal sealed class NativeZstdReadStream : ReadOrWriteStreamBase
{
    private const int InputSize = 128 * 1024; // about ZSTD_DStreamInSize()

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly NativeZstd.Decoder _decoder;
    private byte[]? _input = ArrayPool<byte>.Shared.Rent(InputSize);
    private int _position, _length;
    private bool _innerEnded, _inFrame, _disposed;

    public NativeZstdReadStream(Stream inner, bool leaveOpen, bool frameChecksums)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _decoder = NativeZstd.Decoder.Create(frameChecksums);
    }

    public override bool CanRead => !_disposed;

    public override bool CanWrite => false;

    public override void Write(ReadOnlySpan<byte> buffer) => throw new NotSupportedException();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            if (_position == _length && !_innerEnded)
            {
                _length = _inner.Read(_input.AsSpan(0, InputSize));
                _position = 0;
                _innerEnded = _length == 0;
            }
            // Also with no input left: the decoder may hold output that did not fit last time.
            var (consumed, produced, inFrame) = _decoder.Decode(_input.AsSpan(_position, _length - _position), buffer);
            _position += consumed;
            // A call that moved nothing reports only what the next frame header needs: the state stays.
            if (consumed > 0 || produced > 0) _inFrame = inFrame;
            if (produced > 0) return produced;
            if (_position == _length && _innerEnded)
            {
                if (_inFrame) throw new EndOfStreamException("the zstd stream ends inside a frame");
                return 0;
            }
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            if (disposing)
            {
                _decoder.Dispose();
                ArrayPool<byte>.Shared.Return(_input!);
                _input = null;
                if (!_leaveOpen) _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
