using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Repository;
using PgVault.Core.Wal;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalRestore
{
    /// <summary>The WAL a restore replays: timeline, first and last segment, and the LSN at the end of the last one (as far as recovery can go).</summary>
    private sealed record WalCheck(string Timeline, string From, string To, int Segments, string EndLsn);

    /// <summary>What the WAL archive holds: segments (name -> when archived) and timeline histories.</summary>
    private sealed class ArchiveListing
    {
        public Dictionary<string, DateTimeOffset> Segments { get; } = new(StringComparer.Ordinal);
        public HashSet<uint> Histories { get; } = [];
    }

    /// <summary>
    /// Resolves the target timeline and checks that the archive holds every segment recovery needs:
    /// from the backup's start to its end always, then on to the target (an LSN or restore point:
    /// its segment; a time: the first segment archived after it; an xid or the end of the archive:
    /// every segment up to the newest). A gap is an error before anything is written, and so is a
    /// segment no repository has an intact copy of: each one is read whole and checked (content
    /// checksum, header vs. name), since recovery cannot go past it.
    /// </summary>
    private async Task<WalCheck> CheckWalAsync(List<Catalog> holders, BackupManifest manifest, PhysicalRestoreOptions options, RestorePointRecord? point, CancellationToken ct)
    {
        var p = manifest.Physical!;
        long size = p.WalSegmentSize;
        var listing = await ListArchiveAsync(holders, ct).ConfigureAwait(false);
        ulong stop = Lsn.ParseLsn(p.StopLsn);
        uint backupTimeline = (uint)p.Timeline;

        uint target = backupTimeline;
        List<TimelineSpan> spans;
        if (options.TargetTimeline is null or "latest")
        {
            spans = TimelineHistory.Spans(backupTimeline, null);
            foreach (var tli in listing.Histories.Where(t => t > backupTimeline).OrderDescending())
            {
                var candidate = TimelineHistory.Spans(tli, await ReadHistoryAsync(holders, tli, ct).ConfigureAwait(false));
                if (Descends(candidate, backupTimeline, stop))
                {
                    target = tli;
                    spans = candidate;
                    break;
                }
            }
        }
        else if (options.TargetTimeline == "current")
        {
            spans = TimelineHistory.Spans(backupTimeline, null);
        }
        else
        {
            target = uint.Parse(options.TargetTimeline, CultureInfo.InvariantCulture);
            if (target == backupTimeline)
            {
                spans = TimelineHistory.Spans(backupTimeline, null);
            }
            else
            {
                if (!listing.Histories.Contains(target))
                    throw new PgVaultException(ErrorCode.RecoveryTargetInvalid, $"timeline {target} does not exist in the archive of cluster '{sources.Cluster}' (no {target:X8}.history)",
                        $"the backup is on timeline {backupTimeline}; timelines with history: {(listing.Histories.Count == 0 ? "none" : string.Join(", ", listing.Histories.Order()))}");
                spans = TimelineHistory.Spans(target, await ReadHistoryAsync(holders, target, ct).ConfigureAwait(false));
                if (!Descends(spans, backupTimeline, stop))
                    throw new PgVaultException(ErrorCode.RecoveryTargetInvalid, $"timeline {target} does not branch off timeline {backupTimeline} after backup {manifest.Id} ended (LSN {p.StopLsn})",
                        "choose a backup taken on that timeline's history before its branch point");
            }
        }

        ulong first = WalSegments.Parse(p.StartWal, size).Segment;
        ulong last = WalSegments.Parse(p.StopWal, size).Segment;
        bool Present(ulong segment) => SegmentName(spans, segment, size, listing) != null;
        string Describe(ulong segment) => WalSegments.Name(TimelineOf(spans, segment, size), segment, size);
        for (ulong s = first; s <= last; s++)
        {
            if (!Present(s))
                throw new PgVaultException(ErrorCode.WalMissing, $"WAL segment {Describe(s)} is missing from the archive: backup {manifest.Id} cannot be made consistent without it",
                    "the backup is unusable; restore an older backup, or check archiving with 'pgvault check'");
        }

        ulong end = last;
        ulong? targetLsn = options.ParsedLsn ?? (point != null ? Lsn.ParseLsn(point.Lsn) : null);
        if (targetLsn is { } lsn) end = WalSegments.SegmentOf(lsn, size);
        else if (options.Target == "immediate") end = last;
        else
        {
            // Follow the archive until the target time is passed (or to its end for an xid / no target).
            ulong s = last;
            while (Present(s + 1))
            {
                s++;
                if (options.ParsedTime is { } time && ArchivedAt(spans, s, size, listing) >= time) break;
            }
            end = s;
            if (options.ParsedTime is { } t && ArchivedAt(spans, s, size, listing) < t && !HasLaterSegment(spans, s, size, listing))
                throw new PgVaultException(ErrorCode.WalMissing, $"the WAL archive ends with segment {Describe(s)} (archived {ArchivedAt(spans, s, size, listing):yyyy-MM-dd HH:mm:ss zzz}); the target time {options.TargetTime} lies after it",
                    "recovery could not reach the target: wait for the WAL to be archived (or force it with pg_switch_wal()) and retry");
            if (HasLaterSegment(spans, s, size, listing) && options.ParsedTime is null)
                throw new PgVaultException(ErrorCode.WalMissing, $"WAL segment {Describe(s + 1)} is missing from the archive: recovery would stop at {Describe(s)}, before the target",
                    "restore to an earlier target, or find the missing segment");
            if (options.ParsedTime is { } t2 && ArchivedAt(spans, s, size, listing) < t2)
                throw new PgVaultException(ErrorCode.WalMissing, $"WAL segment {Describe(s + 1)} is missing from the archive: recovery would stop before the target time {options.TargetTime}",
                    "restore to an earlier target, or find the missing segment");
        }
        for (ulong s = last + 1; s <= end; s++)
        {
            if (!Present(s))
                throw new PgVaultException(ErrorCode.WalMissing, $"WAL segment {Describe(s)} is missing from the archive: recovery from backup {manifest.Id} cannot reach the target",
                    "restore to an earlier target, or find the missing segment");
        }
        var needed = new List<string>();
        for (ulong s = first; s <= end; s++) needed.Add(SegmentName(spans, s, size, listing)!);
        await CheckWalContentAsync(holders, needed, manifest.Id, size, options.Parallel, ct).ConfigureAwait(false);
        return new WalCheck(target.ToString(CultureInfo.InvariantCulture), WalSegments.Name(backupTimeline, first, size), Describe(end), (int)(end - first + 1),
            Lsn.FormatLsn((end + 1) * (ulong)size));
    }

    /// <summary>
    /// Reads every segment recovery needs whole (decrypted, decompressed, checksum and header
    /// checked) from the first repository with an intact copy; fails naming each segment that no
    /// repository can serve. Nothing is written.
    /// </summary>
    private async Task CheckWalContentAsync(List<Catalog> holders, List<string> segments, string backupId, long size, int parallel, CancellationToken ct)
    {
        var archive = new WalArchive(holders.Select(h => h.Repository).ToList(), sources.Cluster, progress);
        var bad = new System.Collections.Concurrent.ConcurrentDictionary<string, WalGetResult>(StringComparer.Ordinal);
        using (var task = progress.Start($"check {segments.Count} WAL segments", segments.Count * size))
        {
            long done = 0;
            await Parallel.ForEachAsync(segments, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, async (segment, c) =>
            {
                var result = await archive.CheckAsync(segment, c).ConfigureAwait(false);
                if (result.Status != WalGetStatus.Intact) bad[segment] = result;
                task.Report(Interlocked.Increment(ref done) * size);
            }).ConfigureAwait(false);
        }
        if (bad.IsEmpty) return;
        var names = bad.Keys.Order(StringComparer.Ordinal).ToList();
        string detail = string.Join("; ", names.Select(n => $"{n}: {(bad[n].Problems.Count > 0 ? string.Join(", ", bad[n].Problems) : bad[n].Status.ToString().ToLowerInvariant())}"));
        throw new PgVaultException(ErrorCode.WalDamaged,
            $"WAL segment{(names.Count == 1 ? "" : "s")} {string.Join(", ", names)} {(names.Count == 1 ? "has" : "have")} no intact copy in any repository: recovery from backup {backupId} would stop at {names[0]}, before the target ({detail})",
            "restore to a target before the damaged segment (--target-lsn / --target-time), or put an intact copy of it back into the repository");
    }

    /// <summary>True when <paramref name="spans"/> runs through <paramref name="timeline"/> past <paramref name="stop"/>.</summary>
    private static bool Descends(List<TimelineSpan> spans, uint timeline, ulong stop) =>
        spans.Any(s => s.Timeline == timeline && s.End >= stop);

    private static uint TimelineOf(List<TimelineSpan> spans, ulong segment, long size)
    {
        ulong start = segment * (ulong)size;
        return spans.Last(s => s.Begin <= start + (ulong)size - 1 || s == spans[0]).Timeline;
    }

    /// <summary>The archived name of <paramref name="segment"/> on the newest timeline that covers it, or null.</summary>
    private static string? SegmentName(List<TimelineSpan> spans, ulong segment, long size, ArchiveListing listing)
    {
        ulong start = segment * (ulong)size, end = start + (ulong)size;
        for (int i = spans.Count - 1; i >= 0; i--)
        {
            var span = spans[i];
            if (span.Begin >= end || span.End <= start) continue;
            string name = WalSegments.Name(span.Timeline, segment, size);
            if (listing.Segments.ContainsKey(name)) return name;
        }
        return null;
    }

    private static DateTimeOffset ArchivedAt(List<TimelineSpan> spans, ulong segment, long size, ArchiveListing listing) =>
        SegmentName(spans, segment, size, listing) is { } name ? listing.Segments[name] : DateTimeOffset.MinValue;

    /// <summary>True when the archive holds a segment after <paramref name="segment"/> on these timelines (so there is a gap).</summary>
    private static bool HasLaterSegment(List<TimelineSpan> spans, ulong segment, long size, ArchiveListing listing) =>
        listing.Segments.Keys.Any(name =>
        {
            var (tli, s) = WalSegments.Parse(name, size);
            return s > segment + 1 && spans.Any(span => span.Timeline == tli && span.Begin < (s + 1) * (ulong)size && span.End > s * (ulong)size);
        });

    private async Task<ArchiveListing> ListArchiveAsync(List<Catalog> holders, CancellationToken ct)
    {
        var listing = new ArchiveListing();
        bool any = false;
        foreach (var catalog in holders)
        {
            try
            {
                await foreach (var info in catalog.Repository.Store.ListAsync(RepositoryLayout.WalPrefix(sources.Cluster), ct).ConfigureAwait(false))
                {
                    string file = info.Key[(info.Key.LastIndexOf('/') + 1)..];
                    int dash = file.IndexOf('-', StringComparison.Ordinal);
                    if (dash < 0) continue;
                    string name = file[..dash];
                    if (WalFileName.TryParse(name) is not { } parsed) continue;
                    if (parsed.Kind == WalFileKind.Segment)
                    {
                        if (!listing.Segments.TryGetValue(name, out var at) || info.LastModified < at) listing.Segments[name] = info.LastModified;
                    }
                    else if (parsed.Kind == WalFileKind.TimelineHistory)
                    {
                        listing.Histories.Add(parsed.Timeline);
                    }
                }
                any = true;
            }
            catch (Exception e) when (e is PgVaultException or IOException)
            {
                progress.Warn($"unable to list the WAL archive in repository '{catalog.Repository.Name}': {e.Message}");
            }
        }
        if (!any) throw new PgVaultException(ErrorCode.RepositoryUnreachable, $"unable to list the WAL archive of cluster '{sources.Cluster}' in any repository ({sources.Names})");
        return listing;
    }

    private async Task<string> ReadHistoryAsync(List<Catalog> holders, uint timeline, CancellationToken ct)
    {
        string name = $"{timeline:X8}.history";
        // A private directory (mkdtemp), never a predictable name in /tmp another user could plant a link at.
        string directory = SafeFiles.CreatePrivateTempDirectory();
        string temp = Path.Combine(directory, name);
        try
        {
            var archive = new WalArchive(holders.Select(h => h.Repository).ToList(), sources.Cluster, progress);
            var got = await archive.GetAsync(name, temp, ct).ConfigureAwait(false);
            if (got.Status != WalGetStatus.Intact)
                throw new PgVaultException(ErrorCode.WalDamaged, $"timeline history {name} is listed but cannot be read from the archive{(got.Problems.Count > 0 ? ": " + string.Join("; ", got.Problems) : "")}");
            return await File.ReadAllTextAsync(temp, ct).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
