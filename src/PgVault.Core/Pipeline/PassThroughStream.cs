using PgVault.Core.IO;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Forwards reads or writes unchanged; used for <see cref="CompressionType.None"/> so that every
/// compression choice yields a stream with the same ownership rules (leaveOpen is honored).
/// </summary>
internal sealed class PassThroughStream : ReadOrWriteStreamBase
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly bool _write;
    private bool _disposed;

    public PassThroughStream(Stream inner, bool write, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _write = write;
        _leaveOpen = leaveOpen;
    }

    public override bool CanRead => !_write && !_disposed;
    public override bool CanWrite => _write && !_disposed;

    public override int Read(Span<byte> buffer)
    {
        CheckRead();
        return _inner.Read(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckRead();
        return _inner.ReadAsync(buffer, cancellationToken);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        CheckWrite();
        _inner.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckWrite();
        return _inner.WriteAsync(buffer, cancellationToken);
    }

    public override void Flush()
    {
        if (_write && !_disposed)
        {
            _inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _write && !_disposed ? _inner.FlushAsync(cancellationToken) : Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            if (disposing && !_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private void CheckRead()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_write)
        {
            throw new NotSupportedException("this stream is write-only");
        }
    }

    private void CheckWrite()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_write)
        {
            throw new NotSupportedException("this stream is read-only");
        }
    }
}
