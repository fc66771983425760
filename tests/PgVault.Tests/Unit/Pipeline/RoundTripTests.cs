using System.IO.Compression;
using PgVault.Core.Pipeline;
using Xunit;
using static PgVault.Tests.Unit.Pipeline.PipelineTestData;

namespace PgVault.Tests.Unit.Pipeline;

public sealed class RoundTripTests
{
    private const int Mixed = -1;

    public static TheoryData<string, bool, int> Cases()
    {
        var data = new TheoryData<string, bool, int>();
        foreach (string spec in (string[])["none", "zstd:3", "lz4", "gzip:6"])
        {
            foreach (bool encrypted in (bool[])[false, true])
            {
                foreach (int size in (int[])[0, 1, 65535, 65536, 65537, Mixed])
                {
                    data.Add(spec, encrypted, size);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Round_trips_every_compression_with_and_without_encryption(string specText, bool encrypted, int size)
    {
        CompressionSpec spec = CompressionSpec.Parse(specText);
        byte[] data = size == Mixed ? Mixed6MiB() : RandomBytes(size, size);
        byte[]? key = encrypted ? Key() : null;
        string sha = Sha256Hex(data);

        (byte[] stored, PipelineResult result) = await StoreAsync(data, spec, key, async: size % 2 == 0);

        Assert.Equal(data.Length, result.SourceBytes);
        Assert.Equal(sha, result.SourceSha256);
        Assert.Equal(stored.Length, result.StoredBytes);
        Assert.Equal(data, await LoadAsync(stored, spec.Type, key, sha, data.Length, async: true));
        Assert.Equal(data, await LoadAsync(stored, spec.Type, key, sha, data.Length, async: false));
        Assert.Equal(data, await LoadAsync(stored, spec.Type, key, null, null, async: false));

        if (encrypted)
        {
            Assert.Equal("PGVAULT\u0001"u8.ToArray(), stored[..8]);
        }

        if (spec.Type == CompressionType.None)
        {
            if (encrypted)
            {
                // 40-byte header, then per frame 1 flag + 4 length + 16 tag around the plaintext.
                int frames = Math.Max(1, (data.Length + 65535) / 65536);
                Assert.Equal(40 + (frames * 21) + data.Length, stored.Length);
            }
            else
            {
                Assert.Equal(data, stored);
            }
        }
    }

    [Theory]
    [InlineData("zstd:1")]
    [InlineData("zstd:19")]
    [InlineData("lz4:3")]
    [InlineData("lz4:12")]
    [InlineData("gzip:1")]
    [InlineData("gzip:9")]
    public async Task Round_trips_other_levels(string specText)
    {
        CompressionSpec spec = CompressionSpec.Parse(specText);
        byte[] data = PgbenchText(300_000);

        (byte[] stored, PipelineResult result) = await StoreAsync(data, spec, Key());

        Assert.True(result.StoredBytes < data.Length / 3, $"{specText} should compress text ({result.StoredBytes} bytes)");
        Assert.Equal(data, await LoadAsync(stored, spec.Type, Key(), result.SourceSha256, data.Length));
    }

    [Fact]
    public async Task Plain_objects_are_standard_formats()
    {
        byte[] data = PgbenchText(200_000);

        (byte[] zstd, _) = await StoreAsync(data, CompressionSpec.Parse("zstd:3"), null);
        using (var decompressor = new ZstdSharp.Decompressor())
        {
            Assert.Equal(data, decompressor.Unwrap(zstd).ToArray());
        }

        (byte[] gzip, _) = await StoreAsync(data, CompressionSpec.Parse("gzip:6"), null);
        Assert.Equal(0x1f, gzip[0]);
        Assert.Equal(0x8b, gzip[1]);
        using (var gz = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress))
        {
            var output = new MemoryStream();
            gz.CopyTo(output);
            Assert.Equal(data, output.ToArray());
        }

        (byte[] emptyGzip, _) = await StoreAsync([], CompressionSpec.Parse("gzip:6"), null);
        using (var gz = new GZipStream(new MemoryStream(emptyGzip), CompressionMode.Decompress))
        {
            Assert.Equal(20, emptyGzip.Length); // a complete member, not zero bytes
            Assert.Equal(0, gz.Read(new byte[1]));
        }

        (byte[] lz4, _) = await StoreAsync(data, CompressionSpec.Parse("lz4"), null);
        Assert.Equal([0x04, 0x22, 0x4d, 0x18], lz4[..4]); // LZ4 frame magic
    }

    [Fact]
    public async Task Compression_streams_honor_leave_open()
    {
        foreach (CompressionSpec spec in (CompressionSpec[])[CompressionSpec.Parse("zstd"), CompressionSpec.Parse("lz4"), CompressionSpec.Parse("gzip"), CompressionSpec.None])
        {
            var kept = new MemoryStream();
            await using (Stream c = Compression.CompressTo(kept, spec, leaveOpen: true))
            {
                c.Write("hello"u8);
            }

            Assert.True(kept.CanWrite, spec.ToString());
            kept.Position = 0;
            await using (Stream d = Compression.DecompressFrom(kept, spec.Type, leaveOpen: true))
            {
                Assert.Equal("hello"u8.ToArray(), await ReadAllAsync(d, async: true));
            }

            Assert.True(kept.CanRead, spec.ToString());

            var owned = new MemoryStream();
            Compression.CompressTo(owned, spec, leaveOpen: false).Dispose();
            Assert.False(owned.CanWrite, spec.ToString());
        }
    }

    [Fact]
    public async Task Encryption_streams_work_alone_and_use_a_fresh_salt_per_object()
    {
        byte[] key = Key();
        byte[] data = RandomBytes(200_000, 3);
        var first = new MemoryStream();
        var second = new MemoryStream();
        await using (var e = new EncryptingStream(first, key, leaveOpen: true))
        {
            await e.WriteAsync(data);
        }

        using (var e = new EncryptingStream(second, key, leaveOpen: true))
        {
            e.Write(data);
        }

        Assert.NotEqual(first.ToArray()[8..40], second.ToArray()[8..40]);
        Assert.Equal(first.Length, second.Length);

        first.Position = 0;
        await using var d = new DecryptingStream(first, key, ObjectKey, leaveOpen: false);
        Assert.Equal(data, await ReadAllAsync(d, async: false));
        Assert.Equal(0, d.Read(new byte[10]));
    }
}
