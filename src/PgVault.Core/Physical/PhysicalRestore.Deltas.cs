using System.Collections.Concurrent;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;

namespace PgVault.Core.Physical;

/// <summary>Restore, phase 2: page deltas applied on top of the base members, then each such file checked.</summary>
public sealed partial class PhysicalRestore
{
    /// <summary>
    /// At most this many bytes of page hashes are kept, in a private temporary file
    /// (<see cref="PageHashFile"/>), for files being restored with deltas: 256 MiB, for 256 GiB of
    /// such files. The files beyond it are read back for their check. The hashes are not in memory,
    /// so memory stays flat in the cluster's size (issue 15, target 1); the budget bounds the
    /// temporary file.
    /// </summary>
    private const long TrackedPagesBudget = 256L << 20;

    private readonly ConcurrentDictionary<string, RestoredPages> _tracked = new(StringComparer.Ordinal);
    private readonly Lock _trackedStoreGate = new();
    private PageHashFile? _trackedStore;
    private bool _trackedStoreFailed; // no temporary file could be made: every file is read back, without trying again
    private long _trackedBytes;

    /// <summary>
    /// A tracker for a file about to be written from its base member, when its check is a page
    /// digest and the budget allows. A pack read again from another repository (its first copy
    /// was damaged) writes the file again: the earlier tracker is dropped first (its region of the
    /// page hash file stays unused).
    /// </summary>
    private RestoredPages? TrackPages(PhysicalFile f)
    {
        if (_tracked.TryRemove(f.Path, out var earlier)) earlier.Dispose();
        if (f.Deltas is not { Count: > 0 } || f.PageDigest == null || f.BaseSize is not { } baseSize
            || baseSize % PageDeltas.PageSize != 0 || f.Size % PageDeltas.PageSize != 0) return null;
        int maxPages = PageHashes.PageCount(Math.Max(baseSize, f.Size));
        long bytes = RestoredPages.Footprint(maxPages);
        if (Interlocked.Add(ref _trackedBytes, bytes) > TrackedPagesBudget)
        {
            Interlocked.Add(ref _trackedBytes, -bytes);
            return null;
        }
        PageHashFile? store;
        lock (_trackedStoreGate)
        {
            if (_trackedStore == null && !_trackedStoreFailed)
            {
                try
                {
                    _trackedStore = new PageHashFile();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _trackedStoreFailed = true; // $TMPDIR full or not writable
                }
            }
            store = _trackedStore;
        }
        if (store == null)
        {
            Interlocked.Add(ref _trackedBytes, -bytes);
            return null; // no temporary file: the file is read back for its check
        }
        var pages = new RestoredPages(maxPages, store);
        _tracked[f.Path] = pages;
        return pages;
    }

    /// <summary>Frees every tracker and removes the page hash file (after the check, or when the restore fails).</summary>
    private void ReleaseTracked()
    {
        foreach (var pages in _tracked.Values) pages.Dispose();
        _tracked.Clear();
        _trackedBytes = 0;
        lock (_trackedStoreGate)
        {
            _trackedStore?.Dispose();
            _trackedStore = null;
            _trackedStoreFailed = false;
        }
    }

    /// <summary>
    /// Applies the page deltas of the files restored from their base members: backup by backup,
    /// oldest first (a file has at most one delta per backup), packs of one backup in parallel;
    /// then checks every such file against its final XXH128 or page digest (from the page hashes
    /// kept while it was written, else by reading it) and gives it its mode and mtime.
    /// </summary>
    private async Task ApplyDeltasAsync(List<Catalog> holders, List<PhysicalFile> files, string pgdata, PhysicalBackupInfo? owner, int parallel, CancellationToken ct)
    {
        if (files.Count == 0) return;
        using var task = progress.Start($"apply page deltas to {files.Count} files");
        foreach (var backup in files.SelectMany(f => f.Deltas!).Select(d => d.Backup).Distinct().Order(StringComparer.Ordinal))
        {
            var packs = files.SelectMany(f => f.Deltas!.Where(d => d.Backup == backup).Select(d => (File: f, Delta: d)))
                .GroupBy(x => x.Delta.Pack, StringComparer.Ordinal)
                .Select(g => g.OrderBy(x => x.Delta.Offset).ToList())
                .ToList();
            await Parallel.ForEachAsync(packs, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, (items, c) =>
                new ValueTask(ReadPackAsync(holders, backup, items[0].Delta.Pack, pack => ApplyMembers(pack, items, pgdata, _tracked, c), c))).ConfigureAwait(false);
        }
        TraceTiming.Mark("restore: page deltas applied");
        await Parallel.ForEachAsync(files.OrderByDescending(f => f.Size), new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, (f, c) =>
        {
            string full = Path.Combine(pgdata, f.Path);
            using var handle = SafeFiles.OpenExisting(full, write: false);
            // A file whose last delta came from the WAL block map carries a page digest instead of its XXH128.
            string? written = _tracked.TryGetValue(f.Path, out var pages) ? pages.Digest() : null;
            if (RandomAccess.GetLength(handle) != f.Size
                || (written != null ? written != f.PageDigest
                    : f.Xxh128 is null && f.PageDigest is { } digest ? PageDigest.Of(handle) != digest : Xxh128Of(handle) != f.Xxh128))
                throw new PgVaultException(ErrorCode.VerificationFailed, $"restored {f.Path} does not match the backup after applying its {f.Deltas!.Count} page delta(s)",
                    "restore from another repository or an older backup")
                {
                    RepositoryFault = true,
                };
            SafeFiles.SetMode(handle, f.Mode, full);
            File.SetLastWriteTimeUtc(handle, f.Mtime.UtcDateTime);
            if (_fsyncEach) Posix.Fsync(handle, full);
            return ValueTask.CompletedTask;
        }).ConfigureAwait(false);
        TraceTiming.Mark("restore: files with deltas checked");
    }

    private static void ApplyMembers(PackReader pack, List<(PhysicalFile File, DeltaRef Delta)> items, string pgdata,
        ConcurrentDictionary<string, RestoredPages> tracked, CancellationToken ct)
    {
        foreach (var (f, d) in items)
        {
            ct.ThrowIfCancellationRequested();
            pack.MoveTo(d.Offset, f.Path);
            string full = Path.Combine(pgdata, f.Path);
            tracked.TryGetValue(f.Path, out var written);
            try
            {
                using var handle = SafeFiles.OpenExisting(full, write: true);
                using var member = pack.OpenMember(d.Length, d.Compression);
                var (pages, finalSize) = PageDeltas.Read(member.Content, (number, page) =>
                {
                    RandomAccess.Write(handle, page, (long)number * PageDeltas.PageSize);
                    written?.Page(number, page);
                });
                RandomAccess.SetLength(handle, finalSize);
                written?.Resize(finalSize);
                if (member.Content.Read(new byte[1], 0, 1) != 0 || member.Remaining > 0) throw new InvalidDataException("bytes after the end of the delta");
                if (pages != d.Pages) throw new InvalidDataException($"{pages} pages instead of {d.Pages}");
            }
            catch (Exception e) when (IsDamage(e))
            {
                if (e is PgVaultException { RepositoryFault: false } p) throw p;
                throw new PgVaultException(ErrorCode.ObjectCorrupt, $"stored page delta of {f.Path} (backup {d.Backup}) is damaged: {(e is PgVaultException pv ? pv.Message : e.Message)}",
                    "restore from another repository or an older backup", inner: e)
                {
                    RepositoryFault = true,
                };
            }
        }
    }
}
