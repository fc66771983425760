using Microsoft.Win32.SafeHandles;
using PgVault.Core.PostgreSql;
using PgVault.Core.Wal;

namespace PgVault.Core.Physical;

/// <summary>
/// Scratch copies of archived WAL segments for the block map of an incremental, fetched in the
/// background, at most <see cref="Width"/> at a time, into one private temporary directory (made
/// with the first copy, mode 0700; a later run removes it when this one was killed). The
/// segments archived before the backup starts are requested while the server runs
/// pg_backup_start's checkpoint; the block map requests the rest and waits for each. The newest
/// segments still in pg_wal are held open. Disposing cancels what still runs, closes what is
/// held and removes the directory.
/// </summary>
internal sealed class WalFetchAhead(WalArchive archive, uint timeline, long segmentSize, CancellationToken ct) : IAsyncDisposable
{
    /// <summary>Fetches at once: each is one core's work (read, decompress, SHA-256, write).</summary>
    internal const int Width = 2;

    /// <summary>The newest segments of the range are held open from pg_wal (see <see cref="Hold"/>).</summary>
    internal const int HeldSegments = 16;

    private readonly Dictionary<ulong, Task<(string? Path, string? Problem)>> fetches = [];
    private readonly Dictionary<ulong, SafeFileHandle> held = [];
    private readonly SemaphoreSlim slots = new(Width);
    private readonly CancellationTokenSource stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
    private readonly Lock gate = new();
    // The scratch directory, made by the first fetch under a lock of its own (it may sweep $TMPDIR); a failure is remembered.
    private readonly Lock directoryGate = new();
    private string? directory, directoryProblem;
    private bool disposed;

    /// <summary>How many segments were requested (for the trace and the tests).</summary>
    public int Requested
    {
        get { lock (gate) return fetches.Count; }
    }

    /// <summary>True when <paramref name="segment"/> has been requested (false once disposed).</summary>
    public bool Has(ulong segment)
    {
        lock (gate) return !disposed && fetches.ContainsKey(segment);
    }

    /// <summary>
    /// Keeps <paramref name="handle"/>, a segment found in pg_wal before pg_backup_start, open
    /// until disposed: the start checkpoint may recycle it (a rename) or remove it before the map
    /// reads it, and an open file keeps its content until the server writes it again as a later
    /// segment, which the reader's page addresses and record CRCs would see.
    /// </summary>
    public void Hold(ulong segment, SafeFileHandle handle)
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!held.TryAdd(segment, handle)) handle.Dispose();
        }
    }

    /// <summary>The handle <see cref="Hold"/> kept for <paramref name="segment"/> (owned by this object), or null (always once disposed).</summary>
    public SafeFileHandle? Held(ulong segment)
    {
        lock (gate) return disposed ? null : held.GetValueOrDefault(segment);
    }

    /// <summary>Starts fetching <paramref name="segment"/> unless it already is.</summary>
    public void Request(ulong segment)
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!fetches.ContainsKey(segment)) fetches[segment] = Task.Run(() => FetchAsync(segment));
        }
    }

    /// <summary>
    /// The scratch copy of <paramref name="segment"/>, or why there is none. A fetch that failed
    /// is tried once more (a segment requested ahead may have reached the archive only since).
    /// </summary>
    public async Task<(string? Path, string? Problem)> GetAsync(ulong segment)
    {
        Request(segment);
        Task<(string? Path, string? Problem)> fetch;
        lock (gate) fetch = fetches[segment];
        var got = await fetch.ConfigureAwait(false);
        if (got.Path != null) return got;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            fetch = fetches[segment] = Task.Run(() => FetchAsync(segment));
        }
        return await fetch.ConfigureAwait(false);
    }

    private async Task<(string? Path, string? Problem)> FetchAsync(ulong segment)
    {
        string name = WalSegments.Name(timeline, segment, segmentSize);
        await slots.WaitAsync(stop.Token).ConfigureAwait(false);
        try
        {
            string path = Path.Combine(ScratchDirectory(), name);
            var got = await archive.GetScratchCopyAsync(name, path, stop.Token).ConfigureAwait(false);
            return got.Status == WalGetStatus.Intact
                ? (path, null)
                : (null, $"WAL segment {name} is neither in pg_wal nor readable from the archive ({got.Status.ToString().ToLowerInvariant()})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"WAL segment {name} could not be copied from the archive into a temporary file ({e.Message})");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever else a fetch meets, the map is not built and the backup scans instead, saying why.
            return (null, $"WAL segment {name} could not be fetched from the archive ({e.Message})");
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>The private scratch directory (mode 0700; a later run removes it when this one was killed), made once.</summary>
    private string ScratchDirectory()
    {
        lock (directoryGate)
        {
            if (directory != null) return directory;
            if (directoryProblem != null) throw new IOException(directoryProblem);
            try
            {
                return directory = IO.SafeFiles.CreatePrivateTempDirectory();
            }
            catch (IOException e)
            {
                directoryProblem = e.Message;
                throw;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task[] running;
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            running = [.. fetches.Values];
        }
        await stop.CancelAsync().ConfigureAwait(false);
        foreach (var handle in held.Values) handle.Dispose();
        foreach (var fetch in running)
        {
            try
            {
                await fetch.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // cancelled or failed: nobody waits for it any more
            }
        }
        string? made;
        lock (directoryGate) made = directory;
        if (made != null)
        {
            try
            {
                Directory.Delete(made, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the next run's sweep of stale PgVault temporary directories takes it
            }
        }
        stop.Dispose();
        slots.Dispose();
    }
}
