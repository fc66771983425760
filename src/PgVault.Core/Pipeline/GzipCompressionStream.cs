using PgVault.Core.IO;
using System.IO.Compression;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Write-side gzip with the exact zlib level. Wraps <see cref="GZipStream"/>, which writes nothing
/// at all when no data was written — not a valid gzip file — and writes a canonical empty gzip
/// member instead, so every gzip object (the empty one too) has a header and a trailer.
/// </summary>
internal sealed class GzipCompressionStream : WriteOnlyStreamBase
{
    // RFC 1952 member for empty content: header (no name, mtime 0, OS 3 = Unix), an empty final
    // fixed-Huffman deflate block (03 00), CRC-32 0 and ISIZE 0. `gzip -dc` accepts it.
    private static ReadOnlySpan<byte> EmptyMember =>
        [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly GZipStream _gzip;
    private bool _wrote;
    private bool _disposed;

    public GzipCompressionStream(Stream inner, int level, bool leaveOpen)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _gzip = new GZipStream(inner, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true);
    }

    public override bool CanWrite => !_disposed;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _wrote |= !buffer.IsEmpty;
        _gzip.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _wrote |= !buffer.IsEmpty;
        return _gzip.WriteAsync(buffer, cancellationToken);
    }

    public override void Flush()
    {
        if (!_disposed)
        {
            _gzip.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _disposed ? Task.CompletedTask : _gzip.FlushAsync(cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            _disposed = true;
            try
            {
                _gzip.Dispose();
                if (!_wrote)
                {
                    _inner.Write(EmptyMember);
                }
            }
            finally
            {
                if (!_leaveOpen)
                {
                    _inner.Dispose();
                }
            }
        }

        _disposed = true;
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            try
            {
                await _gzip.DisposeAsync().ConfigureAwait(false);
                if (!_wrote)
                {
                    await _inner.WriteAsync(EmptyMember.ToArray(), CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                if (!_leaveOpen)
                {
                    await _inner.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
