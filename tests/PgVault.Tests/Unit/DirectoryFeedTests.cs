using System.Diagnostics;
using PgVault.Core.Errors;
using PgVault.Core.Logical;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// The pipes a directory restore feeds pg_restore through, with real processes (sh and cat in
/// pg_restore's place): each pipe gets its object when it is opened and its end only after the
/// whole object was read; a damaged object kills the reader instead of ending its file; a pipe
/// opened a second time fails instead of waiting; a reader that dies leaves no feed behind.
/// </summary>
public sealed class DirectoryFeedTests : IDisposable
{
    private static readonly PgTool Sh = new("sh", "/bin/sh", "0", 0);
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-feed-").FullName;
    private readonly Dictionary<string, byte[]> _objects = new(StringComparer.Ordinal);
    private readonly List<string> _opened = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private StoredFile Object(string name, int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        _objects[name] = bytes;
        return new StoredFile { Name = name, Object = name, SizeBytes = length };
    }

    /// <summary>The repository's side: the object's bytes, or a stream that fails at <paramref name="damagedAt"/> as a checksum would.</summary>
    private Func<StoredFile, CancellationToken, Task<Stream>> Opener(string? damaged = null, int damagedAt = 0) => (file, _) =>
    {
        lock (_opened) _opened.Add(file.Name);
        var bytes = _objects[file.Name];
        return Task.FromResult<Stream>(file.Name == damaged ? new FailingAfter(bytes, damagedAt) : new MemoryStream(bytes));
    };

    private static ChildProcess Run(string script) =>
        ChildProcess.Start(Sh, ["-c", script], null, "the reader", redirectInput: false, redirectOutput: false, CancellationToken.None);

    [Fact]
    public async Task Each_pipe_gets_its_object_when_it_is_opened_and_unopened_ones_are_never_read()
    {
        StoredFile[] files = [Object("1001.dat", 3 * 1024 * 1024 + 17), Object("1002.dat", 0), Object("blob_7.dat", 1000), Object("toc.dat", 50)];
        using var feed = DirectoryFeed.Create(_dir, files, Opener(), NullProgress.Instance.Start("t"), 0);
        Assert.False(File.Exists(Path.Combine(_dir, "toc.dat"))); // written by the caller, not a pipe

        await using var child = Run($"cd {_dir} && cat 1001.dat > ../{Path.GetFileName(_dir)}-a && cat 1002.dat > ../{Path.GetFileName(_dir)}-b");
        await feed.RunAsync(child, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        string parent = Path.GetDirectoryName(_dir)!, stem = Path.GetFileName(_dir);
        try
        {
            Assert.Equal(_objects["1001.dat"], File.ReadAllBytes(Path.Combine(parent, stem + "-a")));
            Assert.Empty(File.ReadAllBytes(Path.Combine(parent, stem + "-b")));
        }
        finally
        {
            File.Delete(Path.Combine(parent, stem + "-a"));
            File.Delete(Path.Combine(parent, stem + "-b"));
        }
        Assert.Equal(["1001.dat", "1002.dat"], _opened.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(1024 * 1024)]
    [InlineData(2 * 1024 * 1024)] // every byte delivered, the checksum fails at the end (half a second later): a pipe closed before that check would let the reader finish first
    public async Task A_damaged_object_kills_the_reader_before_it_sees_the_end_of_the_file(int damagedAt)
    {
        StoredFile[] files = [Object("1001.dat", 2 * 1024 * 1024)];
        using var feed = DirectoryFeed.Create(_dir, files, Opener(damaged: "1001.dat", damagedAt: damagedAt), NullProgress.Instance.Start("t"), 0);
        string marker = _dir + "-reached-end";

        await using var child = Run($"cat {_dir}/1001.dat > /dev/null && touch {marker}");
        var error = await Assert.ThrowsAsync<PgVaultException>(() => feed.RunAsync(child, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(ErrorCode.ObjectCorrupt, error.Code);
        Assert.False(File.Exists(marker), "the reader got an end of file for a damaged object");
    }

    [Fact]
    public async Task A_pipe_opened_again_fails_instead_of_waiting()
    {
        StoredFile[] files = [Object("1001.dat", 10_000)];
        using var feed = DirectoryFeed.Create(_dir, files, Opener(), NullProgress.Instance.Start("t"), 0);

        await using var child = Run($"cat {_dir}/1001.dat > /dev/null && sleep 0.5 && cat {_dir}/1001.dat > /dev/null");
        var error = await Assert.ThrowsAsync<PgVaultException>(() => feed.RunAsync(child, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(ErrorCode.ToolFailed, error.Code);
        Assert.Contains("No such file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reader_that_dies_with_a_pipe_open_leaves_no_feed_waiting()
    {
        StoredFile[] files = [Object("1001.dat", 8 * 1024 * 1024)];
        using var feed = DirectoryFeed.Create(_dir, files, Opener(), NullProgress.Instance.Start("t"), 0);

        // Reads 4 KiB of 8 MiB, then exits with an error while the pipe is still full.
        await using var child = Run($"exec 3< {_dir}/1001.dat; head -c 4096 <&3 > /dev/null; echo 'pg_restore: error: gave up' >&2; exit 3");
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<PgVaultException>(() => feed.RunAsync(child, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(ErrorCode.ToolFailed, error.Code);
        Assert.Contains("gave up", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));
    }

    /// <summary>Gives <paramref name="good"/> bytes, then (after a pause) fails as a checksum mismatch does.</summary>
    private sealed class FailingAfter(byte[] bytes, int good) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position >= good)
            {
                Thread.Sleep(500);
                throw PgVaultException.Corrupt("1001.dat", "checksum mismatch");
            }
            return base.Read(buffer, offset, (int)Math.Min(count, good - Position));
        }
    }
}
