using System.Diagnostics;
using System.Security.Cryptography;
using PgVault.Core.Pipeline;
using Xunit;
using Xunit.Abstractions;
using static PgVault.Tests.Unit.Pipeline.PipelineTestData;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>Runs the memory test alone, so that other tests' allocations do not blur the working set.</summary>
[CollectionDefinition(nameof(MemoryBoundCollection), DisableParallelization = true)]
public sealed class MemoryBoundCollection
{
}

/// <summary>
/// Memory must not depend on the object size. 300 MB go through zstd + encryption and back; the
/// managed bytes allocated on this thread (synchronous I/O keeps all work on it) must stay far
/// below the data size, and the process working set must not grow with it.
/// </summary>
[Collection(nameof(MemoryBoundCollection))]
public sealed class MemoryBoundTests(ITestOutputHelper output)
{
    private const int ChunkSize = 1 << 20;
    private const int Chunks = 300;
    private const long AllocationBound = 64L << 20;
    private const long WorkingSetBound = 200L << 20;

    [Fact]
    public async Task Three_hundred_megabytes_stream_through_with_bounded_memory()
    {
        byte[] template = [.. PgbenchText(ChunkSize / 2), .. RandomBytes(ChunkSize / 2, 99)];
        byte[] chunk = new byte[ChunkSize];
        byte[] key = Key();
        string path = Path.Combine(Path.GetTempPath(), $"pgvault-membound-{Guid.NewGuid():N}.bin");
        try
        {
            // Warm up code paths so JIT and pool allocations are not counted.
            (byte[] warm, _) = await StoreAsync(template, CompressionSpec.Default, key, async: false);
            await LoadAsync(warm, CompressionType.Zstd, key, null, null, async: false);

            using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var random = new Random(5);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long baseSet = WorkingSet();
            long peakSet = baseSet;
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            PipelineResult result;
            long writeAllocated;
            using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                WritePipeline pipeline = ObjectPipeline.OpenWrite(file, CompressionSpec.Default, key);
                for (int i = 0; i < Chunks; i++)
                {
                    Fill(chunk, template, i, random);
                    expected.AppendData(chunk);
                    pipeline.Input.Write(chunk, 0, chunk.Length);
                    if (i % 30 == 0)
                    {
                        peakSet = Math.Max(peakSet, WorkingSet());
                    }
                }

                // Measured before the awaits below, which may resume on another thread.
                writeAllocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                result = await pipeline.CompleteAsync(CancellationToken.None);
                await pipeline.DisposeAsync();
            }

            Assert.Equal((long)Chunks * ChunkSize, result.SourceBytes);
            Assert.Equal(Convert.ToHexStringLower(expected.GetHashAndReset()), result.SourceSha256);
            Assert.Equal(new FileInfo(path).Length, result.StoredBytes);

            allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            long read = 0;
            using (Stream stream = ObjectPipeline.OpenRead(File.OpenRead(path), CompressionType.Zstd, key, ObjectKey, result.SourceSha256, result.SourceBytes))
            {
                int n;
                while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
                {
                    read += n;
                    if ((read / ChunkSize) % 30 == 0)
                    {
                        peakSet = Math.Max(peakSet, WorkingSet());
                    }
                }
            }

            long readAllocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            Assert.Equal(result.SourceBytes, read);

            output.WriteLine($"stored {result.StoredBytes / 1e6:F1} MB; managed allocations: write {writeAllocated / 1e6:F2} MB, read {readAllocated / 1e6:F2} MB; working set {baseSet / 1e6:F0} MB -> peak {peakSet / 1e6:F0} MB");
            Assert.True(writeAllocated < AllocationBound, $"write side allocated {writeAllocated} bytes for 300 MB");
            Assert.True(readAllocated < AllocationBound, $"read side allocated {readAllocated} bytes for 300 MB");
            Assert.True(peakSet - baseSet < WorkingSetBound, $"working set grew by {(peakSet - baseSet) / 1e6:F0} MB");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Text with a fresh random quarter, so that a good part of the data reaches storage.</summary>
    private static void Fill(byte[] chunk, byte[] template, int index, Random random)
    {
        template.CopyTo(chunk, 0);
        random.NextBytes(chunk.AsSpan(ChunkSize / 2, ChunkSize / 4));
        for (int pos = index % 997; pos < chunk.Length; pos += 4099)
        {
            chunk[pos] = (byte)(index + pos);
        }
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
