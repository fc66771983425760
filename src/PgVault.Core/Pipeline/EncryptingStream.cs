using PgVault.Core.IO;
using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using static PgVault.Core.Pipeline.EncryptionFormat;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Write-side stream that encrypts into <c>inner</c> with the framed AES-256-GCM format described in
/// the Pipeline README. Plaintext is cut into 64 KiB frames; the last frame (possibly empty) is
/// marked final and is written when the stream is disposed (or by <see cref="FinishAsync"/>).
/// <see cref="Flush"/> flushes <c>inner</c> but never emits a partial frame. Memory: two pooled
/// frame buffers.
/// </summary>
internal sealed class EncryptingStream : WriteOnlyStreamBase
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly byte[] _header = new byte[HeaderSize];
    private readonly AesGcm _aes;
    private byte[]? _plain; // FrameSize bytes of pending plaintext
    private byte[]? _output; // header (first frame only) + one stored frame
    private int _plainCount;
    private long _frameIndex;
    private bool _headerWritten;
    private bool _finished;
    private bool _disposed;

    /// <summary>
    /// Encrypts into <paramref name="inner"/>. With <paramref name="boundName"/> (the object's
    /// repository-relative key) the object is written in version 2 and authenticates only under that
    /// name; without it, in version 1 (repository format 1).
    /// </summary>
    public EncryptingStream(Stream inner, ReadOnlySpan<byte> dataKey, bool leaveOpen, string? boundName = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        CheckDataKey(dataKey);
        if (!inner.CanWrite)
        {
            throw new ArgumentException("the inner stream must be writable", nameof(inner));
        }

        _inner = inner;
        _leaveOpen = leaveOpen;
        CreateHeader(_header, boundName != null);
        _aes = CreateCipher(dataKey, _header, boundName);
        _plain = ArrayPool<byte>.Shared.Rent(FrameSize);
        _output = ArrayPool<byte>.Shared.Rent(HeaderSize + MaxStoredFrameSize);
    }

    public override bool CanWrite => !_disposed && !_finished;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        CheckWritable();
        while (!buffer.IsEmpty)
        {
            if (_plainCount == FrameSize)
            {
                // More data follows, so the full pending frame is not the last one.
                int n = SealFrame(FlagMore);
                _inner.Write(_output!, 0, n);
            }

            buffer = Accumulate(buffer);
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        while (!buffer.IsEmpty)
        {
            if (_plainCount == FrameSize)
            {
                int n = SealFrame(FlagMore);
                await _inner.WriteAsync(_output.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }

            int before = buffer.Length;
            int left = Accumulate(buffer.Span).Length;
            buffer = buffer[(before - left)..];
        }
    }

    /// <summary>Flushes <c>inner</c>. Pending plaintext stays buffered until the frame fills or the stream ends.</summary>
    public override void Flush()
    {
        if (!_disposed)
        {
            _inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _disposed ? Task.CompletedTask : _inner.FlushAsync(cancellationToken);

    /// <summary>Writes the final frame (and the header, if nothing was written yet) and flushes <c>inner</c>. Idempotent.</summary>
    public async ValueTask FinishAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished)
        {
            return;
        }

        int n = SealFrame(FlagFinal);
        _finished = true;
        await _inner.WriteAsync(_output.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            try
            {
                if (!_finished)
                {
                    int n = SealFrame(FlagFinal);
                    _finished = true;
                    _inner.Write(_output!, 0, n);
                    _inner.Flush();
                }
            }
            finally
            {
                Release();
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
            try
            {
                await FinishAsync(CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                Release();
                _disposed = true;
                if (!_leaveOpen)
                {
                    await _inner.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Copies as much of <paramref name="data"/> as fits into the pending frame; returns the rest.</summary>
    private ReadOnlySpan<byte> Accumulate(ReadOnlySpan<byte> data)
    {
        int take = Math.Min(data.Length, FrameSize - _plainCount);
        data[..take].CopyTo(_plain.AsSpan(_plainCount));
        _plainCount += take;
        return data[take..];
    }

    /// <summary>Encrypts the pending plaintext as the next frame into <see cref="_output"/>; returns its byte count.</summary>
    private int SealFrame(byte flag)
    {
        Span<byte> output = _output!;
        int pos = 0;
        if (!_headerWritten)
        {
            _header.CopyTo(output);
            pos = HeaderSize;
            _headerWritten = true;
        }

        int length = _plainCount;
        output[pos] = flag;
        BinaryPrimitives.WriteInt32BigEndian(output.Slice(pos + 1, 4), length);

        Span<byte> nonce = stackalloc byte[NonceSize];
        Span<byte> aad = stackalloc byte[AadSize];
        BuildNonce(nonce, _frameIndex);
        BuildAad(aad, _header, _frameIndex, flag, length);
        int body = pos + FrameHeaderSize;
        _aes.Encrypt(nonce, _plain.AsSpan(0, length), output.Slice(body, length), output.Slice(body + length, TagSize), aad);

        _frameIndex++;
        _plainCount = 0;
        return body + length + TagSize;
    }

    private void CheckWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished)
        {
            throw new InvalidOperationException("the final frame was already written");
        }
    }

    private void Release()
    {
        _aes.Dispose();
        if (_plain is not null)
        {
            ArrayPool<byte>.Shared.Return(_plain, clearArray: true);
            _plain = null;
        }

        if (_output is not null)
        {
            ArrayPool<byte>.Shared.Return(_output);
            _output = null;
        }
    }
}
