using PgVault.Core.Errors;
using PgVault.Core.Physical;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>The spool that keeps a backup's page hashes on disk instead of in memory (issue 15, flat memory).</summary>
public sealed class PageHashSpoolTests
{
    private static readonly Dictionary<string, (long Size, ulong[] Hashes)> Files = new()
    {
        ["base/5/16384"] = (3 * 8192 + 100, [1UL, ulong.MaxValue, 42UL, 7UL]),
        ["base/5/16384.1"] = (8192, [99UL]),
        ["base/5/16390"] = (200_000 * 8192L, Enumerable.Range(0, 200_000).Select(i => (ulong)i * 2654435761UL).ToArray()),
    };

    [Fact]
    public async Task Spool_writes_the_same_bytes_as_the_in_memory_format_and_reads_them_back()
    {
        byte[] expected = PageHashes.Serialize(Files);
        using var spool = new PageHashSpool();
        foreach (var (path, (size, hashes)) in Files) spool.Add(path, size, hashes);
        var paths = spool.CurrentPaths(Files.Keys.Append("base/5/not-hashed"));
        Assert.Equal(Files.Keys.Order(StringComparer.Ordinal), paths);
        using var written = new MemoryStream();
        await spool.WriteAsync(written, paths, CancellationToken.None);
        Assert.Equal(expected, written.ToArray());
        Assert.Equal(expected.Length, spool.SerializedLength(paths));

        using var next = new PageHashSpool();
        await next.LoadReferenceAsync(new MemoryStream(expected), "k", CancellationToken.None);
        Assert.Equal(3, next.ReferenceCount);
        foreach (var (path, (_, hashes)) in Files)
        {
            using var read = next.ReadReference(path);
            Assert.Equal(hashes, read.Span.ToArray());
        }
        // Carried forward, the reference's hashes are written again unchanged.
        foreach (string path in Files.Keys) next.CarryForward(path);
        using var again = new MemoryStream();
        await next.WriteAsync(again, next.CurrentPaths(Files.Keys), CancellationToken.None);
        Assert.Equal(expected, again.ToArray());
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("trailing")]
    [InlineData("pages")]
    [InlineData("magic")]
    public async Task A_damaged_object_is_reported_as_corrupt_and_nothing_is_kept(string damage)
    {
        byte[] bytes = PageHashes.Serialize(Files);
        bytes = damage switch
        {
            "truncated" => bytes[..^3],
            "trailing" => [.. bytes, 0],
            "magic" => [(byte)'X', .. bytes[1..]],
            _ => Patch(bytes),
        };
        using var spool = new PageHashSpool();
        var e = await Assert.ThrowsAsync<PgVaultException>(() => spool.LoadReferenceAsync(new MemoryStream(bytes), "k", CancellationToken.None));
        Assert.Contains("corrupt object 'k'", e.Message);
        Assert.Equal(ErrorCode.ObjectCorrupt, e.Code);
    }

    /// <summary>The first file's page count no longer matches its size.</summary>
    private static byte[] Patch(byte[] bytes)
    {
        // header 12, name length 2, name, size 8, then the page count
        int at = 12 + 2 + "base/5/16384".Length + 8;
        bytes[at] ^= 0x01;
        return bytes;
    }
}
