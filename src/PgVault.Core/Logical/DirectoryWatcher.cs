using System.Runtime.InteropServices;
using PgVault.Core.IO;
using PgVault.Core.Errors;

namespace PgVault.Core.Logical;

/// <summary>
/// Linux inotify on one directory, read on a thread of its own: reports each file created in it
/// (IN_CREATE) and each close of a file that was open for writing (IN_CLOSE_WRITE, the kernel's
/// own "the writer is done" signal, which a .NET FileSystemWatcher does not expose), or, when
/// asked, each open (IN_OPEN: a reader arrived at a named pipe). The kernel
/// queues a process's closes before its exit can be observed, so after the writer exited,
/// <see cref="Stop"/> drains every event it produced. A queue overflow is reported as
/// <see cref="Overflowed"/>: events were lost and the caller must not rely on them alone.
/// </summary>
internal sealed partial class DirectoryWatcher : IDisposable
{
    public const uint Created = 0x100;      // IN_CREATE
    public const uint ClosedWrite = 0x8;    // IN_CLOSE_WRITE
    public const uint Opened = 0x20;        // IN_OPEN
    public const uint QueueOverflow = 0x4000; // IN_Q_OVERFLOW
    private const uint IsDirectory = 0x40000000; // IN_ISDIR
    private const uint OnlyDirectory = 0x01000000; // IN_ONLYDIR
    private const int NonBlock = 0x800;     // IN_NONBLOCK = O_NONBLOCK
    private const int CloseOnExec = 0x80000; // IN_CLOEXEC = O_CLOEXEC
    private const int EAgain = 11;
    private const int EIntr = 4;
    private const int HeaderSize = 16; // wd, mask, cookie, len

    private readonly int _fd;
    private readonly uint _events;
    private readonly Action<Exception>? _onFailure;
    private readonly Action<string, uint> _onEvent;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _closed;
    private Exception? _failure;

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    private static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nuint count);


    /// <summary>
    /// Starts watching <paramref name="directory"/> for the events in <paramref name="events"/>
    /// (<see cref="Created"/> and <see cref="ClosedWrite"/> unless given); <paramref name="onEvent"/>
    /// gets (file name, event) on the watcher's thread, and ("", <see cref="QueueOverflow"/>) when events were lost.
    /// </summary>
    /// <param name="onFailure">Told at once when the watching thread fails (else the failure surfaces only at <see cref="Stop"/>).</param>
    public DirectoryWatcher(string directory, Action<string, uint> onEvent, uint events = Created | ClosedWrite, Action<Exception>? onFailure = null)
    {
        _events = events;
        _onFailure = onFailure;
        _onEvent = onEvent;
        _fd = InotifyInit1(NonBlock | CloseOnExec);
        if (_fd < 0) throw new PgVaultException(ErrorCode.IoFailed, $"unable to watch '{directory}' (inotify_init1): {Marshal.GetLastPInvokeErrorMessage()}");
        if (InotifyAddWatch(_fd, directory, events | OnlyDirectory) < 0)
        {
            string message = Marshal.GetLastPInvokeErrorMessage();
            Posix.CloseDescriptor(_fd);
            throw new PgVaultException(ErrorCode.IoFailed, $"unable to watch '{directory}' (inotify_add_watch): {message}",
                "raise fs.inotify.max_user_watches / max_user_instances, or take the backup with --format custom");
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "pgvault-dump-watcher" };
        _thread.Start();
    }

    /// <summary>True once the kernel dropped events (its queue overflowed).</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Delivers every event queued so far, then ends the thread (call after the writer exited).</summary>
    public void Stop()
    {
        _stopping = true;
        _thread.Join();
        if (_failure != null) throw new PgVaultException(ErrorCode.IoFailed, $"watching the dump directory failed: {_failure.Message}", inner: _failure);
    }

    /// <summary>Stops the thread and closes the inotify descriptor; a second call does nothing.</summary>
    public void Dispose()
    {
        _stopping = true;
        if (_thread.IsAlive && Thread.CurrentThread != _thread) _thread.Join();
        if (Interlocked.Exchange(ref _closed, 1) == 0) Posix.CloseDescriptor(_fd);
    }

    private unsafe void Run()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                // Read the flag before draining: after the writer exited and Stop was called, one more
                // full drain sees everything it produced.
                bool last = _stopping;
                Drain(buffer);
                if (last) return;
                if (Posix.PollOne(_fd, Posix.PollIn, 50) < 0 && Marshal.GetLastPInvokeError() != EIntr)
                    throw new IOException($"poll: {Marshal.GetLastPInvokeErrorMessage()}");
            }
        }
        catch (Exception e)
        {
            _failure = e;
            _onFailure?.Invoke(e);
        }
    }

    private unsafe void Drain(byte[] buffer)
    {
        while (true)
        {
            nint n;
            fixed (byte* p = buffer) n = Read(_fd, p, (nuint)buffer.Length);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EAgain) return;
                if (errno == EIntr) continue;
                throw new IOException($"read of inotify events: {Marshal.GetLastPInvokeErrorMessage()}");
            }
            Dispatch(buffer.AsSpan(0, (int)n));
        }
    }

    private void Dispatch(ReadOnlySpan<byte> events)
    {
        while (events.Length >= HeaderSize)
        {
            uint mask = MemoryMarshal.Read<uint>(events[4..]);
            int length = (int)MemoryMarshal.Read<uint>(events[12..]);
            var name = events.Slice(HeaderSize, length);
            int end = name.IndexOf((byte)0);
            if (end >= 0) name = name[..end];
            events = events[(HeaderSize + length)..];
            if ((mask & QueueOverflow) != 0)
            {
                Overflowed = true;
                _onEvent("", QueueOverflow);
            }
            if ((mask & IsDirectory) != 0 || name.IsEmpty) continue;
            string file = System.Text.Encoding.UTF8.GetString(name);
            foreach (uint kind in (ReadOnlySpan<uint>)[Created, ClosedWrite, Opened])
            {
                if ((mask & kind & _events) != 0) _onEvent(file, kind);
            }
        }
    }
}
