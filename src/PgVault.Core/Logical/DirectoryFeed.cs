using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using PgVault.Core.IO;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Logical;

/// <summary>
/// Serves a stored directory dump to pg_restore through named pipes, so the restore starts at
/// once instead of after the whole dump was decompressed to disk. Every table data file
/// (<c>NNNN.dat</c>, <c>blob_NNNN.dat</c>) becomes a FIFO that PgVault holds open for reading
/// and writing, so pg_restore's open never blocks; inotify reports which pipe pg_restore opened
/// (IN_OPEN), and only then is that object read from the repository, decompressed and written
/// into it. The pipe's name is removed when its feed starts (a second open fails instead of
/// hanging), and the pipe is closed — pg_restore sees its end — only after the whole object was
/// read and its checksum verified; a damaged object, or any other failure, kills pg_restore
/// before it can finish that table. toc.dat and blobs.toc are ordinary files.
/// </summary>
/// <remarks>
/// pg_restore -j orders its data items by file size, and a pipe has none: all data items then
/// go in dump order. Callers use this only for a database the restore created (a failure drops
/// it, so a retry from another repository starts clean) and up to <see cref="MaxPipes"/> files
/// (one descriptor each).
/// </remarks>
internal sealed partial class DirectoryFeed : IDisposable
{
    public const int MaxPipes = 1000;
    private const int ChunkSize = 256 * 1024;

    private readonly Func<StoredFile, CancellationToken, Task<Stream>> _open;
    private readonly IProgressTask _task;
    private readonly Dictionary<string, Pipe> _pipes = new(StringComparer.Ordinal);
    private readonly List<Task> _feeds = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _abort = new();
    private DirectoryWatcher? _watcher;
    private Exception? _failure;
    private long _done;

    private sealed class Pipe(StoredFile file, string path, int fd)
    {
        public StoredFile File { get; } = file;
        public string Path { get; } = path;
        public int Fd { get; set; } = fd;
        public bool Started { get; set; }
    }

    private DirectoryFeed(Func<StoredFile, CancellationToken, Task<Stream>> open, IProgressTask task)
    {
        _open = open;
        _task = task;
    }

    /// <summary>Whether a file of a directory dump is served through a pipe (table data), not written whole.</summary>
    public static bool IsPiped(StoredFile file) => DirectoryDump.IsTableData(file.Name);

    /// <summary>Makes one held-open FIFO in <paramref name="directory"/> for each piped file of <paramref name="files"/>; progress counts on from <paramref name="done"/>.</summary>
    public static DirectoryFeed Create(string directory, IEnumerable<StoredFile> files, Func<StoredFile, CancellationToken, Task<Stream>> open, IProgressTask task, long done)
    {
        var feed = new DirectoryFeed(open, task) { _done = done };
        try
        {
            foreach (var file in files.Where(IsPiped))
            {
                string path = Path.Combine(directory, file.Name);
                if (MakeFifo(path, 0x180 /* 0600 */) != 0)
                    throw new PgVaultException(ErrorCode.IoFailed, $"unable to create the pipe '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
                int fd = Open(path, ReadWrite | NonBlock | CloseOnExec | IO.SafeFiles.NoFollowFlag);
                if (fd < 0) throw new PgVaultException(ErrorCode.IoFailed, $"unable to open the pipe '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
                feed._pipes.Add(file.Name, new Pipe(file, path, fd));
            }
            // Watching before pg_restore starts: no open can come before the watch.
            feed._watcher = new DirectoryWatcher(directory, feed.OnEvent, DirectoryWatcher.Opened,
                e => feed.Fail(new PgVaultException(ErrorCode.IoFailed, $"watching the dump directory failed: {e.Message}", inner: e)));
            return feed;
        }
        catch (Exception)
        {
            feed.Dispose();
            foreach (var pipe in feed._pipes.Values) File.Delete(pipe.Path); // the caller may write the files out instead
            throw;
        }
    }

    /// <summary>
    /// Feeds each pipe pg_restore opens until <paramref name="child"/> exits; throws the first
    /// failure (a feed's, which also killed pg_restore, or pg_restore's own).
    /// </summary>
    public async Task RunAsync(ChildProcess child, CancellationToken ct)
    {
        await using var cancel = ct.Register(() => Fail(new OperationCanceledException(ct)));
        await using var stop = _abort.Token.Register(child.Kill);
        try
        {
            try
            {
                await child.WaitSuccessAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception) when (Failure() is { } failure)
            {
                ExceptionDispatchInfo.Capture(failure).Throw(); // a feed failed (or the run was cancelled) and killed pg_restore: that is the error
            }
            _watcher!.Stop();
            if (Failure() is { } late) ExceptionDispatchInfo.Capture(late).Throw();
            // pg_restore reads every table file it opens to its end, and it can see an end only
            // once the feed closed the pipe: a pipe still open here was opened and left unread.
            string[] unread;
            lock (_lock) unread = [.. _pipes.Values.Where(p => p.Started && p.Fd >= 0).Select(p => p.File.Name)];
            if (unread.Length > 0)
                throw new PgVaultException(ErrorCode.ToolFailed, $"pg_restore exited without reading {string.Join(", ", unread)} to the end", "restore again; report this with the pg_restore version");
            await Task.WhenAll(Feeds()).ConfigureAwait(false);
        }
        finally
        {
            // Whatever ended the run: no feed may wait for a reader that is gone.
            _watcher!.Dispose();
            await _abort.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(Feeds()).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // the error reported is the one that ended the run
            }
        }
    }

    private Task[] Feeds()
    {
        lock (_lock) return [.. _feeds];
    }

    private Exception? Failure()
    {
        lock (_lock) return _failure;
    }

    private void Fail(Exception e)
    {
        lock (_lock) _failure ??= e;
        try
        {
            _abort.Cancel(); // kills pg_restore, stops the other feeds
        }
        catch (Exception)
        {
            // disposed already, or killing pg_restore failed (it is gone): the failure is recorded either way
        }
    }

    private void OnEvent(string name, uint kind)
    {
        try
        {
            Dispatch(name, kind);
        }
        catch (Exception e)
        {
            Fail(e); // never lose the watcher thread silently: pg_restore would wait on an unfed pipe
        }
    }

    private void Dispatch(string name, uint kind)
    {
        if (kind == DirectoryWatcher.QueueOverflow)
        {
            Fail(new PgVaultException(ErrorCode.IoFailed, "the inotify queue overflowed while feeding pg_restore: which table it waits for is unknown",
                "retry the restore, or raise fs.inotify.max_queued_events"));
            return;
        }
        lock (_lock)
        {
            if (!_pipes.TryGetValue(name, out var pipe) || pipe.Started || _abort.IsCancellationRequested) return;
            pipe.Started = true;
            try
            {
                // pg_restore holds it open now: the name is no longer needed, and a second open must fail, not wait forever.
                File.Delete(pipe.Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Fail(new PgVaultException(ErrorCode.IoFailed, $"unable to remove the pipe '{pipe.Path}' pg_restore opened: {e.Message}"));
                return;
            }
            _feeds.Add(Task.Factory.StartNew(() => Feed(pipe), _abort.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default));
        }
    }

    private void Feed(Pipe pipe)
    {
        var ct = _abort.Token;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            using (var input = _open(pipe.File, ct).GetAwaiter().GetResult())
            {
                int read;
                // ReadAsync with the token (waited for on this thread of its own): a stalled
                // repository read ends when the restore fails or is cancelled.
                while ((read = input.ReadAsync(buffer.AsMemory(0, ChunkSize), ct).AsTask().GetAwaiter().GetResult()) > 0)
                {
                    WriteAll(pipe.Fd, buffer.AsSpan(0, read), ct);
                    _task.Report(Interlocked.Add(ref _done, read));
                }
            }
            // Read to its end: the object's checksum held. Only now may pg_restore see the end.
            ClosePipe(pipe);
        }
        catch (Exception e)
        {
            Fail(e); // the first failure is the one reported; the feeds it stopped add nothing
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes all of <paramref name="bytes"/> into the non-blocking pipe, waiting for room.</summary>
    private static unsafe void WriteAll(int fd, ReadOnlySpan<byte> bytes, CancellationToken ct)
    {
        while (!bytes.IsEmpty)
        {
            ct.ThrowIfCancellationRequested();
            nint written;
            fixed (byte* p = bytes) written = Write(fd, p, (nuint)bytes.Length);
            if (written > 0)
            {
                bytes = bytes[(int)written..];
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (written < 0 && errno == EIntr) continue;
            if (written < 0 && errno != EAgain)
                throw new IOException($"writing to pg_restore's pipe: {Marshal.GetLastPInvokeErrorMessage()}");
            _ = Posix.PollOne(fd, Posix.PollOut, 100); // room, or time to look at the cancellation again
        }
    }

    private void ClosePipe(Pipe pipe)
    {
        int fd;
        lock (_lock)
        {
            fd = pipe.Fd;
            pipe.Fd = -1;
        }
        if (fd >= 0) Posix.CloseDescriptor(fd);
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // disposed before
        }
        foreach (var pipe in _pipes.Values) ClosePipe(pipe);
        _abort.Dispose();
    }

    private const int ReadWrite = 0x2;       // O_RDWR
    private const int NonBlock = 0x800;      // O_NONBLOCK
    private const int CloseOnExec = 0x80000; // O_CLOEXEC
    private const int EAgain = 11;
    private const int EIntr = 4;

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* buffer, nuint count);

}
