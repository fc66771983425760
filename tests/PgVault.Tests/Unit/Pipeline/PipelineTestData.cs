using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>Data generators and helpers shared by the pipeline tests.</summary>
internal static class PipelineTestData
{
    public const string ObjectKey = "clusters/main/backups/20260101T000000Z-F/data/00001.dat";

    public static byte[] Key(byte seed = 1)
    {
        var key = new byte[32];
        new Random(seed).NextBytes(key);
        return key;
    }

    public static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>pgbench_accounts-like COPY text: aid, bid, abalance, 84-char filler.</summary>
    public static byte[] PgbenchText(int length, long firstRow = 1)
    {
        var sb = new StringBuilder(length + 128);
        var random = new Random(unchecked((int)firstRow));
        for (long aid = firstRow; sb.Length < length; aid++)
        {
            sb.Append(aid.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append((aid / 100_000 + 1).ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append((random.Next(20) == 0 ? random.Next(-5000, 5000) : 0).ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(' ', 84).Append('\n');
        }

        return Encoding.ASCII.GetBytes(sb.ToString(0, length));
    }

    /// <summary>The "big" case: 3 MiB of random bytes followed by 3 MiB of text.</summary>
    public static byte[] Mixed6MiB() => [.. RandomBytes(3 << 20, 42), .. PgbenchText(3 << 20)];

    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Writes <paramref name="data"/> through a write pipeline in chunks of varying size.</summary>
    public static async Task<(byte[] Stored, PipelineResult Result)> StoreAsync(byte[] data, CompressionSpec spec, byte[]? key, bool async = true)
    {
        var destination = new MemoryStream();
        await using (WritePipeline pipeline = ObjectPipeline.OpenWrite(destination, spec, key))
        {
            int[] chunks = [1, 7000, 65536, 3, 100_003, 65535, 4096];
            int pos = 0;
            for (int i = 0; pos < data.Length; i++)
            {
                int n = Math.Min(chunks[i % chunks.Length], data.Length - pos);
                if (async)
                {
                    await pipeline.Input.WriteAsync(data.AsMemory(pos, n));
                }
                else
                {
                    pipeline.Input.Write(data, pos, n);
                }

                pos += n;
            }

            PipelineResult result = await pipeline.CompleteAsync(CancellationToken.None);
            Assert.True(destination.CanWrite, "the destination must be left open");
            return (destination.ToArray(), result);
        }
    }

    /// <summary>Reads <paramref name="stream"/> to its end with odd chunk sizes, sync or async.</summary>
    public static async Task<byte[]> ReadAllAsync(Stream stream, bool async, int[]? chunks = null)
    {
        chunks ??= [1, 13, 4093, 65537, 2, 70_001, 333];
        var output = new MemoryStream();
        var buffer = new byte[chunks.Max()];
        for (int i = 0; ; i++)
        {
            int want = chunks[i % chunks.Length];
            int n = async ? await stream.ReadAsync(buffer.AsMemory(0, want)) : stream.Read(buffer, 0, want);
            if (n == 0)
            {
                return output.ToArray();
            }

            Assert.InRange(n, 1, want);
            output.Write(buffer, 0, n);
        }
    }

    /// <summary>Reads a stored object back through <see cref="ObjectPipeline.OpenRead"/>.</summary>
    public static async Task<byte[]> LoadAsync(byte[] stored, CompressionType type, byte[]? key, string? sha, long? bytes, bool async = true)
    {
        await using Stream read = ObjectPipeline.OpenRead(new MemoryStream(stored, writable: false), type, key, ObjectKey, sha, bytes);
        return await ReadAllAsync(read, async);
    }

    /// <summary>Asserts that loading fails with a corrupt-object error; returns the message.</summary>
    public static async Task<string> AssertCorruptAsync(byte[] stored, CompressionType type, byte[]? key, string? sha, long? bytes, bool async = true)
    {
        var ex = await Assert.ThrowsAsync<Core.Errors.PgVaultException>(() => LoadAsync(stored, type, key, sha, bytes, async));
        Assert.StartsWith($"corrupt object '{ObjectKey}': ", ex.Message, StringComparison.Ordinal);
        Assert.Equal(Core.Errors.ErrorKind.Failure, ex.Kind);
        return ex.Message;
    }
}
