namespace PgVault.Core.IO;

// The Stream plumbing that every PgVault filter stream needs, written once. Each base leaves
// abstract exactly what a filter has to provide: the span/memory overloads of its direction and
// CanRead/CanWrite (usually "not disposed yet"). The array overloads check their arguments and
// forward to the span/memory ones; the other direction and seeking are not supported. These are
// public only because public streams (EncryptingStream, HashingStream, ...) derive from them.

/// <summary>A forward-only stream: no seeking, no length, no position.</summary>
internal abstract class NonSeekableStream : Stream
{
    public sealed override bool CanSeek => false;
    public sealed override long Length => throw new NotSupportedException();
    public sealed override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Checks the arguments of an array overload and returns the bytes they select.</summary>
    private protected static Span<byte> ValidatedSpan(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return buffer.AsSpan(offset, count);
    }

    /// <inheritdoc cref="ValidatedSpan"/>
    private protected static Memory<byte> ValidatedMemory(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return buffer.AsMemory(offset, count);
    }
}

/// <summary>
/// A read-only forward-only stream. Derived classes provide <see cref="Stream.CanRead"/>,
/// <see cref="Read(Span{byte})"/> and <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>;
/// <see cref="Flush"/> does nothing.
/// </summary>
internal abstract class ReadOnlyStreamBase : NonSeekableStream
{
    public sealed override bool CanWrite => false;
    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override void Flush()
    {
    }

    public sealed override int Read(byte[] buffer, int offset, int count) => Read(ValidatedSpan(buffer, offset, count));

    public sealed override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(ValidatedMemory(buffer, offset, count), cancellationToken).AsTask();

    public abstract override int Read(Span<byte> buffer);

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);
}

/// <summary>
/// A write-only forward-only stream. Derived classes provide <see cref="Stream.CanWrite"/>,
/// <see cref="Write(ReadOnlySpan{byte})"/>, <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
/// and <see cref="Stream.Flush"/>.
/// </summary>
internal abstract class WriteOnlyStreamBase : NonSeekableStream
{
    public sealed override bool CanRead => false;
    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public sealed override void Write(byte[] buffer, int offset, int count) => Write(ValidatedSpan(buffer, offset, count));

    public sealed override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(ValidatedMemory(buffer, offset, count), cancellationToken).AsTask();

    public abstract override void Write(ReadOnlySpan<byte> buffer);

    public abstract override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default);
}

/// <summary>
/// A forward-only stream that reads or writes, the direction being chosen when it is created
/// (<see cref="HashingStream.ForRead"/> / <see cref="HashingStream.ForWrite"/>). Derived classes
/// provide <see cref="Stream.CanRead"/>, <see cref="Stream.CanWrite"/>, <see cref="Stream.Flush"/>
/// and the span/memory overloads of both directions (refusing the one they were not made for).
/// </summary>
internal abstract class ReadOrWriteStreamBase : NonSeekableStream
{
    public sealed override int Read(byte[] buffer, int offset, int count) => Read(ValidatedSpan(buffer, offset, count));

    public sealed override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(ValidatedMemory(buffer, offset, count), cancellationToken).AsTask();

    public sealed override void Write(byte[] buffer, int offset, int count) => Write(ValidatedSpan(buffer, offset, count));

    public sealed override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(ValidatedMemory(buffer, offset, count), cancellationToken).AsTask();

    public abstract override int Read(Span<byte> buffer);

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public abstract override void Write(ReadOnlySpan<byte> buffer);

    public abstract override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default);
}
