using System.Runtime.InteropServices;

namespace PgVault.Core.IO;

/// <summary>The few POSIX calls .NET has no managed API for: fsync of a directory, chown, stat owner.</summary>
internal static partial class Posix
{
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000; // Linux x86_64 and aarch64

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    /// <summary>poll(2) event: data to read.</summary>
    public const short PollIn = 0x1;

    /// <summary>poll(2) event: room to write.</summary>
    public const short PollOut = 0x4;

    /// <summary>poll(2) on one descriptor: above 0 ready, 0 timed out, -1 failed (errno in <see cref="Marshal.GetLastPInvokeError"/>).</summary>
    public static unsafe int PollOne(int fd, short events, int timeoutMs)
    {
        var pfd = new PollFd { Fd = fd, Events = events };
        return Poll(&pfd, 1, timeoutMs);
    }

    /// <summary>close(2) of a raw descriptor this process opened.</summary>
    public static void CloseDescriptor(int fd) => Close(fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long nbytes, uint flags);

    private const uint SyncFileRangeWrite = 2; // SYNC_FILE_RANGE_WRITE: start writeback, do not wait for it

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chown(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string newPath);

    private const int EExist = 17;

    /// <summary>
    /// link(2): makes <paramref name="newPath"/> a second name of <paramref name="existing"/>, atomically
    /// and never replacing anything. False when <paramref name="newPath"/> already exists.
    /// </summary>
    public static bool TryLink(string existing, string newPath)
    {
        if (Link(existing, newPath) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == EExist) return false;
        throw new IOException($"unable to link '{newPath}': {Marshal.GetLastPInvokeErrorMessage()}");
    }

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);

    /// <summary>syncfs() of the file system holding <paramref name="path"/>: one call makes every file written there durable.</summary>
    public static void SyncFileSystem(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = Open(path, ORdOnly | ODirectory);
        if (fd < 0) throw new IOException($"unable to open directory '{path}' for syncfs: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            if (SyncFs(fd) != 0) throw new IOException($"unable to sync the file system of '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally
        {
            Close(fd);
        }
    }

    public static bool IsRoot => OperatingSystem.IsLinux() && GetEuid() == 0;

    /// <summary>fsync() of a directory so a rename in it is durable.</summary>
    public static void FsyncDirectory(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = Open(path, ORdOnly | ODirectory);
        if (fd < 0) throw new IOException($"unable to open directory '{path}' for fsync: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"unable to fsync directory '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>fsync() of an open file.</summary>
    public static void Fsync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        if (Fsync((int)handle.DangerousGetHandle()) != 0) throw new IOException($"unable to fsync '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>
    /// Starts writing a range of an open file to disk without waiting for it (sync_file_range with
    /// SYNC_FILE_RANGE_WRITE; length 0 = to the end), as PostgreSQL's *_flush_after settings do: the
    /// disk then works while the writer goes on, instead of all at the final fsync or syncfs. A hint
    /// only: a failure is ignored here, the fsync or syncfs that follows reports it.
    /// </summary>
    public static void StartWriteback(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, long length)
    {
        if (OperatingSystem.IsLinux()) _ = SyncFileRange((int)handle.DangerousGetHandle(), offset, length, SyncFileRangeWrite);
    }

    /// <summary>fsync() of a file by path.</summary>
    public static void FsyncFile(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        Fsync(handle, path);
    }

    public static void ChangeOwner(string path, int uid, int gid)
    {
        if (Chown(path, uid, gid) != 0)
            throw new IOException($"unable to chown '{path}' to {uid}:{gid}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>chown of a symbolic link itself (not its target).</summary>
    public static void ChangeOwnerOfLink(string path, int uid, int gid)
    {
        if (LChown(path, uid, gid) != 0)
            throw new IOException($"unable to chown link '{path}' to {uid}:{gid}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>Owner uid and gid of a path (Linux x86_64 / aarch64 struct stat layouts).</summary>
    public static unsafe (int Uid, int Gid) GetOwner(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Stat(path, buffer) != 0)
            throw new IOException($"unable to stat '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
        int uidOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 28 : 24;
        return (*(int*)(buffer + uidOffset), *(int*)(buffer + uidOffset + 4));
    }
}
