using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Storage;

/// <summary>
/// Runs the storage conformance tests alone, after the parallel ones: the large-object test
/// watches process-wide memory, which other tests' allocations would blur.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StorageConformanceCollection
{
    public const string Name = "storage-conformance";
}

/// <summary>
/// The rules of <see cref="IObjectStore"/>, written once and run against every backend. Each test
/// gets a fresh, empty store (its own directory or key prefix). Sizes are counted in the backend's
/// part size so that the S3 single-PUT and multipart paths are both crossed.
/// </summary>
public abstract class ObjectStoreConformance(ITestOutputHelper output) : IAsyncLifetime
{
    private const int MiB = 1024 * 1024;

    private IObjectStore? _store;

    protected IObjectStore Store => _store ?? throw new InvalidOperationException("store not opened");

    protected ITestOutputHelper Output { get; } = output;

    protected CancellationToken Ct => CancellationToken.None;

    /// <summary>Bytes per upload part (S3) or a comparable unit (filesystem), at least 5 MiB.</summary>
    protected abstract int PartSize { get; }

    /// <summary>A new, empty store for one test.</summary>
    protected abstract Task<IObjectStore> OpenStoreAsync();

    /// <summary>Staged data nobody will commit (temporary files, unfinished multipart uploads).</summary>
    protected abstract Task<IReadOnlyList<string>> LeftoversAsync();

    protected virtual Task CloseStoreAsync() => Task.CompletedTask;

    /// <summary>Called after a test dropped a writer without committing (a test server that can die of it is revived here).</summary>
    protected virtual Task AfterAbortedWriteAsync() => Task.CompletedTask;

    /// <summary>Another store object on the same location, as a second process would open it.</summary>
    protected abstract IObjectStore OpenPeerStore();

    [Fact]
    public async Task TryCreate_creates_an_absent_key_and_refuses_a_present_one()
    {
        byte[] first = Data(1000, seed: 1), second = Data(1000, seed: 2);
        Assert.True(await Store.TryCreateAsync("locks/a.json", first, Ct));
        Assert.False(await Store.TryCreateAsync("locks/a.json", second, Ct));
        AssertSameBytes(first, await Store.GetBytesAsync("locks/a.json", Ct));
        Assert.Equal(["locks/a.json"], await KeysAsync(""));
        Assert.Empty(await LeftoversAsync());

        await Store.DeleteAsync("locks/a.json", Ct);
        Assert.True(await Store.TryCreateAsync("locks/a.json", second, Ct));
        AssertSameBytes(second, await Store.GetBytesAsync("locks/a.json", Ct));
    }

    [Fact]
    public async Task TryCreate_by_concurrent_creators_has_exactly_one_winner()
    {
        const int Creators = 6;
        var stores = Enumerable.Range(0, Creators).Select(i => i == 0 ? Store : OpenPeerStore()).ToList();
        try
        {
            for (int round = 0; round < 3; round++)
            {
                string key = $"locks/race-{round}.json";
                using var start = new ManualResetEventSlim();
                var attempts = stores.Select((store, i) => Task.Run(async () =>
                {
                    start.Wait();
                    return await store.TryCreateAsync(key, Data(100, seed: 100 * round + i), Ct);
                })).ToList();
                start.Set();
                bool[] won = await Task.WhenAll(attempts);
                Assert.Equal(1, won.Count(w => w));
                int winner = Array.IndexOf(won, true);
                AssertSameBytes(Data(100, seed: 100 * round + winner), await Store.GetBytesAsync(key, Ct));
            }
            Assert.Equal(["locks/race-0.json", "locks/race-1.json", "locks/race-2.json"], await KeysAsync(""));
        }
        finally
        {
            foreach (var peer in stores.Skip(1)) await peer.DisposeAsync();
        }
    }

    public async Task InitializeAsync() => _store = await OpenStoreAsync();

    public async Task DisposeAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
        await CloseStoreAsync();
    }

    [Theory]
    [InlineData(0, 0)]          // empty object
    [InlineData(0, 1)]          // one byte
    [InlineData(0, 100_000)]    // less than a part
    [InlineData(1, 0)]          // exactly one part: still a single PUT
    [InlineData(1, 1)]          // one part and a byte: the smallest multipart upload
    [InlineData(3, 12_345)]     // several parts and a tail
    public async Task Put_then_get_round_trips_the_bytes(int parts, int extra)
    {
        byte[] data = Data(parts * PartSize + extra, seed: parts * 31 + extra);

        await using (var writer = await Store.OpenWriteAsync("objects/data.bin", Ct))
        {
            foreach (var chunk in Chunks(data, seed: extra)) await writer.WriteAsync(chunk, Ct);
            await writer.CommitAsync(Ct);
        }

        AssertSameBytes(data, await Store.GetBytesAsync("objects/data.bin", Ct));
        var info = await Store.StatAsync("objects/data.bin", Ct);
        Assert.NotNull(info);
        Assert.Equal("objects/data.bin", info.Key);
        Assert.Equal(data.Length, info.Size);
        Assert.True(info.LastModified > DateTimeOffset.UtcNow.AddHours(-1) && info.LastModified < DateTimeOffset.UtcNow.AddHours(1), $"last modified {info.LastModified}");
        Assert.Equal([("objects/data.bin", (long)data.Length)], await ListAsync(""));
        Assert.Empty(await LeftoversAsync());
    }

    [Fact]
    public async Task Writes_of_any_shape_are_stored_whole()
    {
        // Synchronous and asynchronous writes, tiny ones and one spanning several part boundaries.
        byte[] data = Data(3 * PartSize + 777, seed: 3);
        int big = 2 * PartSize + 500;
        await using (var writer = await Store.OpenWriteAsync("shapes", Ct))
        {
            writer.Write(data, 0, 10);
            writer.WriteByte(data[10]);
            await writer.WriteAsync(data.AsMemory(11, big), Ct);
            writer.Write(data.AsSpan(11 + big, PartSize));
            await writer.WriteAsync(data, 11 + big + PartSize, data.Length - (11 + big + PartSize), Ct);
            await writer.FlushAsync(Ct);
            await writer.CommitAsync(Ct);
        }

        AssertSameBytes(data, await Store.GetBytesAsync("shapes", Ct));
    }

    [Fact]
    public async Task Overwrite_is_invisible_until_commit_and_then_replaces_the_object()
    {
        await Store.PutAsync("a/obj", Encoding.UTF8.GetBytes("version 1"), Ct);
        byte[] large = Data(PartSize + 4096, seed: 9);

        await using (var writer = await Store.OpenWriteAsync("a/obj", Ct))
        {
            await writer.WriteAsync(large, Ct);
            await writer.FlushAsync(Ct);
            Assert.Equal("version 1", Encoding.UTF8.GetString(await Store.GetBytesAsync("a/obj", Ct)));
            Assert.Equal([("a/obj", 9L)], await ListAsync(""));
            await writer.CommitAsync(Ct);
        }
        AssertSameBytes(large, await Store.GetBytesAsync("a/obj", Ct));

        await Store.PutAsync("a/obj", Encoding.UTF8.GetBytes("v3"), Ct);
        Assert.Equal("v3", Encoding.UTF8.GetString(await Store.GetBytesAsync("a/obj", Ct)));
        Assert.Equal(2, (await Store.StatAsync("a/obj", Ct))!.Size);
        Assert.Equal([("a/obj", 2L)], await ListAsync(""));
    }

    [Theory]
    [InlineData(false, 100)]
    [InlineData(false, -1)]     // -1: several parts, so a multipart upload is under way
    [InlineData(true, 100)]
    [InlineData(true, -1)]
    public async Task Writer_disposed_without_commit_leaves_nothing(bool synchronousDispose, int size)
    {
        byte[] data = Data(size < 0 ? 2 * PartSize + 1 : size, seed: 4);
        var writer = await Store.OpenWriteAsync("x/y/never", Ct);
        await writer.WriteAsync(data, Ct);
        Assert.Null(await Store.StatAsync("x/y/never", Ct));

        if (synchronousDispose) writer.Dispose();
        else await writer.DisposeAsync();
        await AfterAbortedWriteAsync();

        Assert.Null(await Store.StatAsync("x/y/never", Ct));
        Assert.Empty(await ListAsync(""));
        Assert.Empty(await LeftoversAsync());
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => Store.OpenReadAsync("x/y/never", Ct));
    }

    [Fact]
    public async Task Aborted_overwrite_keeps_the_old_object()
    {
        await Store.PutAsync("keep", Encoding.UTF8.GetBytes("original"), Ct);

        await using (var writer = await Store.OpenWriteAsync("keep", Ct))
        {
            await writer.WriteAsync(Data(PartSize + 10, seed: 5), Ct);
        }
        await AfterAbortedWriteAsync();

        Assert.Equal("original", Encoding.UTF8.GetString(await Store.GetBytesAsync("keep", Ct)));
        Assert.Equal([("keep", 8L)], await ListAsync(""));
    }

    [Fact]
    public async Task List_returns_ordinal_sorted_keys_under_the_prefix_including_nested_ones()
    {
        string[] keys = ["b/z", "b/a/2", "b/a/10", "b/B", "b/_", "c/x", "bb/y", "a", "b/a-b", "b/a.b/c"];
        foreach (string key in keys) await Store.PutAsync(key, Encoding.UTF8.GetBytes(key), Ct);

        Assert.Equal(["b/B", "b/_", "b/a-b", "b/a.b/c", "b/a/10", "b/a/2", "b/z"], await KeysAsync("b/"));
        Assert.Equal(keys.Order(StringComparer.Ordinal), await KeysAsync(""));
        Assert.Equal(["b/a-b", "b/a.b/c", "b/a/10", "b/a/2"], await KeysAsync("b/a"));
        Assert.Equal(["b/B", "b/_", "b/a-b", "b/a.b/c", "b/a/10", "b/a/2", "b/z", "bb/y"], await KeysAsync("b"));
        Assert.Empty(await KeysAsync("nothing/"));
        Assert.Empty(await KeysAsync("b/a/100"));
        Assert.Equal([("b/a/10", 6L)], await ListAsync("b/a/1"));
    }

    [Fact]
    public async Task List_pages_through_more_than_a_thousand_keys()
    {
        var expected = Enumerable.Range(0, 1100)
            .Select(i => i % 10 == 0 ? $"many/sub/{i:D4}" : $"many/{i:D4}")
            .Order(StringComparer.Ordinal)
            .ToList();
        await Parallel.ForEachAsync(expected, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = Ct },
            async (key, ct) => await Store.PutAsync(key, Encoding.UTF8.GetBytes(key), ct));
        await Store.PutAsync("manyx", new byte[] { 1 }, Ct);

        var listed = await KeysAsync("many/");

        Assert.Equal(expected.Count, listed.Count);
        Assert.Equal(expected, listed);
        Assert.Equal(expected.Where(k => k.StartsWith("many/sub/", StringComparison.Ordinal)), await KeysAsync("many/sub/"));
        Assert.Equal(1101, (await KeysAsync("")).Count);
    }

    [Fact]
    public async Task Delete_removes_the_object_and_a_missing_key_is_fine()
    {
        await Store.PutAsync("d/one", new byte[] { 1 }, Ct);
        await Store.PutAsync("d/two", new byte[] { 2 }, Ct);

        await Store.DeleteAsync("d/one", Ct);
        await Store.DeleteAsync("d/one", Ct);
        await Store.DeleteAsync("d/never", Ct);
        await Store.DeleteAsync("no/such/dir/never", Ct);

        Assert.Null(await Store.StatAsync("d/one", Ct));
        Assert.Equal(["d/two"], await KeysAsync(""));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => Store.OpenReadAsync("d/one", Ct));
    }

    [Fact]
    public async Task Stat_and_read_of_a_missing_key()
    {
        Assert.Null(await Store.StatAsync("missing", Ct));
        Assert.Null(await Store.StatAsync("no/such/dir/missing", Ct));

        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(() => Store.OpenReadAsync("no/such/key", Ct));
        Assert.Equal("no/such/key", e.Key);
        Assert.Contains($"'{Store.Name}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/abs")]
    [InlineData("a//b")]
    [InlineData("a/./b")]
    [InlineData("a/")]
    [InlineData("")]
    public async Task Invalid_keys_are_rejected(string key)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenWriteAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenReadAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.StatAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.DeleteAsync(key, Ct));
        Assert.Empty(await ListAsync(""));
    }

    [Fact]
    public async Task Concurrent_writers_of_different_keys_all_land()
    {
        var data = Enumerable.Range(0, 6).Select(i => Data(i % 2 == 0 ? PartSize + 1000 * i : 5000 * i, seed: 100 + i)).ToArray();

        await Task.WhenAll(data.Select((bytes, i) => Task.Run(async () =>
        {
            await using var writer = await Store.OpenWriteAsync($"c/{i % 3}/obj{i}", Ct);
            foreach (var chunk in Chunks(bytes, seed: i)) await writer.WriteAsync(chunk, Ct);
            await writer.CommitAsync(Ct);
        })));

        Assert.Equal(6, (await KeysAsync("c/")).Count);
        for (int i = 0; i < data.Length; i++)
        {
            AssertSameBytes(data[i], await Store.GetBytesAsync($"c/{i % 3}/obj{i}", Ct));
        }
        Assert.Empty(await LeftoversAsync());
    }

    [Fact]
    public async Task Large_object_streams_through_with_bounded_memory()
    {
        const long size = 120L * MiB + 12_345;
        const long bound = 150L * MiB;
        byte[] chunk = new byte[MiB];
        await Store.PutAsync("warm-up", Data(PartSize + 1, seed: 1), Ct); // JIT, pools and connections
        await Store.GetBytesAsync("warm-up", Ct);

        using var sampler = new MemorySampler();
        using var written = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(120);
        var watch = Stopwatch.StartNew();
        await using (var writer = await Store.OpenWriteAsync("big/object.bin", Ct))
        {
            for (long left = size; left > 0; left -= chunk.Length)
            {
                var piece = chunk.AsMemory(0, (int)Math.Min(chunk.Length, left));
                random.NextBytes(piece.Span);
                written.AppendData(piece.Span);
                await writer.WriteAsync(piece, Ct);
            }
            await writer.CommitAsync(Ct);
        }
        var writeTime = watch.Elapsed;

        watch.Restart();
        using var read = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long readBytes = 0;
        await using (var stream = await Store.OpenReadAsync("big/object.bin", Ct))
        {
            int n;
            while ((n = await stream.ReadAsync(chunk, Ct)) > 0)
            {
                read.AppendData(chunk, 0, n);
                readBytes += n;
            }
        }
        var readTime = watch.Elapsed;
        var (allocated, workingSetGrowth) = sampler.Stop();

        Output.WriteLine($"{GetType().Name}: 120 MB written in {writeTime.TotalSeconds:F2} s, read in {readTime.TotalSeconds:F2} s; " +
            $"managed allocations {allocated / MiB} MiB, peak working set growth {workingSetGrowth / MiB} MiB");
        Assert.Equal(size, readBytes);
        Assert.Equal(written.GetHashAndReset(), read.GetHashAndReset());
        Assert.Equal(size, (await Store.StatAsync("big/object.bin", Ct))!.Size);
        Assert.True(allocated < bound, $"{allocated / MiB} MiB allocated while moving {size / MiB} MiB (bound {bound / MiB} MiB)");
        Assert.True(workingSetGrowth < bound, $"working set grew by {workingSetGrowth / MiB} MiB while moving {size / MiB} MiB (bound {bound / MiB} MiB)");
    }

    [Fact]
    public async Task Cancelled_write_leaves_nothing_behind()
    {
        using var cts = new CancellationTokenSource();
        byte[] chunk = Data(256 * 1024, seed: 6);
        long written = 0;
        var writer = await Store.OpenWriteAsync("cancelled/object", cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            while (true)
            {
                await writer.WriteAsync(chunk, cts.Token);
                written += chunk.Length;
                if (written == 2L * PartSize + chunk.Length) await cts.CancelAsync(); // parts are in flight by now
            }
        });
        await writer.DisposeAsync();

        Assert.Null(await Store.StatAsync("cancelled/object", Ct));
        Assert.Empty(await ListAsync(""));
        Assert.Empty(await LeftoversAsync());
    }

    [Fact]
    public async Task Cancelled_read_stops_and_leaves_the_object_intact()
    {
        byte[] data = Data(3 * PartSize + 5, seed: 7);
        await Store.PutAsync("r/object", data, Ct);
        using var cts = new CancellationTokenSource();
        byte[] buffer = new byte[64 * 1024];
        long read = 0;

        await using (var stream = await Store.OpenReadAsync("r/object", cts.Token))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                int n;
                while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0)
                {
                    read += n;
                    if (read >= PartSize) await cts.CancelAsync();
                }
            });
        }

        Assert.True(read < data.Length, $"read {read} of {data.Length} bytes after cancelling");
        AssertSameBytes(data, await Store.GetBytesAsync("r/object", Ct));
        Assert.Equal([("r/object", (long)data.Length)], await ListAsync(""));
    }

    protected async Task<List<(string Key, long Size)>> ListAsync(string prefix)
    {
        var list = new List<(string, long)>();
        await foreach (var info in Store.ListAsync(prefix, Ct)) list.Add((info.Key, info.Size));
        return list;
    }

    protected async Task<List<string>> KeysAsync(string prefix) => (await ListAsync(prefix)).Select(e => e.Key).ToList();

    protected static byte[] Data(int size, int seed)
    {
        byte[] data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Uneven chunks (1 byte to 300 KiB) so that writes straddle every part boundary.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> Chunks(byte[] data, int seed)
    {
        var random = new Random(seed);
        for (int offset = 0; offset < data.Length;)
        {
            int n = Math.Min(data.Length - offset, random.Next(2) == 0 ? random.Next(1, 64) : random.Next(1, 300 * 1024));
            yield return data.AsMemory(offset, n);
            offset += n;
        }
    }

    private static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.AsSpan().SequenceEqual(actual), $"content differs at byte {expected.AsSpan().CommonPrefixLength(actual)}");
    }

    /// <summary>Managed bytes allocated (process-wide) and the peak working set growth, sampled every 20 ms.</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly long _allocatedBefore;
        private readonly long _baseWorkingSet;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sampling;
        private long _peak;

        public MemorySampler()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            _baseWorkingSet = WorkingSet();
            _peak = _baseWorkingSet;
            _allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            _sampling = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Interlocked.Exchange(ref _peak, Math.Max(Interlocked.Read(ref _peak), WorkingSet()));
                    try { await Task.Delay(20, _stop.Token); } catch (OperationCanceledException) { }
                }
            });
        }

        public (long Allocated, long WorkingSetGrowth) Stop()
        {
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - _allocatedBefore;
            _stop.Cancel();
            _sampling.Wait();
            return (allocated, Math.Max(Interlocked.Read(ref _peak), WorkingSet()) - _baseWorkingSet);
        }

        public void Dispose() => _stop.Dispose();

        private static long WorkingSet()
        {
            using var process = Process.GetCurrentProcess();
            return process.WorkingSet64;
        }
    }
}
