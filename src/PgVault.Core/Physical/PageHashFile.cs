using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.IO;

namespace PgVault.Core.Physical;

/// <summary>
/// A private temporary file of page hashes (8 bytes each) in regions handed out by
/// <see cref="Allocate"/>: where a restore keeps the hashes of the files it rebuilds from page
/// deltas (<see cref="RestoredPages"/>), so its memory does not grow with the size of those files
/// (1 MB per GB). Removed when disposed (and by the next run's sweep after a kill). Thread-safe:
/// positioned reads and writes only.
/// </summary>
internal sealed class PageHashFile : IDisposable
{
    private readonly string? _directory;
    private readonly SafeFileHandle _file;
    private long _next;

    public PageHashFile()
    {
        _directory = SafeFiles.CreatePrivateTempDirectory();
        try
        {
            _file = File.OpenHandle(Path.Combine(_directory, "restored-pages"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        }
        catch
        {
            Directory.Delete(_directory, recursive: true);
            throw;
        }
    }

    /// <summary>An existing file as the store (tests: <c>/dev/full</c>, where every write fails as on a full disk).</summary>
    internal PageHashFile(string existing) => _file = File.OpenHandle(existing, FileMode.Open, FileAccess.ReadWrite);

    /// <summary>The offset of a new region for <paramref name="pages"/> hashes.</summary>
    public long Allocate(int pages) => Interlocked.Add(ref _next, pages * (long)sizeof(ulong)) - pages * (long)sizeof(ulong);

    public void Write(long offset, ReadOnlySpan<ulong> hashes) => RandomAccess.Write(_file, MemoryMarshal.AsBytes(hashes), offset);

    public void Read(long offset, Span<ulong> hashes)
    {
        var bytes = MemoryMarshal.AsBytes(hashes);
        for (int done = 0; done < bytes.Length;)
        {
            int read = RandomAccess.Read(_file, bytes[done..], offset + done);
            if (read == 0) throw new IOException("the restore's page hash file ended early");
            done += read;
        }
    }

    public void Dispose()
    {
        _file.Dispose();
        if (_directory == null) return;
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // removed by the next run's stale-directory sweep
        }
    }
}
