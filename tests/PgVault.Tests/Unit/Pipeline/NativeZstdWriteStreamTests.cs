using System.Diagnostics;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>
/// The libzstd streaming compressor every zstd object but pack members goes through: one frame
/// with its content checksum, read back by ZstdSharp (checksums checked), by libzstd and by the
/// zstd tool, whatever the write sizes, flushes or the sync/async path; a context left inside a
/// frame by a failed write is reset before the next stream reuses it.
/// </summary>
public sealed class NativeZstdWriteStreamTests
{
    private static byte[] Data(int length, int seed)
    {
        var data = new byte[length];
        var random = new Random(seed);
        for (int i = 0; i < length; i += 40) data[i] = (byte)random.Next(); // compressible, not trivial
        return data;
    }

    private static byte[] Compress(byte[] data, int piece, int level = 3, bool flushEach = false)
    {
        using var output = new MemoryStream();
        using (var zstd = new NativeZstdWriteStream(output, level, leaveOpen: true))
        {
            for (int at = 0; at < data.Length; at += piece)
            {
                zstd.Write(data, at, Math.Min(piece, data.Length - at));
                if (flushEach) zstd.Flush();
            }
        }
        return output.ToArray();
    }

    private static byte[] Decompress(byte[] compressed, bool native)
    {
        using var input = Compression.Zstd(new MemoryStream(compressed), leaveOpen: false, frameChecksums: true, native);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData(0, 4096)]
    [InlineData(1, 1)]
    [InlineData(300_000, 7)]
    [InlineData(5 * 1024 * 1024 + 333, 65536)]
    [InlineData(5 * 1024 * 1024 + 333, 8 * 1024 * 1024)]
    public void Both_readers_get_back_what_was_written(int length, int piece)
    {
        Assert.True(NativeZstd.Available);
        byte[] data = Data(length, length ^ piece);
        byte[] compressed = Compress(data, piece);

        Assert.Equal(data, Decompress(compressed, native: false));
        Assert.Equal(data, Decompress(compressed, native: true));
        Assert.True(data.Length < 1000 || compressed.Length < data.Length / 4, $"{compressed.Length} bytes for {data.Length}");
    }

    [Fact]
    public void One_frame_with_its_content_checksum_that_the_zstd_tool_accepts()
    {
        byte[] data = Data(3 * 1024 * 1024, 11);
        byte[] compressed = Compress(data, 100_000, flushEach: true);

        Assert.Equal(0xFD2FB528u, BitConverter.ToUInt32(compressed, 0)); // zstd frame magic
        Assert.NotEqual(0, compressed[4] & 0x04); // Frame_Header_Descriptor: Content_Checksum_flag
        string file = Path.Combine(Path.GetTempPath(), $"pgvault-zstd-{Guid.NewGuid():N}.zst");
        try
        {
            File.WriteAllBytes(file, compressed);
            using var zstd = Process.Start(new ProcessStartInfo("zstd", ["-d", "-c", "-q", file]) { RedirectStandardOutput = true })!;
            using var decoded = new MemoryStream();
            zstd.StandardOutput.BaseStream.CopyTo(decoded);
            zstd.WaitForExit();
            Assert.Equal(0, zstd.ExitCode);
            Assert.Equal(data, decoded.ToArray());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_damaged_frame_fails_its_checksum()
    {
        byte[] data = Data(1024 * 1024, 12);
        byte[] compressed = Compress(data, 65536);
        compressed[^1] ^= 0x01;
        Assert.ThrowsAny<Exception>(() => Decompress(compressed, native: false));
        Assert.Throws<InvalidDataException>(() => Decompress(compressed, native: true));
    }

    [Fact]
    public void Flush_makes_what_was_written_decodable_before_the_end()
    {
        byte[] first = Data(200_000, 13);
        using var output = new MemoryStream();
        using var zstd = new NativeZstdWriteStream(output, 3, leaveOpen: true);
        zstd.Write(first);
        zstd.Flush();

        using var reader = NativeZstd.Decoder.Create(frameChecksums: true);
        var decoded = new byte[first.Length + 100];
        var (consumed, produced, inFrame) = reader.Decode(output.ToArray(), decoded);
        Assert.Equal((int)output.Length, consumed);
        Assert.Equal(first, decoded[..produced]);
        Assert.True(inFrame); // the frame is still open until the stream ends
    }

    [Fact]
    public async Task The_async_path_writes_the_same_frame()
    {
        byte[] data = Data(2 * 1024 * 1024 + 5, 14);
        using var output = new MemoryStream();
        await using (var zstd = new NativeZstdWriteStream(output, 3, leaveOpen: true))
        {
            for (int at = 0; at < data.Length; at += 300_000)
                await zstd.WriteAsync(data.AsMemory(at, Math.Min(300_000, data.Length - at)));
            await zstd.FlushAsync();
        }
        Assert.Equal(data, Decompress(output.ToArray(), native: false));
    }

    [Fact]
    public void A_context_left_inside_a_frame_by_a_failure_is_reset_before_it_is_reused()
    {
        const int level = 7; // a level of its own: the pool holds contexts per level
        byte[] data = Data(4 * 1024 * 1024, 15);
        var failing = new FailingStream();
        var broken = new NativeZstdWriteStream(failing, level, leaveOpen: true);
        Assert.Throws<IOException>(() => broken.Write(data));
        Assert.Throws<IOException>(() => broken.Dispose()); // ending the frame fails too; the context goes back to the pool

        for (int i = 0; i < 3; i++)
            Assert.Equal(data, Decompress(Compress(data, 1 << 20, level), native: false));
    }

    [Fact]
    public void Compression_uses_it_for_zstd()
    {
        using var zstd = Compression.CompressTo(new MemoryStream(), CompressionSpec.Parse("zstd:3"), leaveOpen: false);
        Assert.IsType<NativeZstdWriteStream>(zstd);
    }

    private sealed class FailingStream : MemoryStream
    {
        public override void Write(ReadOnlySpan<byte> buffer) => throw new IOException("disk full");

        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("disk full");
    }
}
