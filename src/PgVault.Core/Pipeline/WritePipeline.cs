namespace PgVault.Core.Pipeline;

/// <summary>
/// The write-side filter chain of one object: <see cref="Input"/> (hash + count) → compression →
/// [encryption] → byte count → destination. Call <see cref="CompleteAsync"/> to write the final
/// compression and encryption frames and get the sizes and checksum; disposing without completing
/// abandons the object: resources are released and nothing more reaches the destination. The
/// destination is never disposed.
/// </summary>
public sealed class WritePipeline : IAsyncDisposable
{
    private readonly HashingStream _hashing;
    private readonly Stream _compressor;
    private readonly EncryptingStream? _encryptor;
    private readonly CountingStream _counting;
    private PipelineResult? _result;
    private bool _disposed;

    internal WritePipeline(Stream destination, CompressionSpec compression, byte[]? dataKey, string? boundName = null)
    {
        _counting = new CountingStream(destination, leaveOpen: true);
        Stream below = _counting;
        if (dataKey is not null)
        {
            _encryptor = new EncryptingStream(_counting, dataKey, leaveOpen: true, boundName);
            below = _encryptor;
        }

        _compressor = Compression.CompressTo(below, compression, leaveOpen: true);
        _hashing = HashingStream.ForWrite(_compressor, leaveOpen: true);
    }

    /// <summary>Where the caller writes the object's plaintext. Do not dispose it; dispose the pipeline.</summary>
    public Stream Input
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _hashing;
        }
    }

    /// <summary>
    /// Ends the object: writes the final compression frame, then the final encryption frame, and
    /// flushes the destination. Returns the same result if called again.
    /// </summary>
    public async Task<PipelineResult> CompleteAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_result is not null)
        {
            return _result;
        }

        ct.ThrowIfCancellationRequested();
        string sha256 = _hashing.Sha256Hex; // finalizes: later writes to Input fail
        await _compressor.DisposeAsync().ConfigureAwait(false);
        if (_encryptor is not null)
        {
            await _encryptor.FinishAsync(ct).ConfigureAwait(false);
        }

        await _counting.FlushAsync(ct).ConfigureAwait(false);
        _result = new PipelineResult(_hashing.Bytes, sha256, _counting.Bytes);
        return _result;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        bool abandoned = _result is null;
        if (abandoned)
        {
            _counting.Detach();
        }

        foreach (Stream? stream in new Stream?[] { _hashing, _compressor, _encryptor, _counting })
        {
            if (stream is null)
            {
                continue;
            }

            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception) when (abandoned)
            {
                // The object is being thrown away (usually after an earlier failure); whatever a
                // filter fails to finalize does not matter, and every later filter still gets released.
            }
        }
    }
}
