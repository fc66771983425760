using PgVault.Core.IO;
using System.Buffers;
using System.Runtime.ExceptionServices;
using PgVault.Core.Errors;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Outermost stream of <see cref="ObjectPipeline.OpenRead"/>: hashes and counts the decompressed
/// bytes and, at the end, checks that nothing follows the compressed data and that size and
/// SHA-256 match what the manifest expects. Decompression failures caused by the data become
/// <see cref="PgVaultException.Corrupt"/>; storage failures pass through unchanged.
/// </summary>
internal sealed class VerifyingReadStream : ReadOnlyStreamBase
{
    private const int DrainBufferSize = 16 * 1024;

    private readonly HashingStream _content;
    private readonly Stream _compressed;
    private readonly SourceGuardStream _source;
    private readonly TailKeepingStream? _gzipTail;
    private readonly string _objectKey;
    private readonly string? _expectedSha256;
    private readonly long? _expectedBytes;
    private ExceptionDispatchInfo? _failure;
    private bool _verified;
    private bool _disposed;

    /// <param name="decompressed">The decompressor; owned (disposing this stream disposes the chain).</param>
    /// <param name="compressed">The decompressor's input, drained at the end to catch trailing data and let decryption check its final frame.</param>
    /// <param name="source">The guard over the stored stream, to tell storage failures from damaged data.</param>
    /// <param name="gzipTail">For gzip, the stream under GZipStream, whose last bytes must be the trailer.</param>
    public VerifyingReadStream(Stream decompressed, Stream compressed, SourceGuardStream source, TailKeepingStream? gzipTail, string objectKey, string? expectedSha256, long? expectedBytes)
    {
        _gzipTail = gzipTail;
        _content = HashingStream.ForRead(decompressed, leaveOpen: false);
        _compressed = compressed;
        _source = source;
        _objectKey = objectKey;
        _expectedSha256 = expectedSha256;
        _expectedBytes = expectedBytes;
    }

    public override bool CanRead => !_disposed;

    public override int Read(Span<byte> buffer)
    {
        CheckReadable();
        if (_verified)
        {
            return 0;
        }

        int n;
        try
        {
            n = _content.Read(buffer);
            if (n == 0 && !buffer.IsEmpty)
            {
                DrainAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();
            }
        }
        catch (Exception ex) when (IsDataFailure(ex))
        {
            throw Fail(Corrupt($"cannot decompress: {ex.Message}", ex));
        }
        catch (PgVaultException ex)
        {
            Fail(ex);
            throw;
        }

        return Check(n, buffer.IsEmpty);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckReadable();
        if (_verified)
        {
            return 0;
        }

        int n;
        try
        {
            n = await _content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0 && !buffer.IsEmpty)
            {
                await DrainAsync(async: true, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsDataFailure(ex))
        {
            throw Fail(Corrupt($"cannot decompress: {ex.Message}", ex));
        }
        catch (PgVaultException ex)
        {
            Fail(ex);
            throw;
        }

        return Check(n, buffer.IsEmpty);
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            _content.Dispose();
        }

        _disposed = true;
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _content.DisposeAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Checks the running size after a read and, at the end of the content, size and checksum.</summary>
    private int Check(int n, bool emptyRequest)
    {
        if (n > 0)
        {
            if (_expectedBytes is long limit && _content.Bytes > limit)
            {
                throw Fail(Corrupt($"size mismatch: expected {limit} bytes, got at least {_content.Bytes}"));
            }

            return n;
        }

        if (emptyRequest)
        {
            return 0;
        }

        if (_gzipTail is not null && !_gzipTail.EndsWithGzipTrailerFor(_content.Bytes))
        {
            throw Fail(Corrupt("cannot decompress: the gzip stream is truncated (its trailer does not match the content)"));
        }

        if (_expectedBytes is long expected && _content.Bytes != expected)
        {
            throw Fail(Corrupt($"size mismatch: expected {expected} bytes, got {_content.Bytes}"));
        }

        if (_expectedSha256 is not null && !string.Equals(_content.Sha256Hex, _expectedSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw Fail(Corrupt("checksum mismatch"));
        }

        _verified = true;
        return 0;
    }

    /// <summary>
    /// The decompressor reported its end: the compressed layer must end too. Reading it to its end
    /// also makes decryption check that the final frame is there and nothing follows it.
    /// </summary>
    private async ValueTask DrainAsync(bool async, CancellationToken ct)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(DrainBufferSize);
        try
        {
            int n = async
                ? await _compressed.ReadAsync(scratch.AsMemory(0, DrainBufferSize), ct).ConfigureAwait(false)
                : _compressed.Read(scratch, 0, DrainBufferSize);
            if (n > 0)
            {
                throw Corrupt("trailing data after the compressed content");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>True when <paramref name="ex"/> comes from decoding the data rather than from storage, cancellation or misuse.</summary>
    private bool IsDataFailure(Exception ex) =>
        _source.Fault is null
        && ex is not (PgVaultException or OperationCanceledException or ObjectDisposedException or OutOfMemoryException);

    private PgVaultException Corrupt(string detail, Exception? inner = null) => PgVaultException.Corrupt(_objectKey, detail, inner);

    private PgVaultException Fail(PgVaultException error)
    {
        _failure ??= ExceptionDispatchInfo.Capture(error);
        return error;
    }

    private void CheckReadable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _failure?.Throw();
    }
}
