using PgVault.Core.IO;
using System.Buffers.Binary;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Read-side pass-through that remembers the last 8 bytes read. Used under GZipStream: .NET's
/// decompressor does not report a gzip stream that ends early (it returns a short, clean end), so
/// <see cref="VerifyingReadStream"/> checks the trailer's ISIZE against the content length itself.
/// (zlib does check the trailer's CRC-32 when the trailer is complete.)
/// </summary>
internal sealed class TailKeepingStream : ReadOnlyStreamBase
{
    private const int TailSize = 8;

    private readonly Stream _inner;
    private readonly byte[] _tail = new byte[TailSize];
    private long _total;
    private bool _disposed;

    public TailKeepingStream(Stream inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
    }

    /// <summary>
    /// True when at least 8 bytes went through and the last 4, read as the gzip ISIZE field
    /// (little-endian), equal <paramref name="contentBytes"/> modulo 2^32.
    /// </summary>
    public bool EndsWithGzipTrailerFor(long contentBytes) =>
        _total >= TailSize && BinaryPrimitives.ReadUInt32LittleEndian(_tail.AsSpan(4)) == unchecked((uint)contentBytes);

    public override bool CanRead => !_disposed;

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = _inner.Read(buffer);
        Remember(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Remember(buffer.Span[..n]);
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            _inner.Dispose();
        }

        _disposed = true;
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _inner.DisposeAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private void Remember(ReadOnlySpan<byte> data)
    {
        if (data.Length >= TailSize)
        {
            data[^TailSize..].CopyTo(_tail);
        }
        else if (!data.IsEmpty)
        {
            // Shift the kept bytes left and append the new ones.
            _tail.AsSpan(data.Length).CopyTo(_tail);
            data.CopyTo(_tail.AsSpan(TailSize - data.Length));
        }

        _total += data.Length;
    }
}
