using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PgVault.Core.IO;

/// <summary>
/// File operations for a restore that may run as root into directories other users can reach:
/// files are created with O_CREAT|O_EXCL|O_NOFOLLOW (a planted symbolic link is never followed,
/// an existing file is never reused), opened with O_NOFOLLOW, and given their mode and owner
/// through the open handle (fchmod, fchown). Directories are handled the same way through an
/// O_DIRECTORY|O_NOFOLLOW handle. Also private temporary directories (mkdtemp) whose leftovers
/// after a kill -9 the next run removes.
/// </summary>
internal static partial class SafeFiles
{
    private static readonly bool Arm = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private const int ORdOnly = 0;
    private const int OWrOnly = 1;
    private const int OCreat = 0x40;
    private const int OExcl = 0x80;
    private const int OCloExec = 0x80000;
    private static int ODirectory => Arm ? 0x4000 : 0x10000;
    private static int ONoFollow => Arm ? 0x8000 : 0x20000;

    /// <summary>O_NOFOLLOW of this architecture, for callers that open(2) a path themselves.</summary>
    internal static int NoFollowFlag => ONoFollow;
    private const int EExist = 17;
    private const int ELoop = 40;
    private const int ENotDir = 20;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkDir(string path, int mode);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int FChown(SafeFileHandle fd, int owner, int group);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int FChmod(SafeFileHandle fd, int mode);

    [LibraryImport("libc", EntryPoint = "mkdtemp", SetLastError = true)]
    private static partial nint MkDTemp(byte[] template);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    private static string Error() => Marshal.GetLastPInvokeErrorMessage();

    /// <summary>Creates a new file (mode 0600 until <see cref="SetMode"/>); fails if anything, even a dangling link, is there.</summary>
    public static SafeFileHandle CreateNew(string path)
    {
        int fd = Open(path, OWrOnly | OCreat | OExcl | ONoFollow | OCloExec, 0b110_000_000);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        throw new IOException(errno == EExist
            ? $"unable to create '{path}': something was put there while restoring (a file or link not made by this restore)"
            : $"unable to create '{path}': {Error()}");
    }

    /// <summary>Removes whatever is at <paramref name="path"/> (a file or a link, never what a link points to), then creates a new file.</summary>
    public static SafeFileHandle Replace(string path)
    {
        RemoveFile(path);
        return CreateNew(path);
    }

    /// <summary>Unlinks a file or link; a directory there is an error; nothing there is fine.</summary>
    public static void RemoveFile(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget == null && Directory.Exists(path))
            throw new IOException($"unable to replace '{path}': it is a directory where the backup has a file");
        if (info.LinkTarget != null || info.Exists) info.Delete();
    }

    /// <summary>Opens an existing regular file without following a link in its last component.</summary>
    public static SafeFileHandle OpenExisting(string path, bool write)
    {
        int fd = Open(path, (write ? OWrOnly : ORdOnly) | ONoFollow | OCloExec, 0);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        throw new IOException(errno == ELoop ? $"unable to open '{path}': it is a symbolic link" : $"unable to open '{path}': {Error()}");
    }

    /// <summary>Opens a directory without following a link in its last component.</summary>
    public static SafeFileHandle OpenDirectory(string path)
    {
        int fd = Open(path, ORdOnly | ODirectory | ONoFollow | OCloExec, 0);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        throw new IOException(errno is ELoop or ENotDir ? $"'{path}' is not a directory (a link or file where a directory belongs)" : $"unable to open directory '{path}': {Error()}");
    }

    public static void SetMode(SafeFileHandle handle, int mode, string path)
    {
        if (FChmod(handle, mode & 0xFFF) != 0) throw new IOException($"unable to chmod '{path}': {Error()}");
    }

    public static void SetOwner(SafeFileHandle handle, int uid, int gid, string path)
    {
        if (FChown(handle, uid, gid) != 0) throw new IOException($"unable to chown '{path}' to {uid}:{gid}: {Error()}");
    }

    /// <summary>
    /// Makes a directory (mode 0700, owned by the caller) unless a real one is there; a link or a
    /// file in its place is an error. Returns whether it made it.
    /// </summary>
    public static bool MakeDirectory(string path)
    {
        if (MkDir(path, 0b111_000_000) == 0) return true;
        if (Marshal.GetLastPInvokeError() != EExist) throw new IOException($"unable to create directory '{path}': {Error()}");
        using var existing = OpenDirectory(path); // throws for a link or a file
        return false;
    }

    /// <summary>Gives a directory its mode (and owner) through a handle that did not follow a link.</summary>
    public static void SetDirectory(string path, int mode, int? uid, int? gid)
    {
        using var handle = OpenDirectory(path);
        if (uid is { } u) SetOwner(handle, u, gid ?? -1, path);
        SetMode(handle, mode, path);
    }

    /// <summary>Writes a whole small file anew (replacing what is there) with its mode and owner.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, int mode, int? uid, int? gid)
    {
        using var handle = Replace(path);
        RandomAccess.Write(handle, content, 0);
        if (uid is { } u) SetOwner(handle, u, gid ?? -1, path);
        SetMode(handle, mode, path);
    }

    /// <summary>Reads a whole small file without following a link.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        using var handle = OpenExisting(path, write: false);
        long length = RandomAccess.GetLength(handle);
        var bytes = new byte[length];
        int done = 0;
        while (done < length)
        {
            int read = RandomAccess.Read(handle, bytes.AsSpan(done), done);
            if (read == 0) break;
            done += read;
        }
        return bytes[..done];
    }

    private const string TempPrefix = "pgvault-tmp-";

    /// <summary>
    /// A private directory (mkdtemp: mode 0700, unpredictable name) under the temporary directory,
    /// named after this process and its start time so that the next run can tell a leftover of a
    /// killed process from one in use. Removes such leftovers first.
    /// </summary>
    public static string CreatePrivateTempDirectory()
    {
        RemoveStaleTempDirectories();
        string template = Path.Combine(Path.GetTempPath(), $"{TempPrefix}{Environment.ProcessId}-{StartTime(Environment.ProcessId)}-XXXXXX");
        byte[] buffer = System.Text.Encoding.UTF8.GetBytes(template + "\0");
        if (MkDTemp(buffer) == 0) throw new IOException($"unable to create a private temporary directory in '{Path.GetTempPath()}': {Error()}");
        return System.Text.Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1);
    }

    /// <summary>mkdtemp in <paramref name="parent"/>: a new directory (mode 0700, unpredictable suffix) named PREFIX + XXXXXX.</summary>
    public static string MakeUniqueDirectory(string parent, string prefix)
    {
        byte[] buffer = System.Text.Encoding.UTF8.GetBytes(Path.Combine(parent, prefix + "XXXXXX") + "\0");
        if (MkDTemp(buffer) == 0) throw new IOException($"unable to create a directory in '{parent}': {Error()}");
        return System.Text.Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1);
    }

    /// <summary>Removes temporary directories of PgVault processes that are gone (same owner only, links never followed).</summary>
    public static void RemoveStaleTempDirectories()
    {
        IEnumerable<DirectoryInfo> candidates;
        try
        {
            candidates = new DirectoryInfo(Path.GetTempPath()).EnumerateDirectories(TempPrefix + "*").ToList();
        }
        catch (IOException)
        {
            return;
        }
        uint me = OperatingSystem.IsLinux() ? GetEuid() : 0;
        foreach (var dir in candidates)
        {
            string[] parts = dir.Name[TempPrefix.Length..].Split('-');
            if (parts.Length != 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (StartTime(pid) == parts[1]) continue; // its process still runs
            try
            {
                if (dir.LinkTarget != null || IO.Posix.GetOwner(dir.FullName).Uid != me) continue;
                dir.Delete(recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // in use or already gone: the next run tries again
            }
        }
    }

    /// <summary>A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or "" when it is gone.</summary>
    internal static string StartTime(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 ? fields[19] : "";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
