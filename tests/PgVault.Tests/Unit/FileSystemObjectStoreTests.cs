using System.Text;
using PgVault.Core.Storage;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class FileSystemObjectStoreTests : IDisposable
{
    private const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode DirMode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-store-");
    private readonly FileSystemObjectStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;

    public FileSystemObjectStoreTests() => _store = new FileSystemObjectStore("test", _root.FullName);

    public void Dispose() => _root.Delete(recursive: true);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private string[] FilesOnDisk() =>
        Directory.GetFiles(_root.FullName, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_root.FullName, f))
            .Order(StringComparer.Ordinal)
            .ToArray();

    private async Task<List<string>> ListAsync(string prefix)
    {
        var keys = new List<string>();
        await foreach (var info in _store.ListAsync(prefix, _ct)) keys.Add(info.Key);
        return keys;
    }

    [Fact]
    public void Name_and_location_are_reported()
    {
        Assert.Equal("test", _store.Name);
        Assert.Equal(_root.FullName.TrimEnd('/'), _store.Location.TrimEnd('/'));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(200_000)]
    public async Task Put_then_get_round_trips_the_bytes(int size)
    {
        byte[] data = new byte[size];
        new Random(size).NextBytes(data);

        await _store.PutAsync("clusters/main/backups/x/data.bin", data, _ct);

        Assert.Equal(data, await _store.GetBytesAsync("clusters/main/backups/x/data.bin", _ct));
        var info = await _store.StatAsync("clusters/main/backups/x/data.bin", _ct);
        Assert.NotNull(info);
        Assert.Equal("clusters/main/backups/x/data.bin", info.Key);
        Assert.Equal(size, info.Size);
        Assert.Equal(["clusters/main/backups/x/data.bin"], FilesOnDisk());
    }

    [Fact]
    public async Task Streamed_writes_in_pieces_are_stored_whole()
    {
        await using (var writer = await _store.OpenWriteAsync("k", _ct))
        {
            writer.Write(Bytes("one "));
            await writer.WriteAsync(Bytes("two "), _ct);
            await writer.WriteAsync(Bytes("three"), 0, 5, _ct);
            await writer.CommitAsync(_ct);
        }

        Assert.Equal("one two three", Encoding.UTF8.GetString(await _store.GetBytesAsync("k", _ct)));
    }

    [Fact]
    public async Task Overwrite_is_invisible_until_commit_and_then_replaces_the_object()
    {
        await _store.PutAsync("a/obj", Bytes("version 1"), _ct);
        await using var oldReader = await _store.OpenReadAsync("a/obj", _ct);

        await using (var writer = await _store.OpenWriteAsync("a/obj", _ct))
        {
            await writer.WriteAsync(Bytes("version 2, longer"), _ct);
            await writer.FlushAsync(_ct);
            Assert.Equal("version 1", Encoding.UTF8.GetString(await _store.GetBytesAsync("a/obj", _ct)));
            Assert.Equal(["a/obj"], await ListAsync(""));
            await writer.CommitAsync(_ct);
        }

        Assert.Equal("version 2, longer", Encoding.UTF8.GetString(await _store.GetBytesAsync("a/obj", _ct)));
        Assert.Equal(17, (await _store.StatAsync("a/obj", _ct))!.Size);
        Assert.Equal([Path.Combine("a", "obj")], FilesOnDisk());

        // A reader opened before the replacement still sees the whole old object (rename, not rewrite).
        using var buffer = new MemoryStream();
        await oldReader.CopyToAsync(buffer, _ct);
        Assert.Equal("version 1", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    [Fact]
    public async Task Writer_disposed_asynchronously_without_commit_leaves_nothing()
    {
        await using (var writer = await _store.OpenWriteAsync("x/y/never", _ct))
        {
            await writer.WriteAsync(Bytes("partial data"), _ct);
            Assert.Single(FilesOnDisk()); // the temporary exists while writing
        }

        Assert.Null(await _store.StatAsync("x/y/never", _ct));
        Assert.Empty(await ListAsync(""));
        Assert.Empty(FilesOnDisk());
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => _store.OpenReadAsync("x/y/never", _ct));
    }

    [Fact]
    public async Task Writer_disposed_synchronously_without_commit_leaves_nothing()
    {
        var writer = await _store.OpenWriteAsync("never", _ct);
        writer.Write(Bytes("partial data"));
        writer.Dispose();

        Assert.Null(await _store.StatAsync("never", _ct));
        Assert.Empty(FilesOnDisk());
    }

    [Fact]
    public async Task Aborted_overwrite_keeps_the_old_object()
    {
        await _store.PutAsync("keep", Bytes("original"), _ct);

        await using (var writer = await _store.OpenWriteAsync("keep", _ct))
        {
            await writer.WriteAsync(Bytes("replacement that never commits"), _ct);
        }

        Assert.Equal("original", Encoding.UTF8.GetString(await _store.GetBytesAsync("keep", _ct)));
        Assert.Equal(["keep"], FilesOnDisk());
    }

    [Fact]
    public async Task List_returns_ordinal_sorted_keys_under_the_prefix_including_nested_ones()
    {
        string[] keys = ["b/z", "b/a/2", "b/a/10", "b/B", "b/_", "c/x", "bb/y", "a"];
        foreach (string key in keys) await _store.PutAsync(key, Bytes(key), _ct);

        Assert.Equal(["b/B", "b/_", "b/a/10", "b/a/2", "b/z"], await ListAsync("b/"));
        Assert.Equal(keys.Order(StringComparer.Ordinal), await ListAsync(""));
        Assert.Empty(await ListAsync("nothing/"));
    }

    [Fact]
    public async Task List_reports_sizes()
    {
        await _store.PutAsync("p/one", new byte[3], _ct);
        await _store.PutAsync("p/two", new byte[70], _ct);

        var infos = new List<ObjectInfo>();
        await foreach (var info in _store.ListAsync("p/", _ct)) infos.Add(info);

        Assert.Equal([("p/one", 3L), ("p/two", 70L)], infos.Select(i => (i.Key, i.Size)));
    }

    [Fact]
    public async Task List_prefix_may_end_in_the_middle_of_a_name()
    {
        foreach (string key in (string[])["a/b/x", "a/bc/d", "a/bz", "a/c/b", "a/ab", "ab/x"])
        {
            await _store.PutAsync(key, Bytes(key), _ct);
        }

        Assert.Equal(["a/b/x", "a/bc/d", "a/bz"], await ListAsync("a/b"));
        Assert.Equal(["a/b/x"], await ListAsync("a/b/"));
        Assert.Equal(["a/ab", "a/b/x", "a/bc/d", "a/bz", "a/c/b", "ab/x"], await ListAsync("a"));
        Assert.Equal(["a/ab", "a/b/x", "a/bc/d", "a/bz", "a/c/b"], await ListAsync("a/"));
        Assert.Equal(["ab/x"], await ListAsync("ab"));
        Assert.Empty(await ListAsync("a/bc/dd"));
    }

    [Fact]
    public async Task List_excludes_objects_being_written()
    {
        await _store.PutAsync("d/done", Bytes("x"), _ct);
        await using var writer = await _store.OpenWriteAsync("d/pending", _ct);
        await writer.WriteAsync(Bytes("in progress"), _ct);
        await writer.FlushAsync(_ct);

        Assert.Equal(2, FilesOnDisk().Length); // the temporary is there on disk
        Assert.Equal(["d/done"], await ListAsync("d/"));
        Assert.Equal(["d/done"], await ListAsync(""));
        Assert.Null(await _store.StatAsync("d/pending", _ct));
    }

    [Fact]
    public async Task Stat_of_a_missing_key_is_null()
    {
        Assert.Null(await _store.StatAsync("missing", _ct));
        Assert.Null(await _store.StatAsync("no/such/dir/missing", _ct));
    }

    [Fact]
    public async Task OpenRead_of_a_missing_key_throws_ObjectNotFoundException()
    {
        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(() => _store.OpenReadAsync("no/such/key", _ct));

        Assert.Equal("no/such/key", e.Key);
        Assert.Contains("'test'", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => _store.GetBytesAsync("missing", _ct));
    }

    [Fact]
    public async Task Delete_of_a_missing_key_in_an_existing_directory_is_fine()
    {
        await _store.PutAsync("dir/present", Bytes("x"), _ct);

        await _store.DeleteAsync("dir/absent", _ct);
        await _store.DeleteAsync("absent", _ct);

        Assert.Equal(["dir/present"], await ListAsync(""));
    }

    [Fact]
    public async Task Delete_of_a_missing_key_whose_directory_is_gone_is_fine()
    {
        await _store.PutAsync("dir/only", Bytes("x"), _ct);
        await _store.DeleteAsync("dir/only", _ct); // removes the emptied directory too

        await _store.DeleteAsync("dir/only", _ct);
        await _store.DeleteAsync("never/existed", _ct);

        Assert.Empty(await ListAsync(""));
    }

    [Fact]
    public async Task Delete_removes_the_object_and_directories_left_empty_but_not_the_root()
    {
        await _store.PutAsync("x/y/z/k", Bytes("1"), _ct);
        await _store.PutAsync("x/other", Bytes("2"), _ct);

        await _store.DeleteAsync("x/y/z/k", _ct);

        Assert.Null(await _store.StatAsync("x/y/z/k", _ct));
        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "x", "y")));
        Assert.True(Directory.Exists(Path.Combine(_root.FullName, "x")));

        await _store.DeleteAsync("x/other", _ct);

        Assert.False(Directory.Exists(Path.Combine(_root.FullName, "x")));
        Assert.True(Directory.Exists(_root.FullName));
        Assert.Empty(Directory.GetFileSystemEntries(_root.FullName));
    }

    [Fact]
    public async Task Delete_keeps_directories_that_still_hold_objects()
    {
        await _store.PutAsync("x/y/a", Bytes("1"), _ct);
        await _store.PutAsync("x/y/b", Bytes("2"), _ct);

        await _store.DeleteAsync("x/y/a", _ct);

        Assert.Equal(["x/y/b"], await ListAsync(""));
    }

    [Fact]
    public async Task New_files_are_0600_and_new_directories_0700()
    {
        await _store.PutAsync("secret/nested/obj", Bytes("x"), _ct);

        Assert.Equal(FileMode0600, File.GetUnixFileMode(Path.Combine(_root.FullName, "secret", "nested", "obj")));
        Assert.Equal(DirMode0700, File.GetUnixFileMode(Path.Combine(_root.FullName, "secret")));
        Assert.Equal(DirMode0700, File.GetUnixFileMode(Path.Combine(_root.FullName, "secret", "nested")));
    }

    [Fact]
    public async Task Temporary_files_are_0600_too()
    {
        await using var writer = await _store.OpenWriteAsync("t/obj", _ct);
        await writer.WriteAsync(Bytes("x"), _ct);

        string temp = Assert.Single(Directory.GetFiles(Path.Combine(_root.FullName, "t")));
        Assert.StartsWith(".obj.tmp.", Path.GetFileName(temp), StringComparison.Ordinal);
        Assert.Equal(FileMode0600, File.GetUnixFileMode(temp));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/abs")]
    [InlineData("a//b")]
    [InlineData("a/../../b")]
    [InlineData("a/./b")]
    [InlineData("a/")]
    [InlineData("")]
    [InlineData("..")]
    public async Task Invalid_keys_are_rejected(string key)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _store.OpenWriteAsync(key, _ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.OpenReadAsync(key, _ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.StatAsync(key, _ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.DeleteAsync(key, _ct));
        Assert.Empty(Directory.GetFileSystemEntries(_root.FullName));
    }

    [Fact]
    public async Task Concurrent_writers_of_different_keys_all_land()
    {
        var writes = Enumerable.Range(0, 50).Select(i =>
            Task.Run(() => _store.PutAsync($"c/{i % 5}/obj{i:D2}", Bytes($"content {i}"), _ct), _ct));

        await Task.WhenAll(writes);

        var keys = await ListAsync("c/");
        Assert.Equal(50, keys.Count);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal($"content {i}", Encoding.UTF8.GetString(await _store.GetBytesAsync($"c/{i % 5}/obj{i:D2}", _ct)));
        }

        Assert.Equal(50, FilesOnDisk().Length);
    }

    [Fact]
    public async Task Writing_into_a_missing_root_fails_without_creating_it()
    {
        string missing = Path.Combine(_root.FullName, "not-there");
        var store = new FileSystemObjectStore("gone", missing);

        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => store.PutAsync("a/b", Bytes("x"), _ct));

        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public async Task RemoveStaleTemporaries_removes_only_old_temporaries()
    {
        await _store.PutAsync("s/real", Bytes("x"), _ct);
        string dir = Path.Combine(_root.FullName, "s");
        string old = Path.Combine(dir, ".crashed" + FileSystemObjectStore.TempMarker + "abc");
        string fresh = Path.Combine(dir, ".running" + FileSystemObjectStore.TempMarker + "def");
        File.WriteAllText(old, "left by a crash");
        File.WriteAllText(fresh, "being written");
        File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddHours(-2));

        int removed = _store.RemoveStaleTemporaries("s", TimeSpan.FromHours(1));

        Assert.Equal(1, removed);
        Assert.False(File.Exists(old));
        Assert.True(File.Exists(fresh));
        Assert.Equal(["s/real"], await ListAsync("s/"));
    }
}
