using Microsoft.Win32.SafeHandles;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Streaming;

/// <summary>
/// The local spool of wal-stream: the segment being received is written as SEGMENT.partial (mode
/// 0600, in a 0700 directory), made durable by <see cref="Sync"/>; a segment received whole is
/// fsynced and renamed to its own name, ready to be pushed. A lock file held for the life of the
/// spool refuses a second streamer of the same cluster. Writes and syncs may come from two threads.
/// </summary>
internal sealed class WalSpool : IDisposable
{
    private const string LockName = "stream.lock";
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly Lock _gate = new();
    private readonly FileStream _lock;
    private readonly long _segmentSize;
    private FileStream? _file;
    private SafeFileHandle? _handle;
    private string? _path;
    private uint _timeline;
    private ulong _segment;
    private ulong _writtenEnd;
    private ulong _syncedEnd;

    private WalSpool(string directory, FileStream held, long segmentSize)
    {
        Directory = directory;
        _lock = held;
        _segmentSize = segmentSize;
    }

    public string Directory { get; }

    /// <summary>Creates the spool directory (0700) and takes its lock; another holder is a clear error.</summary>
    public static WalSpool Open(string directory, long segmentSize)
    {
        try
        {
            System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.IoFailed, $"unable to create the streaming spool '{directory}': {e.Message}",
                "set spool_path for the cluster to a directory this user can write");
        }
        string path = Path.Combine(directory, LockName);
        try
        {
            var held = new FileStream(path, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None, UnixCreateMode = FileMode600 });
            return new WalSpool(directory, held, segmentSize);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PgVaultException(ErrorCode.IoFailed, $"unable to open the spool lock '{path}': {e.Message}", "run wal-stream as the user that owns the spool");
        }
        catch (IOException)
        {
            throw new PgVaultException(ErrorCode.StreamerRunning, $"another pgvault wal-stream holds the spool lock '{path}'",
                "stop the other streamer of this cluster first; two streamers of one cluster are refused");
        }
    }

    /// <summary>End of the WAL written so far (not necessarily durable).</summary>
    public ulong WrittenEnd { get { lock (_gate) return _writtenEnd; } }

    /// <summary>End of the WAL made durable by the last <see cref="Sync"/>.</summary>
    public ulong SyncedEnd { get { lock (_gate) return _syncedEnd; } }

    /// <summary>Segments received whole and not yet pushed (their own names), oldest first.</summary>
    public List<string> CompletedSegments() =>
        System.IO.Directory.GetFiles(Directory).Where(f => WalFileName.TryParse(Path.GetFileName(f)) is { Kind: WalFileKind.Segment })
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>Partial segments in the spool (SEGMENT.partial), oldest first.</summary>
    public List<string> Partials() =>
        System.IO.Directory.GetFiles(Directory, "*.partial").Where(f => WalFileName.TryParse(Path.GetFileName(f)) is { Kind: WalFileKind.Partial })
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Writes a chunk received at <paramref name="lsn"/> on <paramref name="timeline"/>; returns the
    /// paths of segments it completed (fsynced and renamed to their own names).
    /// </summary>
    public List<string> Write(uint timeline, ulong lsn, ReadOnlySpan<byte> data)
    {
        var completed = new List<string>();
        lock (_gate)
        {
            foreach (var piece in StreamMath.Split(lsn, data.Length, _segmentSize))
            {
                EnsureOpen(timeline, piece.Segment);
                RandomAccess.Write(_handle!, data.Slice(piece.From, piece.Count), piece.Offset);
                _writtenEnd = lsn + (ulong)(piece.From + piece.Count);
                if (piece.Offset + piece.Count == _segmentSize) completed.Add(CompleteCurrent());
            }
        }
        return completed;
    }

    /// <summary>Makes everything written durable (fsync of the open partial); returns the durable end.</summary>
    public ulong Sync()
    {
        lock (_gate)
        {
            if (_handle != null) Posix.Fsync(_handle, _path!);
            _syncedEnd = _writtenEnd;
            return _syncedEnd;
        }
    }

    /// <summary>Forgets the open file (a new session starts over at a segment start).</summary>
    public void Reset(ulong position)
    {
        lock (_gate)
        {
            CloseCurrent(sync: true);
            _writtenEnd = position;
            _syncedEnd = Math.Min(_syncedEnd, position);
        }
    }

    /// <summary>
    /// The partial of <paramref name="timeline"/> that holds <paramref name="end"/> (the timeline's
    /// switch point), cut at <paramref name="end"/> and fsynced: what is stored in the archive as
    /// SEGMENT.partial (zero-filled to the segment size, as PostgreSQL leaves one at a promotion).
    /// Null when the switch point is a segment boundary or nothing was received.
    /// </summary>
    public string? FinishTimeline(uint timeline, ulong end)
    {
        lock (_gate)
        {
            CloseCurrent(sync: true);
            long offset = StreamMath.Offset(end, _segmentSize);
            if (offset == 0) return null;
            string path = Path.Combine(Directory, StreamMath.PartialName(timeline, WalSegments.SegmentOf(end, _segmentSize), _segmentSize));
            if (!File.Exists(path)) return null;
            using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
            {
                if (RandomAccess.GetLength(handle) < offset) return null;
                // Cut at the switch point, then zero-filled to the segment size: the shape of PostgreSQL's own .partial files.
                RandomAccess.SetLength(handle, offset);
                RandomAccess.SetLength(handle, _segmentSize);
                Posix.Fsync(handle, path);
            }
            return path;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            CloseCurrent(sync: true);
        }
        _lock.Dispose();
    }

    private void EnsureOpen(uint timeline, ulong segment)
    {
        if (_handle != null && _timeline == timeline && _segment == segment) return;
        CloseCurrent(sync: true);
        _path = Path.Combine(Directory, StreamMath.PartialName(timeline, segment, _segmentSize));
        // Never truncated: a session starts over at the segment's start and writes the same bytes again.
        _file = new FileStream(_path, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.Read, BufferSize = 0, UnixCreateMode = FileMode600 });
        _handle = _file.SafeFileHandle;
        _timeline = timeline;
        _segment = segment;
    }

    private string CompleteCurrent()
    {
        Posix.Fsync(_handle!, _path!);
        _file!.Dispose();
        _file = null;
        _handle = null;
        string done = _path![..^".partial".Length];
        File.Move(_path, done, overwrite: true);
        Posix.FsyncDirectory(Directory);
        _path = null;
        _syncedEnd = _writtenEnd;
        return done;
    }

    private void CloseCurrent(bool sync)
    {
        if (_handle is null) return;
        if (sync) Posix.Fsync(_handle, _path!);
        _file!.Dispose();
        _file = null;
        _handle = null;
        _path = null;
    }
}
