using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>
/// The libzstd reader a restore uses for pack members: the same bytes as ZstdSharp for frames of
/// either compressor, read in pieces of any size; a stream cut inside a frame is an error.
/// </summary>
public sealed class NativeZstdReadStreamTests
{
    private static byte[] Data(int length, int seed)
    {
        var data = new byte[length];
        var random = new Random(seed);
        for (int i = 0; i < length; i += 48) data[i] = (byte)random.Next(); // compressible, not trivial
        return data;
    }

    private static byte[] Frames(byte[] data, bool native)
    {
        using var output = new MemoryStream();
        using (var frames = new ZstdFrameStream(output, 3, leaveOpen: true, native))
        {
            frames.Write(data);
        }
        return output.ToArray();
    }

    /// <summary>One long frame from the streaming compressor (other objects use it): input refills inside a frame.</summary>
    private static byte[] OneFrame(byte[] data)
    {
        using var output = new MemoryStream();
        using (var zstd = Compression.CompressTo(output, CompressionSpec.Parse("zstd:3"), leaveOpen: true))
        {
            zstd.Write(data);
        }
        return output.ToArray();
    }

    private static byte[] ReadAll(byte[] compressed, int piece, bool frameChecksums = false)
    {
        using var input = new NativeZstdReadStream(new MemoryStream(compressed), leaveOpen: false, frameChecksums);
        using var output = new MemoryStream();
        var buffer = new byte[piece];
        int n;
        while ((n = input.Read(buffer, 0, piece)) > 0) output.Write(buffer, 0, n);
        return output.ToArray();
    }

    [Theory]
    [InlineData(0, 4096)]
    [InlineData(1, 1)]
    [InlineData(3 * ZstdFrameStream.FrameSize + 777, 7)]
    [InlineData(3 * ZstdFrameStream.FrameSize + 777, 65536)]
    [InlineData(3 * ZstdFrameStream.FrameSize + 777, 1 << 20)]
    public void Reads_what_both_compressors_wrote(int length, int piece)
    {
        Assert.True(NativeZstd.Available);
        byte[] data = Data(length, length + piece);
        Assert.Equal(data, ReadAll(Frames(data, native: true), piece));
        Assert.Equal(data, ReadAll(Frames(data, native: false), piece));
        Assert.Equal(data, ReadAll(OneFrame(data), piece));
    }

    [Fact]
    public void Nothing_at_all_reads_as_nothing()
    {
        Assert.Empty(ReadAll([], 4096));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_stream_cut_inside_a_frame_is_an_error(bool oneFrame)
    {
        byte[] data = Data(2 * ZstdFrameStream.FrameSize + 100, 5);
        byte[] compressed = oneFrame ? OneFrame(data) : Frames(data, native: true);
        foreach (int keep in new[] { 3, compressed.Length / 3, compressed.Length - 1 })
            Assert.Throws<EndOfStreamException>(() => ReadAll(compressed[..keep], 65536));
    }

    [Fact]
    public void Frame_checksums_are_checked_only_when_asked()
    {
        byte[] data = Data(ZstdFrameStream.FrameSize + 10, 6);
        byte[] compressed = Frames(data, native: true);
        compressed[^1] ^= 0x01; // the last frame's content checksum
        Assert.Throws<InvalidDataException>(() => ReadAll(compressed, 65536, frameChecksums: true));
        Assert.Equal(data, ReadAll(compressed, 65536, frameChecksums: false));
    }

    [Fact]
    public void Garbage_is_invalid_data()
    {
        byte[] garbage = Data(10000, 7);
        garbage[0] = 0x12;
        Assert.Throws<InvalidDataException>(() => ReadAll(garbage, 4096));
    }
}
