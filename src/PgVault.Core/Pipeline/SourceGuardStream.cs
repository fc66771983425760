using PgVault.Core.IO;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Read-side pass-through over the stored object that remembers whether the storage itself threw.
/// <see cref="VerifyingReadStream"/> uses it to tell a storage failure (reported as is) from
/// damaged data (reported as a corrupt object): a decompressor can surface either.
/// </summary>
internal sealed class SourceGuardStream : ReadOnlyStreamBase
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private bool _disposed;

    public SourceGuardStream(Stream inner, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanRead)
        {
            throw new ArgumentException("the stored stream must be readable", nameof(inner));
        }

        _inner = inner;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The first exception the stored stream threw, if any.</summary>
    public Exception? Fault { get; private set; }

    public override bool CanRead => !_disposed;

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return _inner.Read(buffer);
        }
        catch (Exception ex) when (Record(ex))
        {
            throw; // not reached: Record returns false so the exception propagates untouched
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Record(ex))
        {
            throw;
        }
    }

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

    private bool Record(Exception ex)
    {
        Fault ??= ex;
        return false;
    }
}
