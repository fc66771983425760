namespace PgVault.Core.Pipeline;

/// <summary>
/// One destination of a <see cref="WritePipeline"/>: the stored bytes go to <paramref name="Destination"/>
/// (never disposed by the pipeline), encrypted with <paramref name="DataKey"/> (32 bytes) when
/// given and, with <paramref name="BoundName"/>, bound to that name (encryption format 2).
/// </summary>
internal sealed record WriteBranch(Stream Destination, byte[]? DataKey, string? BoundName = null);

/// <summary>
/// The write-side filter chain of one object, and the only place it is composed:
/// <see cref="Input"/> (hash + count) → compression → one branch per destination:
/// [encryption] → byte count → destination. Hashing and compression run once whatever the number
/// of destinations (several repositories: compress once, encrypt per repository). Call
/// <see cref="CompleteAsync"/> to write the final compression and encryption frames and get the
/// sizes and checksum; disposing without completing abandons the object: resources are released
/// and nothing more reaches any destination. Destinations are never disposed.
/// </summary>
internal sealed class WritePipeline : IAsyncDisposable
{
    private readonly HashingStream _hashing;
    private readonly Stream _compressor;
    private readonly TeeStream? _tee;
    private readonly EncryptingStream?[] _encryptors;
    private readonly CountingStream[] _counting;
    private PipelineResult? _result;
    private bool _disposed;

    internal WritePipeline(IReadOnlyList<WriteBranch> branches, CompressionSpec compression, bool hashSource = true)
    {
        _counting = new CountingStream[branches.Count];
        _encryptors = new EncryptingStream?[branches.Count];
        var bottoms = new Stream[branches.Count];
        for (int i = 0; i < branches.Count; i++)
        {
            _counting[i] = new CountingStream(branches[i].Destination, leaveOpen: true);
            bottoms[i] = _counting[i];
            if (branches[i].DataKey is { } dataKey)
            {
                _encryptors[i] = new EncryptingStream(_counting[i], dataKey, leaveOpen: true, branches[i].BoundName);
                bottoms[i] = _encryptors[i]!;
            }
        }

        Stream below = bottoms.Length == 1 ? bottoms[0] : _tee = new TeeStream(bottoms);
        _compressor = Compression.CompressTo(below, compression, leaveOpen: true);
        _hashing = HashingStream.ForWrite(_compressor, leaveOpen: true, hashSource);
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
    /// Ends the object: writes the final compression frame, then the final encryption frame of
    /// each branch, and flushes the destinations. Returns the same result if called again.
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
        for (int i = 0; i < _counting.Length; i++)
        {
            if (_encryptors[i] is { } encryptor)
            {
                await encryptor.FinishAsync(ct).ConfigureAwait(false);
            }

            await _counting[i].FlushAsync(ct).ConfigureAwait(false);
        }

        _result = new PipelineResult(_hashing.Bytes, sha256, _counting[0].Bytes) { StoredBytesPerBranch = _counting.Select(c => c.Bytes).ToArray() };
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
            foreach (var counting in _counting)
            {
                counting.Detach();
            }
        }

        var streams = new List<Stream?> { _hashing, _compressor, _tee };
        streams.AddRange(_encryptors);
        streams.AddRange(_counting);
        foreach (Stream? stream in streams)
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
