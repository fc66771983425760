using PgVault.Core.IO;
using System.Security.Cryptography;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Pass-through stream that counts the bytes going through it and computes their SHA-256, on the
/// write side (<see cref="ForWrite"/>) or the read side (<see cref="ForRead"/>). On the write side
/// the hash can be left out (the caller already has it): then it only counts.
/// </summary>
internal sealed class HashingStream : ReadOrWriteStreamBase
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly bool _write;
    private readonly IncrementalHash? _hash;
    private string? _sha256Hex;
    private bool _disposed;

    private HashingStream(Stream inner, bool write, bool leaveOpen, bool hash = true)
    {
        _inner = inner;
        _write = write;
        _leaveOpen = leaveOpen;
        _hash = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
    }

    /// <summary>
    /// Hashes what is written (unless <paramref name="hash"/> is false: then <see cref="Sha256Hex"/>
    /// is empty), then writes it to <paramref name="inner"/>.
    /// </summary>
    public static HashingStream ForWrite(Stream inner, bool leaveOpen, bool hash = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return inner.CanWrite
            ? new HashingStream(inner, write: true, leaveOpen, hash)
            : throw new ArgumentException("the inner stream must be writable", nameof(inner));
    }

    /// <summary>Hashes what is read from <paramref name="inner"/>.</summary>
    public static HashingStream ForRead(Stream inner, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return inner.CanRead
            ? new HashingStream(inner, write: false, leaveOpen)
            : throw new ArgumentException("the inner stream must be readable", nameof(inner));
    }

    /// <summary>Bytes that went through so far.</summary>
    public long Bytes { get; private set; }

    /// <summary>
    /// Lowercase hex SHA-256 of everything that went through. Read it once the data has ended: the
    /// first read finalizes the hash, and any further data is then refused.
    /// </summary>
    public string Sha256Hex => _sha256Hex ??= FinalizeHash();

    public override bool CanRead => !_write && !_disposed;
    public override bool CanWrite => _write && !_disposed;

    public override int Read(Span<byte> buffer)
    {
        CheckUsable(write: false);
        int n = _inner.Read(buffer);
        Append(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckUsable(write: false);
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Append(buffer.Span[..n]);
        return n;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        CheckUsable(write: true);
        Append(buffer);
        _inner.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckUsable(write: true);
        Append(buffer.Span);
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
        if (!_disposed && disposing)
        {
            ReleaseHash();
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
            ReleaseHash();
            _disposed = true;
            if (!_leaveOpen)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        if (_sha256Hex is not null)
        {
            throw new InvalidOperationException("data went through the stream after its SHA-256 was taken");
        }

        _hash?.AppendData(data);
        Bytes += data.Length;
    }

    private string FinalizeHash()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_hash is null)
        {
            return "";
        }

        Span<byte> digest = stackalloc byte[32];
        _hash.GetHashAndReset(digest);
        return Convert.ToHexStringLower(digest);
    }

    // Keeps Sha256Hex readable after disposal (the pipelines dispose before reporting).
    private void ReleaseHash()
    {
        _sha256Hex ??= FinalizeHash();
        _hash?.Dispose();
    }

    private void CheckUsable(bool write)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (write != _write)
        {
            throw new NotSupportedException(_write ? "this stream is write-only" : "this stream is read-only");
        }
    }
}
