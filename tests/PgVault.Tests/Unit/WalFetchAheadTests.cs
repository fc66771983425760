using PgVault.Core.Physical;
using PgVault.Core.Progress;
using PgVault.Core.Wal;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// The fetch-ahead of an incremental's block map on its own: held pg_wal files stay open until it
/// is disposed, a segment no repository holds is reported (after one more try), and nothing can
/// be requested once it is disposed. The fetch itself is covered end to end in
/// Integration/WalFetchAheadTests.
/// </summary>
public sealed class WalFetchAheadTests : IDisposable
{
    private const long SegmentSize = 16L << 20;
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-fetchahead-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static WalFetchAhead NoRepositories() => new(new WalArchive([], "main", new NullProgress()), 1, SegmentSize, CancellationToken.None);

    private Microsoft.Win32.SafeHandles.SafeFileHandle OpenFile(string name)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, [1, 2, 3]);
        return File.OpenHandle(path);
    }

    [Fact]
    public async Task A_held_segment_stays_open_after_its_file_is_removed_until_the_fetch_ahead_is_disposed()
    {
        var ahead = NoRepositories();
        var first = OpenFile("a");
        var second = OpenFile("b");
        ahead.Hold(7, first);
        ahead.Hold(7, second); // a second hold of the same segment is not kept
        Assert.True(second.IsClosed);
        File.Delete(Path.Combine(_dir, "a")); // as the start checkpoint may remove it
        Assert.Same(first, ahead.Held(7));
        Assert.Null(ahead.Held(8));
        byte[] read = new byte[3];
        Assert.Equal(3, RandomAccess.Read(first, read, 0));
        Assert.Equal([1, 2, 3], read);

        ahead.Request(3);
        await ahead.DisposeAsync(); // with a fetch requested: cancelled or finished, awaited either way
        Assert.True(first.IsClosed);
        Assert.Null(ahead.Held(7)); // no closed handle is handed out
        Assert.False(ahead.Has(3));
        Assert.Throws<ObjectDisposedException>(() => ahead.Request(9));
        await ahead.DisposeAsync(); // twice is harmless
    }

    [Fact]
    public async Task A_segment_no_repository_holds_is_reported_with_its_name()
    {
        await using var ahead = NoRepositories();
        ahead.Request(0x2A);
        Assert.True(ahead.Has(0x2A));
        Assert.False(ahead.Has(0x2B));
        var (path, problem) = await ahead.GetAsync(0x2A);
        Assert.Null(path);
        Assert.Contains("00000001000000000000002A", problem);
        Assert.Contains("absent", problem);
        Assert.Equal(1, ahead.Requested);
    }
}
