using System.Security.Cryptography;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using Xunit;
using static PgVault.Tests.Unit.Pipeline.PipelineTestData;

namespace PgVault.Tests.Unit.Pipeline;

public sealed class PipelineBehaviourTests
{
    [Fact]
    public void HashingStream_hashes_and_counts_both_directions()
    {
        var sink = new MemoryStream();
        using (HashingStream w = HashingStream.ForWrite(sink, leaveOpen: true))
        {
            w.Write("ab"u8);
            w.Write("c"u8);
            Assert.Equal(3, w.Bytes);
            Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", w.Sha256Hex);
            Assert.Throws<InvalidOperationException>(() => w.Write("d"u8));
        }

        Assert.True(sink.CanWrite);
        sink.Position = 0;
        HashingStream r = HashingStream.ForRead(sink, leaveOpen: false);
        var buffer = new byte[2];
        while (r.Read(buffer) > 0)
        {
        }

        r.Dispose();
        Assert.False(sink.CanRead);
        Assert.Equal(3, r.Bytes);
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", r.Sha256Hex); // readable after dispose
    }

    [Fact]
    public async Task CountingStream_counts_what_reaches_the_inner_stream()
    {
        var sink = new MemoryStream();
        await using (var c = new CountingStream(sink, leaveOpen: true))
        {
            c.Write(new byte[10]);
            await c.WriteAsync(new byte[5].AsMemory());
            Assert.Equal(15, c.Bytes);
        }

        Assert.Equal(15, sink.Length);
        Assert.True(sink.CanWrite);
    }

    [Fact]
    public async Task Complete_is_idempotent_and_Input_refuses_data_afterwards()
    {
        var destination = new MemoryStream();
        await using WritePipeline pipeline = ObjectPipeline.OpenWrite(destination, CompressionSpec.Default, Key());
        await pipeline.Input.WriteAsync(PgbenchText(100_000));

        PipelineResult first = await pipeline.CompleteAsync(CancellationToken.None);
        PipelineResult second = await pipeline.CompleteAsync(CancellationToken.None);

        Assert.Same(first, second);
        Assert.Equal(destination.Length, first.StoredBytes);
        await Assert.ThrowsAnyAsync<Exception>(async () => await pipeline.Input.WriteAsync(new byte[1]));
    }

    [Theory]
    [InlineData("zstd:3", true)]
    [InlineData("lz4", false)]
    [InlineData("gzip:6", true)]
    [InlineData("none", true)]
    public async Task Disposing_without_Complete_writes_nothing_more(string specText, bool encrypted)
    {
        var destination = new MemoryStream();
        long before;
        await using (WritePipeline pipeline = ObjectPipeline.OpenWrite(destination, CompressionSpec.Parse(specText), encrypted ? Key() : null))
        {
            await pipeline.Input.WriteAsync(RandomBytes(300_000, 1));
            before = destination.Length;
        }

        Assert.Equal(before, destination.Length);
        Assert.True(destination.CanWrite, "the destination is never disposed");
    }

    [Fact]
    public async Task Fan_out_compresses_once_and_encrypts_per_branch_each_branch_as_a_single_pipeline_would_store_it()
    {
        byte[] data = PgbenchText(500_000);
        var spec = CompressionSpec.Parse("zstd:3");
        var plain = new MemoryStream();
        var encrypted = new MemoryStream();
        var bound = new MemoryStream();
        PipelineResult result;
        await using (WritePipeline pipeline = ObjectPipeline.OpenWrite([new WriteBranch(plain, null), new WriteBranch(encrypted, Key(1)), new WriteBranch(bound, Key(2), ObjectKey)], spec))
        {
            await pipeline.Input.WriteAsync(data);
            result = await pipeline.CompleteAsync(CancellationToken.None);
        }

        var (single, singleResult) = await StoreAsync(data, spec, null);
        Assert.Equal(single, plain.ToArray()); // the same compressed bytes as one pipeline into one destination
        Assert.Equal(singleResult.SourceSha256, result.SourceSha256);
        Assert.Equal([plain.Length, encrypted.Length, bound.Length], result.StoredBytesPerBranch);
        Assert.Equal(plain.Length, result.StoredBytes);
        Assert.Equal(data, await LoadAsync(encrypted.ToArray(), CompressionType.Zstd, Key(1), result.SourceSha256, data.Length));
        Assert.Equal(data, await LoadAsync(bound.ToArray(), CompressionType.Zstd, Key(2), result.SourceSha256, data.Length));
        Assert.NotEqual(encrypted.ToArray().AsSpan(40, 64).ToArray(), bound.ToArray().AsSpan(40, 64).ToArray()); // own key per branch
    }

    [Fact]
    public async Task Abandoned_fan_out_writes_nothing_more_to_any_branch()
    {
        var branches = new[] { new MemoryStream(), new MemoryStream() };
        long[] before;
        await using (WritePipeline pipeline = ObjectPipeline.OpenWrite([new WriteBranch(branches[0], Key(1)), new WriteBranch(branches[1], null)], CompressionSpec.Default))
        {
            await pipeline.Input.WriteAsync(RandomBytes(300_000, 1));
            before = branches.Select(b => b.Length).ToArray();
        }

        Assert.Equal(before, branches.Select(b => b.Length).ToArray());
        Assert.All(branches, b => Assert.True(b.CanWrite, "destinations are never disposed"));
    }

    [Fact]
    public async Task Cancellation_is_forwarded()
    {
        await using WritePipeline pipeline = ObjectPipeline.OpenWrite(new MemoryStream(), CompressionSpec.None, Key());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipeline.CompleteAsync(new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task Disposing_the_read_stream_closes_the_stored_stream()
    {
        (byte[] stored, _) = await StoreAsync(PgbenchText(1000), CompressionSpec.Default, Key());
        var source = new MemoryStream(stored);

        Stream read = ObjectPipeline.OpenRead(source, CompressionType.Zstd, Key(), ObjectKey, null, null);
        await read.DisposeAsync();
        Assert.False(source.CanRead);

        var source2 = new MemoryStream(stored);
        ObjectPipeline.OpenRead(source2, CompressionType.Zstd, Key(), ObjectKey, null, null).Dispose();
        Assert.False(source2.CanRead);
    }

    [Theory]
    [InlineData(CompressionType.Zstd, false)]
    [InlineData(CompressionType.Lz4, true)]
    [InlineData(CompressionType.Gzip, false)]
    [InlineData(CompressionType.None, true)]
    public async Task Storage_failures_are_not_reported_as_corruption(CompressionType type, bool encrypted)
    {
        byte[] data = RandomBytes(500_000, 4);
        byte[]? key = encrypted ? Key() : null;
        (byte[] stored, _) = await StoreAsync(data, new CompressionSpec(type, type == CompressionType.Zstd ? 3 : type == CompressionType.Gzip ? 6 : 0), key);

        var failing = new FailingStream(stored, failAfter: stored.Length / 2);
        await using Stream read = ObjectPipeline.OpenRead(failing, type, key, ObjectKey, Sha256Hex(data), data.Length);
        var ex = await Assert.ThrowsAsync<IOException>(() => ReadAllAsync(read, async: true));
        Assert.Equal("connection reset", ex.Message);
    }

    [Fact]
    public void Bad_keys_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ObjectPipeline.OpenWrite(new MemoryStream(), CompressionSpec.None, new byte[16]));
        Assert.Throws<ArgumentException>(() => new DecryptingStream(new MemoryStream(), new byte[31], ObjectKey, leaveOpen: false));
    }

    [Fact]
    public async Task Empty_objects_still_have_a_final_frame()
    {
        (byte[] stored, PipelineResult result) = await StoreAsync([], CompressionSpec.None, Key());

        Assert.Equal(40 + 5 + 16, stored.Length);
        Assert.Equal(1, stored[40]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(ReadOnlySpan<byte>.Empty)), result.SourceSha256);
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => LoadAsync(stored[..40], CompressionType.None, Key(), null, null));
        Assert.Contains("truncated: no final frame", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A stored stream whose connection breaks part-way.</summary>
    private sealed class FailingStream(byte[] data, int failAfter) : Stream
    {
        private int _pos;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_pos >= failAfter)
            {
                throw new IOException("connection reset");
            }

            int n = Math.Min(buffer.Length, Math.Min(8192, failAfter - _pos));
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
