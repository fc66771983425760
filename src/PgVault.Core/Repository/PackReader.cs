using System.Buffers;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Pipeline;

namespace PgVault.Core.Repository;

/// <summary>
/// The reading half of the pack format: reads one pack front to back, skipping the members it is
/// not asked for (members are asked for in the order of their offsets), then
/// <see cref="Finish"/> reads it to its end so its size and SHA-256 are checked against what the
/// manifest recorded: bytes added after the last member, or a pack swapped for another, fail.
/// </summary>
internal sealed class PackReader : IAsyncDisposable
{
    private const int BufferSize = 1 << 20;

    private readonly Stream _stream;
    private long _position;
    private PackMemberReader? _current;
    private long _currentEnd;

    private PackReader(Stream stream, string key)
    {
        _stream = stream;
        Key = key;
    }

    /// <summary>The pack's object key (named in every error).</summary>
    public string Key { get; }

    /// <summary>
    /// Opens pack <paramref name="key"/> in <paramref name="repository"/>, verified against
    /// <paramref name="recorded"/> (its size and SHA-256 in the manifest) when the pack is read to
    /// its end; without a record (a manifest older than pack records) only the encryption is checked.
    /// </summary>
    public static async Task<PackReader> OpenAsync(Repository repository, string key, StoredFile? recorded, CancellationToken ct)
    {
        var stream = recorded is null
            ? await repository.OpenObjectAsync(key, CompressionType.None, ct).ConfigureAwait(false)
            : await repository.OpenObjectAsync(key, recorded with { Encrypted = repository.Encrypted }, ct).ConfigureAwait(false);
        return new PackReader(stream, key);
    }

    /// <summary>
    /// Skips to <paramref name="offset"/>, where the member of <paramref name="what"/> (a file's
    /// path, named in the error) begins; a pack that ends before it is corrupt.
    /// </summary>
    public void MoveTo(long offset, string what)
    {
        if (_current != null)
        {
            _position = _currentEnd - _current.Remaining;
            _current = null;
        }
        if (offset < _position) throw new InvalidOperationException($"pack members must be read in order ({what} at {offset}, pack at {_position})");
        byte[] scratch = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (_position < offset)
            {
                int skip = _stream.Read(scratch, 0, (int)Math.Min(BufferSize, offset - _position));
                if (skip == 0) throw PgVaultException.Corrupt(Key, $"the pack ends before {what}");
                _position += skip;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Opens the member of <paramref name="length"/> stored bytes at the current position (see
    /// <see cref="MoveTo"/>), decompressed with <paramref name="compression"/> (its name in the manifest).
    /// </summary>
    public PackMemberReader OpenMember(long length, string compression)
    {
        var member = new PackMemberReader(_stream, length, CompressionSpec.ParseType(compression));
        _current = member;
        _currentEnd = _position + length;
        return member;
    }

    /// <summary>Reads what is left of the pack, so its size and checksum are verified at its end.</summary>
    public void Finish()
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (_stream.Read(scratch, 0, BufferSize) > 0)
            {
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw PgVaultException.Corrupt(Key, e.Message, e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}

/// <summary>One member being read: its decompressed <see cref="Content"/>, bounded to its stored bytes.</summary>
internal sealed class PackMemberReader : IDisposable
{
    private readonly BoundedReadStream _stored;

    internal PackMemberReader(Stream pack, long length, CompressionType compression)
    {
        _stored = new BoundedReadStream(pack, length);
        // The restore checks every member's content itself (a file's XXH128 or SHA-256, a delta's
        // result), and the whole pack against its SHA-256: zstd's frame checksums would hash it again.
        Content = Compression.DecompressFrom(_stored, compression, leaveOpen: true, frameChecksums: false);
    }

    /// <summary>The member's content. Damaged data fails as it is read (the member's own checks are the caller's).</summary>
    public Stream Content { get; }

    /// <summary>Stored bytes of the member not read yet.</summary>
    public long Remaining => _stored.Remaining;

    /// <summary>Once the content ended: its stored bytes must have ended with it.</summary>
    public void CheckEnd()
    {
        if (Remaining > 0) throw new InvalidDataException($"{Remaining} stored bytes left after the end of the compressed content");
    }

    public void Dispose()
    {
        Content.Dispose();
        _stored.Dispose();
    }

    /// <summary>Reads at most <c>length</c> bytes of the stream it wraps, which it leaves open.</summary>
    private sealed class BoundedReadStream(Stream inner, long length) : ReadOnlyStreamBase
    {
        public long Remaining { get; private set; } = length;

        public override bool CanRead => true;

        public override int Read(Span<byte> buffer)
        {
            if (Remaining == 0) return 0;
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, Remaining)]);
            if (read == 0) throw new EndOfStreamException($"the pack ends {Remaining} bytes early");
            Remaining -= read;
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
