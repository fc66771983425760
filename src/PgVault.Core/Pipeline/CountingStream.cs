using PgVault.Core.IO;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Write-side pass-through that counts the bytes written to <c>inner</c> — in a pipeline, what
/// actually reaches storage.
/// </summary>
internal sealed class CountingStream : WriteOnlyStreamBase
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private bool _detached;
    private bool _disposed;

    public CountingStream(Stream inner, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanWrite)
        {
            throw new ArgumentException("the inner stream must be writable", nameof(inner));
        }

        _inner = inner;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes written so far.</summary>
    public long Bytes { get; private set; }

    public override bool CanWrite => !_disposed;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_detached)
        {
            return;
        }

        _inner.Write(buffer);
        Bytes += buffer.Length;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_detached)
        {
            return;
        }

        await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Bytes += buffer.Length;
    }

    public override void Flush()
    {
        if (!_detached && !_disposed)
        {
            _inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _detached || _disposed ? Task.CompletedTask : _inner.FlushAsync(cancellationToken);

    /// <summary>
    /// From now on, drop writes and flushes instead of forwarding them. Used when a pipeline is
    /// abandoned, so that the filters above can be disposed (and emit their final frames)
    /// without touching the destination.
    /// </summary>
    internal void Detach() => _detached = true;

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing && !_leaveOpen)
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
            if (!_leaveOpen)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
