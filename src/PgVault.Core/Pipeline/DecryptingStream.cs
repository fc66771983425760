using PgVault.Core.IO;
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using PgVault.Core.Errors;
using static PgVault.Core.Pipeline.EncryptionFormat;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Read-side stream that decrypts the framed AES-256-GCM format written by
/// <see cref="EncryptingStream"/>. It only ever returns plaintext whose frame authenticated. Any
/// damage — bad header, a frame that fails authentication (wrong key, bit flip, reordered or
/// dropped frames), truncation (no final frame) or bytes after the final frame — throws
/// <see cref="PgVaultException.Corrupt"/> naming the object; later reads throw the same error.
/// Memory: two pooled frame buffers.
/// </summary>
internal sealed class DecryptingStream : ReadOnlyStreamBase
{
    private enum State
    {
        Header,
        Frames,
        Done,
    }

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly string _objectKey;
    private readonly byte[] _header = new byte[HeaderSize];
    private byte[]? _dataKey; // kept until the header (salt) has been read, then zeroed
    private AesGcm? _aes;
    private byte[]? _frame; // one stored frame: flag, length, ciphertext, tag
    private byte[]? _plain; // its authenticated plaintext
    private int _plainPos;
    private int _plainLen;
    private long _frameIndex;
    private State _state;
    private ExceptionDispatchInfo? _failure;
    private bool _disposed;

    private readonly bool _requireBound;

    /// <summary>
    /// Decrypts the object stored under <paramref name="objectKey"/>: a version 2 object
    /// authenticates only under that name. With <paramref name="requireBound"/> (repository format 2)
    /// a version 1 object, which is not bound to a name, is refused as corrupt.
    /// </summary>
    public DecryptingStream(Stream inner, ReadOnlySpan<byte> dataKey, string objectKey, bool leaveOpen, bool requireBound = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(objectKey);
        CheckDataKey(dataKey);
        if (!inner.CanRead)
        {
            throw new ArgumentException("the inner stream must be readable", nameof(inner));
        }

        _inner = inner;
        _objectKey = objectKey;
        _leaveOpen = leaveOpen;
        _requireBound = requireBound;
        _dataKey = dataKey.ToArray();
        _frame = ArrayPool<byte>.Shared.Rent(MaxStoredFrameSize);
        _plain = ArrayPool<byte>.Shared.Rent(FrameSize);
    }

    public override bool CanRead => !_disposed;

    public override int Read(Span<byte> buffer)
    {
        CheckReadable();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainPos == _plainLen)
        {
            if (_state == State.Done)
            {
                return 0;
            }

            // Synchronous mode: the state machine never yields, so the ValueTask is complete here.
            LoadNextFrameAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();
        }

        return TakePlain(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckReadable();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainPos == _plainLen)
        {
            if (_state == State.Done)
            {
                return 0;
            }

            await LoadNextFrameAsync(async: true, cancellationToken).ConfigureAwait(false);
        }

        return TakePlain(buffer.Span);
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            Release();
            if (!_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        _disposed = true;
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            Release();
            _disposed = true;
            if (!_leaveOpen)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private int TakePlain(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _plainLen - _plainPos);
        _plain.AsSpan(_plainPos, n).CopyTo(destination);
        _plainPos += n;
        return n;
    }

    /// <summary>Reads the header if needed, then reads, checks and decrypts the next frame into <see cref="_plain"/>.</summary>
    private async ValueTask LoadNextFrameAsync(bool async, CancellationToken ct)
    {
        try
        {
            byte[] frame = _frame!;
            if (_state == State.Header)
            {
                int got = await ReadUpToAsync(_header, HeaderSize, async, ct).ConfigureAwait(false);
                OpenHeader(got);
                _state = State.Frames;
            }

            int head = await ReadUpToAsync(frame, FrameHeaderSize, async, ct).ConfigureAwait(false);
            if (head < FrameHeaderSize)
            {
                throw Corrupt(head == 0 ? "truncated: no final frame" : $"truncated: no final frame (the stream ends inside frame {_frameIndex})");
            }

            byte flag = frame[0];
            int length = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(1, 4));
            if (flag > FlagFinal || length < 0 || length > FrameSize || (flag == FlagMore && length != FrameSize))
            {
                throw Corrupt($"bad frame header at frame {_frameIndex} (flag {flag}, length {length})");
            }

            int body = length + TagSize;
            int got2 = await ReadUpToAsync(frame.AsMemory(FrameHeaderSize, body), body, async, ct).ConfigureAwait(false);
            if (got2 < body)
            {
                throw Corrupt($"truncated: no final frame (the stream ends inside frame {_frameIndex})");
            }

            OpenFrame(flag, length);
            if (flag == FlagFinal)
            {
                int extra = await ReadUpToAsync(frame, 1, async, ct).ConfigureAwait(false);
                if (extra != 0)
                {
                    _plainLen = _plainPos = 0;
                    throw Corrupt("trailing data after final frame");
                }

                _state = State.Done;
            }
        }
        catch (PgVaultException ex)
        {
            _failure = ExceptionDispatchInfo.Capture(ex);
            throw;
        }
    }

    private void OpenHeader(int got)
    {
        ReadOnlySpan<byte> header = _header;
        if (got < HeaderSize)
        {
            throw Corrupt($"bad header (the object is only {got} bytes; an encrypted object starts with a {HeaderSize}-byte header)");
        }

        if (!header[..Magic.Length].SequenceEqual(Magic))
        {
            throw Corrupt("bad header (not a PgVault encrypted object)");
        }

        byte version = header[Magic.Length];
        if (version is not (VersionUnbound or VersionBound))
        {
            throw Corrupt($"bad header (unsupported encryption format version {version})");
        }

        if (version == VersionUnbound && _requireBound)
        {
            throw Corrupt("bad header (an object of encryption format 1, not bound to its name, in a repository of format 2)");
        }

        _aes = CreateCipher(_dataKey!, header, _objectKey);
        CryptographicOperations.ZeroMemory(_dataKey);
        _dataKey = null;
    }

    private void OpenFrame(byte flag, int length)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        Span<byte> aad = stackalloc byte[AadSize];
        BuildNonce(nonce, _frameIndex);
        BuildAad(aad, _header, _frameIndex, flag, length);
        ReadOnlySpan<byte> frame = _frame;
        try
        {
            _aes!.Decrypt(nonce, frame.Slice(FrameHeaderSize, length), frame.Slice(FrameHeaderSize + length, TagSize), _plain.AsSpan(0, length), aad);
        }
        catch (CryptographicException ex)
        {
            throw Corrupt($"authentication failed (wrong key or damaged data) at frame {_frameIndex}", ex);
        }

        _plainPos = 0;
        _plainLen = length;
        _frameIndex++;
    }

    /// <summary>Reads until <paramref name="count"/> bytes or the end of <c>inner</c>; returns how many were read.</summary>
    private async ValueTask<int> ReadUpToAsync(Memory<byte> buffer, int count, bool async, CancellationToken ct)
    {
        Memory<byte> target = buffer[..count];
        return async
            ? await _inner.ReadAtLeastAsync(target, count, throwOnEndOfStream: false, ct).ConfigureAwait(false)
            : _inner.ReadAtLeast(target.Span, count, throwOnEndOfStream: false);
    }

    private PgVaultException Corrupt(string detail, Exception? inner = null) => PgVaultException.Corrupt(_objectKey, detail, inner);

    private void CheckReadable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _failure?.Throw();
    }

    private void Release()
    {
        _aes?.Dispose();
        if (_dataKey is not null)
        {
            CryptographicOperations.ZeroMemory(_dataKey);
            _dataKey = null;
        }

        if (_frame is not null)
        {
            ArrayPool<byte>.Shared.Return(_frame);
            _frame = null;
        }

        if (_plain is not null)
        {
            ArrayPool<byte>.Shared.Return(_plain, clearArray: true);
            _plain = null;
        }
    }
}
