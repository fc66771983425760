using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.PostgreSql;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Logical;

/// <summary>
/// `pg_dump --format=directory` streamed into the repositories while pg_dump runs. pg_dump writes
/// into an empty private directory watched with inotify; each table data file (<c>NNNN.dat</c>,
/// <c>blob_NNNN.dat</c>) is read from the moment it is created, following pg_dump's writes, through
/// the same write pipeline as every object (hash, compress, encrypt, every repository); the disk
/// space already read is released as it goes (fallocate PUNCH_HOLE), and the file is deleted once
/// read to its end. A file is complete when pg_dump closed it (IN_CLOSE_WRITE, or pg_dump's exit) and the
/// read after that close reached its end. toc.dat, blobs.toc and anything not seen through inotify
/// are stored after pg_dump exited successfully. The caller lists nothing unless everything
/// succeeded; on any failure pg_dump is killed and the directory removed.
/// </summary>
internal sealed partial class DirectoryDump(CatalogSet targets, string id, string folder, CompressionSpec compression, bool pgDumpCompresses, int jobs, IProgressTask task)
{
    private const int CopyBufferSize = 1 << 20;
    private const long PunchStep = 16L << 20;
    private static readonly TimeSpan WaitForGrowth = TimeSpan.FromMilliseconds(10);
    private const int SmallRead = 256 << 10;
    private static readonly TimeSpan WaitToBatch = TimeSpan.FromMilliseconds(2);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Staged> _files = new(StringComparer.Ordinal);
    private readonly List<Task> _stores = [];
    private Exception? _failure;
    private int _staged;
    private int _pending; // closed by pg_dump, not yet read to the end
    private bool _paused;
    private string _fileArgument = "";
    private long _done;
    private volatile bool _punchUnsupported;

    /// <summary>The most table data files that were in the staging directory at once (being written or being stored).</summary>
    public int MostStaged { get; private set; }

    private sealed class Staged(string name, string path)
    {
        public string Name { get; } = name;
        public string Path { get; } = path;
        // No spinning before a wait blocks: Follow waits on it every time it catches up with pg_dump.
        public ManualResetEventSlim Closed { get; } = new(false, spinCount: 1);
        public StoredFile[]? Stored { get; set; }
        public bool Pending { get; set; }
        public bool Finished { get; set; }
    }

    /// <summary>
    /// A file pg_dump writes once per table (or large object), streamed while it is written:
    /// <c>NNNN.dat</c>, or <c>NNNN.dat.gz</c> when pg_dump compressed it.
    /// </summary>
    public static bool IsTableData(string name) =>
        (name.EndsWith(".dat", StringComparison.Ordinal) || name.EndsWith(".dat.gz", StringComparison.Ordinal))
        && !string.Equals(name, "toc.dat", StringComparison.Ordinal);

    /// <summary>Runs pg_dump with <paramref name="args"/> (without --file) and returns, per repository, the stored files in name order.</summary>
    public async Task<List<StoredFile>[]> RunAsync(PgTool pgDump, List<string> args, IReadOnlyDictionary<string, string>? environment, string describe, CancellationToken ct)
    {
        string temp = Directory.CreateTempSubdirectory("pgvault-dump-").FullName;
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bool succeeded = false;
        try
        {
            string directory = Path.Combine(temp, "dump");
            Directory.CreateDirectory(directory); // pg_dump accepts an existing empty directory; the watch is in place before it starts
            // --no-sync: pg_dump would fsync every file at the end (re-opening files already stored and deleted).
            _fileArgument = "--file=" + directory;
            var dumpArgs = new List<string>(args) { _fileArgument, "--no-sync" };
            using (var watcher = new DirectoryWatcher(directory, (name, kind) => OnEvent(directory, name, kind, abort)))
            {
                await using (var child = ChildProcess.Start(pgDump, dumpArgs, environment, describe, redirectInput: false, redirectOutput: false, abort.Token))
                {
                    TraceTiming.Mark("directory dump: pg_dump started");
                    try
                    {
                        await child.WaitSuccessAsync(abort.Token).ConfigureAwait(false);
                        TraceTiming.Mark("directory dump: pg_dump exited");
                    }
                    catch (Exception) when (!ct.IsCancellationRequested && Failure() is { } failure)
                    {
                        ExceptionDispatchInfo.Capture(failure).Throw(); // a store failed and stopped pg_dump: that is the error
                    }
                }
                watcher.Stop(); // every close pg_dump made is delivered now
            }
            // pg_dump exited: whatever it wrote is complete, whether or not its close was seen.
            Task[] running;
            lock (_lock)
            {
                foreach (var file in _files.Values) file.Closed.Set();
                running = [.. _stores];
            }
            await WhenAllOrFirstFailureAsync(running).ConfigureAwait(false);
            // Written last, or missed by inotify (overflow): stored whole now.
            foreach (var path in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal).ToList())
            {
                var file = new Staged(Path.GetFileName(path), path);
                file.Closed.Set();
                lock (_lock)
                {
                    if (!_files.TryAdd(file.Name, file)) throw new IOException($"'{path}' was stored but is still in the staging directory");
                }
                await StoreAsync(file, abort).ConfigureAwait(false);
            }
            succeeded = true;
            lock (_lock)
            {
                var ordered = _files.Values.OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
                return Enumerable.Range(0, targets.Count)
                    .Select(r => ordered.Select(f => f.Stored![r] with { Name = f.Name, Object = Relative(f.Name) }).ToList())
                    .ToArray();
            }
        }
        finally
        {
            if (!succeeded)
            {
                await abort.CancelAsync().ConfigureAwait(false);
                Task[] running;
                lock (_lock) running = [.. _stores];
                try
                {
                    await Task.WhenAll(running).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // the error reported is the one that stopped the dump
                }
            }
            Directory.Delete(temp, recursive: true);
        }
    }

    private string Relative(string name) => $"{folder}{name}.{CompressionOf(name).FileExtension}";

    /// <summary>A table file pg_dump compressed is stored as it is; PgVault compresses everything else.</summary>
    private CompressionSpec CompressionOf(string name) => pgDumpCompresses && IsTableData(name) ? CompressionSpec.None : compression;

    private Exception? Failure()
    {
        lock (_lock) return _failure;
    }

    private void OnEvent(string directory, string name, uint kind, CancellationTokenSource abort)
    {
        if (!IsTableData(name)) return;
        lock (_lock)
        {
            if (!_files.TryGetValue(name, out var file))
            {
                if (abort.IsCancellationRequested) return;
                file = new Staged(name, Path.Combine(directory, name));
                _files.Add(name, file);
                MostStaged = Math.Max(MostStaged, ++_staged);
                _stores.Add(Task.Run(() => StoreAsync(file, abort)));
            }
            if (kind == DirectoryWatcher.ClosedWrite && !file.Closed.IsSet)
            {
                file.Closed.Set();
                if (!file.Finished)
                {
                    file.Pending = true;
                    _pending++;
                    // PgVault falls behind: pause pg_dump until the finished files are read.
                    if (_pending >= jobs && !_paused) _paused = SignalPgDump(SigStop);
                }
            }
        }
    }

    private async Task StoreAsync(Staged file, CancellationTokenSource abort)
    {
        try
        {
            file.Stored = await targets.WriteObjectAsync(id, Relative(file.Name), CompressionOf(file.Name),
                (input, c) => Task.Factory.StartNew(() => Follow(file, input, c), c, TaskCreationOptions.LongRunning, TaskScheduler.Default),
                abort.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !abort.IsCancellationRequested)
        {
            lock (_lock) _failure ??= e;
            await abort.CancelAsync().ConfigureAwait(false); // stops pg_dump and the other stores
            throw;
        }
    }

    /// <summary>
    /// Copies the file into <paramref name="input"/> while pg_dump writes it: a read that finds no
    /// new bytes waits for more, unless pg_dump had closed the file before that read began (then
    /// the end was reached). Bytes already copied give their disk space back.
    /// </summary>
    private void Follow(Staged file, Stream input, CancellationToken ct)
    {
        // Read-write: fallocate needs a descriptor open for writing. Nothing is written through it.
        using var source = new FileStream(file.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            long position = 0, punched = 0;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                bool closed = file.Closed.IsSet;
                int read = source.Read(buffer, 0, CopyBufferSize);
                if (read > 0)
                {
                    input.Write(buffer, 0, read);
                    position += read;
                    task.Report(Interlocked.Add(ref _done, read));
                    if (position - punched >= PunchStep) punched = Punch(source.SafeFileHandle, punched, position);
                    // Caught up with pg_dump: let a few of its 4 KiB writes gather instead of reading each.
                    if (read < SmallRead && !closed) file.Closed.Wait(WaitToBatch, ct);
                    continue;
                }
                if (closed) break;
                file.Closed.Wait(WaitForGrowth, ct);
            }
            // Every byte is in the pipeline now: the local copy is no longer needed, whatever
            // happens to the object (a failed store fails the whole backup).
            File.Delete(file.Path);
            if (IsTableData(file.Name))
            {
                lock (_lock)
                {
                    _staged--;
                    file.Finished = true;
                    if (file.Pending)
                    {
                        file.Pending = false;
                        _pending--;
                    }
                    if (_paused && _pending < jobs) _paused = !SignalPgDump(SigCont);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const int SigCont = 18;
    private const int SigStop = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>
    /// Sends <paramref name="signal"/> to this dump's pg_dump and its workers (forked, so they carry
    /// the same command line with this run's unique --file). False if none was found. If PgVault
    /// is killed while pg_dump is stopped, the kernel sends the orphaned stopped process group
    /// SIGHUP and SIGCONT, which ends pg_dump (when PgVault leads its process group, as when
    /// started from a shell, cron or systemd).
    /// </summary>
    private bool SignalPgDump(int signal)
    {
        bool any = false;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (!argv.Contains(_fileArgument, StringComparer.Ordinal)) continue;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone, or not ours
            }
            if (Kill(pid, signal) == 0) any = true;
        }
        return any;
    }

    private const int PunchHole = 0x02 | 0x01; // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(SafeFileHandle fd, int mode, long offset, long length);

    /// <summary>Frees the blocks of [from, upTo) rounded down to 4 KiB; the file keeps its size. Best effort.</summary>
    private long Punch(SafeFileHandle handle, long from, long upTo)
    {
        long end = upTo & ~4095L;
        if (_punchUnsupported || end <= from) return from;
        if (Fallocate(handle, PunchHole, from, end - from) != 0)
        {
            _punchUnsupported = true; // e.g. a file system without hole punching: the file is simply kept until stored
            return from;
        }
        return end;
    }

    private static async Task WhenAllOrFirstFailureAsync(Task[] tasks)
    {
        var pending = tasks.ToList();
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            await done.ConfigureAwait(false); // throws the first failure at once
            pending.Remove(done);
        }
    }
}
