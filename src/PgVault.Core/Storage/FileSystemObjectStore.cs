using PgVault.Core.Errors;
using PgVault.Core.IO;

namespace PgVault.Core.Storage;

/// <summary>
/// An object store in a local directory. Objects are files below the root; a write goes to a
/// temporary file in the target directory (<c>.KEY.tmp.PID-START.RANDOM</c>: the writer's pid and
/// process start time, so debris removal can prove a writer gone), is fsynced, renamed over the
/// key and the directory is fsynced. Create-if-absent links the fsynced temporary to the key
/// (link(2) never replaces), so the object appears complete or not at all. Files are 0600 and directories 0700; when running as root,
/// new files and directories take the owner of the root directory so that the PostgreSQL OS user
/// can keep using a repository that root wrote to.
/// </summary>
internal sealed class FileSystemObjectStore : IObjectStore
{
    internal const string TempMarker = ".tmp.";
    private const UnixFileMode NewFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode NewDirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly string _root;
    private readonly (int Uid, int Gid)? _owner;

    public FileSystemObjectStore(string name, string root)
    {
        Name = name;
        _root = Path.GetFullPath(root);
        if (Posix.IsRoot && Directory.Exists(_root))
        {
            var owner = Posix.GetOwner(_root);
            if (owner.Uid != 0) _owner = owner;
        }
    }

    public string Name { get; }

    public string Location => _root;

    public Task<ObjectWriter> OpenWriteAsync(string key, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        string path = PathOf(key);
        string directory = Path.GetDirectoryName(path)!;
        EnsureDirectory(directory);
        string temp = TempPathFor(path);
        var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            UnixCreateMode = NewFileMode,
            // Synchronous writes through a 1 MiB buffer: local disk gains nothing from async I/O,
            // and the pipeline's many small frames become few large writes.
            BufferSize = 1 << 20,
            Options = FileOptions.None,
        });
        return Task.FromResult<ObjectWriter>(new Writer(this, stream, temp, path));
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        string path = PathOf(key);
        try
        {
            Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return Task.FromResult(stream);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            if (!Directory.Exists(_root))
                throw new PgVaultException(ErrorCode.RepositoryUnreachable, $"repository '{Name}': directory {_root} does not exist", "check the repository path, or create it and run 'pgvault repo init'");
            throw new ObjectNotFoundException(Name, key);
        }
    }

    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct)
    {
        var info = new FileInfo(PathOf(key));
        return Task.FromResult(info.Exists ? new ObjectInfo(key, info.Length, info.LastWriteTimeUtc) : null);
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        // The prefix may end inside a file or directory name: walk from its directory part.
        if (prefix.StartsWith('/') || prefix.Split('/').Any(part => part is "." or ".."))
            throw new ArgumentException($"invalid prefix '{prefix}'", nameof(prefix));
        int slash = prefix.LastIndexOf('/');
        string baseDir = slash < 0 ? _root : Path.Combine(_root, prefix[..slash]);
        if (!Directory.Exists(baseDir)) yield break;
        var keys = new List<ObjectInfo>();
        foreach (var file in new DirectoryInfo(baseDir).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            ct.ThrowIfCancellationRequested();
            if (file.Name.StartsWith('.') && file.Name.Contains(TempMarker, StringComparison.Ordinal)) continue;
            string key = Path.GetRelativePath(_root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (key.StartsWith(prefix, StringComparison.Ordinal)) keys.Add(new ObjectInfo(key, file.Length, file.LastWriteTimeUtc));
        }
        keys.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var key in keys)
        {
            yield return key;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        string path = PathOf(key);
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            return Task.CompletedTask; // already gone, with its directory
        }
        // Remove directories left empty, up to (not including) the root.
        string? dir = Path.GetDirectoryName(path);
        while (dir != null && dir.Length > _root.Length && Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
        {
            try { Directory.Delete(dir); } catch (IOException) { break; }
            dir = Path.GetDirectoryName(dir);
        }
        return Task.CompletedTask;
    }

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        string path = PathOf(key);
        if (File.Exists(path)) return false;
        string directory = Path.GetDirectoryName(path)!;
        EnsureDirectory(directory);
        string temp = TempPathFor(path);
        try
        {
            await using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = NewFileMode,
            }))
            {
                await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            ApplyOwner(temp);
            if (!Posix.TryLink(temp, path)) return false;
            Posix.FsyncDirectory(directory);
            return true;
        }
        finally
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A temporary file left by a writer: its key-relative path, writer, and age.</summary>
    public sealed record Temporary(string Path, int Pid, long StartTicks, DateTime LastWriteUtc)
    {
        /// <summary>True when its writer is provably gone, or it is older than <paramref name="safeAge"/>.</summary>
        public bool IsDebris(TimeSpan safeAge) =>
            DateTime.UtcNow - LastWriteUtc > safeAge || (Pid > 0 && !ProcessIdentity.IsAlive(Pid, StartTicks));
    }

    /// <summary>Temporary files (hidden from <see cref="ListAsync"/>) under <paramref name="prefix"/>.</summary>
    public List<Temporary> ListTemporaries(string prefix, bool recursive = true)
    {
        string dir = Path.Combine(_root, prefix);
        var found = new List<Temporary>();
        if (!Directory.Exists(dir)) return found;
        try
        {
            foreach (var file in new DirectoryInfo(dir).EnumerateFiles("*" + TempMarker + "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly))
            {
                if (!file.Name.StartsWith('.')) continue;
                // .NAME.tmp.PID-START.RANDOM (older versions: .NAME.tmp.RANDOM, judged by age alone)
                string rest = file.Name[(file.Name.LastIndexOf(TempMarker, StringComparison.Ordinal) + TempMarker.Length)..];
                int dot = rest.IndexOf('.', StringComparison.Ordinal);
                var writer = dot > 0 ? ProcessIdentity.ParseTag(rest[..dot]) : null;
                found.Add(new Temporary(file.FullName, writer?.Pid ?? 0, writer?.StartTicks ?? 0, file.LastWriteTimeUtc));
            }
        }
        catch (DirectoryNotFoundException)
        {
            // removed while we looked: nothing left there
        }
        return found;
    }

    /// <summary>
    /// Names of the directories directly below <paramref name="prefix"/>, whatever they hold (even
    /// nothing, or only temporaries): an id whose directory exists is taken.
    /// </summary>
    public List<string> ListChildDirectories(string prefix)
    {
        string dir = Path.Combine(_root, prefix);
        return Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateDirectories().Select(d => d.Name).ToList() : [];
    }

    /// <summary>Removes temporaries under <paramref name="prefix"/> whose writer is gone or that are older than <paramref name="safeAge"/>.</summary>
    public int RemoveDebrisTemporaries(string prefix, TimeSpan safeAge, bool recursive = true)
    {
        int removed = 0;
        foreach (var temp in ListTemporaries(prefix, recursive))
        {
            if (!temp.IsDebris(safeAge)) continue;
            try { File.Delete(temp.Path); removed++; } catch (IOException) { }
        }
        return removed;
    }

    /// <summary>Removes temporary files that an interrupted writer left behind under <paramref name="prefix"/>.</summary>
    public int RemoveStaleTemporaries(string prefix, TimeSpan olderThan)
    {
        string dir = Path.Combine(_root, prefix);
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        foreach (var file in new DirectoryInfo(dir).EnumerateFiles("*" + TempMarker + "*", SearchOption.AllDirectories))
        {
            if (file.Name.StartsWith('.') && DateTime.UtcNow - file.LastWriteTimeUtc > olderThan)
            {
                file.Delete();
                removed++;
            }
        }
        // Directories left empty (a killed writer's temporaries were their only entries) go too.
        var directories = Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(dir).ToList();
        foreach (var sub in directories)
        {
            for (string? current = sub; current != null && current.Length > _root.Length; current = Path.GetDirectoryName(current))
            {
                try
                {
                    if (!Directory.Exists(current) || Directory.EnumerateFileSystemEntries(current).Any()) break;
                    Directory.Delete(current);
                }
                catch (IOException)
                {
                    break; // not empty after all, or gone: either way nothing to do
                }
            }
        }
        return removed;
    }

    private static string TempPathFor(string path) =>
        Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + TempMarker + ProcessIdentity.Tag + "." + Guid.NewGuid().ToString("N")[..12]);

    private string PathOf(string key)
    {
        if (key.Length == 0 || key.StartsWith('/') || key.Split('/').Any(part => part is "" or "." or ".."))
            throw new ArgumentException($"invalid object key '{key}'", nameof(key));
        return Path.Combine(_root, key.Replace('/', Path.DirectorySeparatorChar));
    }

    private void EnsureDirectory(string directory)
    {
        if (Directory.Exists(directory)) return;
        string? parent = Path.GetDirectoryName(directory);
        if (parent != null && parent.Length >= _root.Length) EnsureDirectory(parent);
        if (!Directory.Exists(_root))
            throw new DirectoryNotFoundException($"repository directory '{_root}' does not exist");
        Directory.CreateDirectory(directory, NewDirMode);
        ApplyOwner(directory);
        if (parent != null) Posix.FsyncDirectory(parent);
    }

    private void ApplyOwner(string path)
    {
        if (_owner is { } owner) Posix.ChangeOwner(path, owner.Uid, owner.Gid);
    }

    private sealed class Writer(FileSystemObjectStore store, FileStream file, string temp, string path) : ObjectWriter
    {
        private bool _committed;
        private bool _closed;

        public override void Write(byte[] buffer, int offset, int count) => file.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => file.Write(buffer);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            file.WriteAsync(buffer, offset, count, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            file.WriteAsync(buffer, cancellationToken);

        public override void Flush() => file.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => file.FlushAsync(cancellationToken);

        public override async Task CommitAsync(CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            long t = TraceTiming.Now();
            await file.FlushAsync(ct).ConfigureAwait(false);
            TraceTiming.Add("store: write out buffer", t);
            t = TraceTiming.Now();
            file.Flush(flushToDisk: true);
            TraceTiming.Add("store: fsync object file", t);
            await file.DisposeAsync().ConfigureAwait(false);
            _closed = true;
            store.ApplyOwner(temp);
            File.Move(temp, path, overwrite: true);
            t = TraceTiming.Now();
            Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
            TraceTiming.Add("store: fsync object directory", t);
            _committed = true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) Abort();
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            if (!_closed) await file.DisposeAsync().ConfigureAwait(false);
            Abort();
            await base.DisposeAsync().ConfigureAwait(false);
        }

        private void Abort()
        {
            if (!_closed)
            {
                file.Dispose();
                _closed = true;
            }
            if (!_committed)
            {
                try { File.Delete(temp); } catch (IOException) { }
            }
        }
    }
}
