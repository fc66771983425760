using System.Buffers.Binary;
using System.Diagnostics;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>Pack members in 1 MiB zstd frames: any zstd decoder reads them back whole, damage is caught.</summary>
public sealed class ZstdFrameStreamTests
{
    private const uint FrameMagic = 0xFD2FB528;

    private static byte[] Data(int length)
    {
        var data = new byte[length];
        var random = new Random(length);
        for (int i = 0; i < length; i += 64) data[i] = (byte)random.Next(); // compressible, not trivial
        return data;
    }

    private static byte[] Compress(byte[] data, int chunk, bool? native = null)
    {
        using var output = new MemoryStream();
        using (var frames = new ZstdFrameStream(output, 3, leaveOpen: true, native))
        {
            for (int at = 0; at < data.Length; at += chunk) frames.Write(data, at, Math.Min(chunk, data.Length - at));
        }
        return output.ToArray();
    }

    private static byte[] Decompress(byte[] compressed)
    {
        using var input = Compression.DecompressFrom(new MemoryStream(compressed), CompressionType.Zstd, leaveOpen: false);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>How many frames: occurrences of the frame magic (a chance match inside compressed bytes is ~2^-32 per position).</summary>
    private static int Frames(byte[] compressed)
    {
        Assert.Equal(FrameMagic, BinaryPrimitives.ReadUInt32LittleEndian(compressed));
        int frames = 0;
        for (int at = 0; at + 4 <= compressed.Length; at++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(at)) == FrameMagic) frames++;
        }
        return frames;
    }

    [Theory]
    [InlineData(0, 1000, 1, false)]
    [InlineData(1, 1, 1, false)]
    [InlineData(ZstdFrameStream.FrameSize, 8192, 1, false)]
    [InlineData(2 * ZstdFrameStream.FrameSize + 123, 1000 * 1000, 3, false)]
    [InlineData(3 * ZstdFrameStream.FrameSize - 1, 3 * ZstdFrameStream.FrameSize, 3, false)]
    [InlineData(0, 1000, 1, true)]
    [InlineData(1, 1, 1, true)]
    [InlineData(2 * ZstdFrameStream.FrameSize + 123, 1000 * 1000, 3, true)]
    [InlineData(3 * ZstdFrameStream.FrameSize - 1, 3 * ZstdFrameStream.FrameSize, 3, true)]
    public void Round_trips_in_frames_of_one_MiB(int length, int chunk, int frames, bool native)
    {
        byte[] data = Data(length);
        byte[] compressed = Compress(data, chunk, native);
        Assert.Equal(frames, Frames(compressed));
        Assert.Equal(data, Decompress(compressed));
    }

    [Fact]
    public void The_system_libzstd_compresses_here_and_its_frames_carry_their_checksums()
    {
        // Debian 12 always has libzstd.so.1 (dpkg depends on it): the fast path must be the one taken.
        Assert.True(NativeZstd.Available, "libzstd.so.1 was not loaded");
        byte[] data = Data(ZstdFrameStream.FrameSize + 5000);
        byte[] compressed = Compress(data, 65536, native: true);
        Assert.Equal(data, Decompress(compressed));
        // Frame header descriptor of the first frame (byte 4): bit 2 = content checksum present.
        Assert.NotEqual(0, compressed[4] & 0x04);
        compressed[^1] ^= 0x01;
        Assert.ThrowsAny<Exception>(() => Decompress(compressed));
    }

    [Fact]
    public void A_damaged_frame_is_an_error_not_other_bytes()
    {
        byte[] compressed = Compress(Data(2 * ZstdFrameStream.FrameSize), 65536);
        compressed[compressed.Length - 10] ^= 0x40; // inside the second frame
        Assert.ThrowsAny<Exception>(() => Decompress(compressed));
    }

    [Fact]
    public void Frame_checksums_are_checked_unless_the_caller_checks_the_content_itself()
    {
        byte[] data = Data(ZstdFrameStream.FrameSize + 1000);
        byte[] compressed = Compress(data, 65536);
        compressed[^1] ^= 0x01; // the last frame's content checksum (its last 4 bytes), not its data
        Assert.ThrowsAny<Exception>(() => Decompress(compressed));
        // A restore reads pack members this way: each file's XXH128 is its check. Both decoders:
        // libzstd (taken here) and ZstdSharp (taken where libzstd is missing).
        foreach (bool native in new[] { true, false })
        {
            using var input = Compression.Zstd(new MemoryStream(compressed), leaveOpen: false, frameChecksums: false, native);
            Assert.IsType(native ? typeof(NativeZstdReadStream) : typeof(ZstdSharp.DecompressionStream), input);
            using var output = new MemoryStream();
            input.CopyTo(output);
            Assert.Equal(data, output.ToArray());
        }
    }

    [Fact]
    public void The_zstd_tool_reads_the_frames_as_one_stream()
    {
        byte[] data = Data(2 * ZstdFrameStream.FrameSize + 5);
        string path = Path.Combine(Path.GetTempPath(), $"pgvault-frames-{Guid.NewGuid():N}.zst");
        File.WriteAllBytes(path, Compress(data, 300000));
        try
        {
            var info = new ProcessStartInfo("zstd", ["-d", "-c", "-q", path]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var zstd = Process.Start(info)!;
            using var output = new MemoryStream();
            zstd.StandardOutput.BaseStream.CopyTo(output);
            zstd.WaitForExit();
            Assert.True(zstd.ExitCode == 0, zstd.StandardError.ReadToEnd());
            Assert.Equal(data, output.ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
