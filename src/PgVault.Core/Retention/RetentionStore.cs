using PgVault.Core.Config;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Retention;

/// <summary>One archived WAL object: its key, the WAL file name it stores and its size.</summary>
public sealed record WalObject(string Key, string FileName, long Size)
{
    public uint Timeline => uint.Parse(FileName.AsSpan(0, 8), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Log and segment (16 hex digits); empty for timeline history files.</summary>
    public string Position => FileName.EndsWith(".history", StringComparison.Ordinal) ? "" : FileName[8..24];
}

/// <summary>WAL removed from one timeline: the first and last segment and how many objects.</summary>
public sealed record WalRemoval(uint Timeline, string First, string Last, int Objects, long Bytes);

/// <summary>
/// What retention reads and changes in one repository, always under the repository lock held by
/// the caller: the inputs of the plan (headers, pins, running backups, WAL objects) and the
/// crash-safe removal (mark expiring, update the index, remove WAL oldest first, then the backups).
/// </summary>
internal sealed class RetentionStore(Catalog catalog, IProgressSink progress)
{
    /// <summary>How far a running backup's start may precede its marker's time stamp (clock steps, slow starts).</summary>
    private static readonly TimeSpan RunningMargin = TimeSpan.FromMinutes(5);

    public Catalog Catalog => catalog;

    private Repository.Repository Repository => catalog.Repository;

    private string Cluster => catalog.Cluster;

    /// <summary>Finishes removals an interrupted expire or delete left (backups still marked expiring).</summary>
    public async Task<List<string>> FinishInterruptedAsync(CancellationToken ct)
    {
        var finished = await catalog.ListExpiringAsync(ct).ConfigureAwait(false);
        foreach (var id in finished)
        {
            progress.Info($"repository '{Repository.Name}': finishing the removal of backup {id} left by an interrupted run");
            await catalog.RemoveExpiringAsync(id, ct).ConfigureAwait(false);
        }
        return finished;
    }

    /// <summary>
    /// The complete backups and the running ones, read in that order of safety: the in-progress
    /// markers first, the headers after. A backup that commits in between (manifest first, marker
    /// after, without the repository lock) is then in at least one of them, never in neither.
    /// </summary>
    public async Task<(List<BackupHeader> Headers, List<RunningBackup> Running)> ReadCatalogAsync(CancellationToken ct)
    {
        var markers = await catalog.ListRunningAsync(ct).ConfigureAwait(false);
        var headers = await catalog.ListHeadersAsync(progress, ct).ConfigureAwait(false);
        return (headers, Running(markers, headers));
    }

    /// <summary>
    /// The running backups with their chains and a safe WAL bound: a backup's start LSN is at or
    /// after the start of every backup that began before its marker was written, so WAL from the
    /// newest such start on stays (from the beginning when there is none).
    /// </summary>
    private static List<RunningBackup> Running(IEnumerable<(string Id, BackupInProgress Marker)> markers, IReadOnlyList<BackupHeader> complete)
    {
        var running = new List<RunningBackup>();
        foreach (var (id, marker) in markers)
        {
            string? bound = null;
            if (BackupId.TryParse(id, out var parsed) && parsed.Kind.IsPhysical())
            {
                bound = complete.Where(b => b.Physical != null && b.StartedAt < marker.StartedAt - RunningMargin)
                    .Select(b => RetentionPlanner.Position(b.Physical!.StartWal)).DefaultIfEmpty("0000000000000000").Max(StringComparer.Ordinal);
            }
            running.Add(new RunningBackup(id, marker.Chain, bound));
        }
        return running;
    }

    /// <summary>Every archived WAL object of the cluster (segments, partial segments, backup and timeline history files).</summary>
    public async Task<List<WalObject>> ListWalAsync(CancellationToken ct)
    {
        var objects = new List<WalObject>();
        await foreach (var info in Repository.Store.ListAsync(RepositoryLayout.WalPrefix(Cluster), ct).ConfigureAwait(false))
        {
            string name = info.Key[(info.Key.LastIndexOf('/') + 1)..];
            int dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0) continue; // a temporary or a foreign object
            string fileName = name[..dash];
            if (PostgreSql.WalFileName.TryParse(fileName) is null) continue;
            objects.Add(new WalObject(info.Key, fileName, info.Size));
        }
        return objects;
    }

    /// <summary>Marks the backups as expiring, then brings the catalog index up to date: from here on none is listed.</summary>
    public async Task MarkAsync(IEnumerable<(string Id, string Reason)> backups, CancellationToken ct)
    {
        foreach (var (id, reason) in backups) await catalog.MarkExpiringAsync(id, reason, ct).ConfigureAwait(false);
        await new CatalogIndex(catalog).UpdateAsync([], progress, ct).ConfigureAwait(false);
    }

    /// <summary>Removes WAL objects oldest first (each after its claim); returns what went, per timeline.</summary>
    public async Task<List<WalRemoval>> RemoveWalAsync(IEnumerable<WalObject> remove, CancellationToken ct)
    {
        var ordered = remove.OrderBy(o => o.Position, StringComparer.Ordinal).ThenBy(o => o.FileName, StringComparer.Ordinal).ToList();
        var byTimeline = new SortedDictionary<uint, (string First, string Last, int Objects, long Bytes)>();
        var groups = ordered.GroupBy(o => o.FileName).ToList();
        // In batches, oldest first. Each batch's claims go before its segments: a crash between the
        // two leaves segments, which the next run lists and removes; the other order would leave
        // claims that no listing of wal/ ever finds.
        foreach (var batch in groups.Chunk(WalBatch))
        {
            await Repository.Store.DeleteManyAsync(batch.Select(g => RepositoryLayout.WalClaim(Cluster, g.Key)).ToList(), ct).ConfigureAwait(false);
            await Repository.Store.DeleteManyAsync(batch.SelectMany(g => g.Select(o => o.Key)).ToList(), ct).ConfigureAwait(false);
        }
        foreach (var group in groups)
        {
            uint timeline = group.First().Timeline;
            string segment = group.Key.Length >= 24 ? group.Key[..24] : group.Key;
            var (first, _, objects, bytes) = byTimeline.GetValueOrDefault(timeline, (segment, segment, 0, 0L));
            byTimeline[timeline] = (first, segment, objects + group.Count(), bytes + group.Sum(o => o.Size));
        }
        return byTimeline.Select(t => new WalRemoval(t.Key, t.Value.First, t.Value.Last, t.Value.Objects, t.Value.Bytes)).ToList();
    }

    /// <summary>WAL files removed per batch (S3: one DeleteObjects request for the claims, one for the segments).</summary>
    private const int WalBatch = 500;

    /// <summary>Removes backups already marked as expiring; returns objects and bytes freed.</summary>
    public async Task<(int Objects, long Bytes)> RemoveBackupsAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        int objects = 0;
        long bytes = 0;
        foreach (var id in ids)
        {
            var (o, b) = await catalog.RemoveExpiringAsync(id, ct).ConfigureAwait(false);
            objects += o;
            bytes += b;
        }
        return (objects, bytes);
    }

    /// <summary>
    /// Gaps in the archive from <paramref name="from"/> to the newest segment, across timelines
    /// (a timeline switch continues the positions). Within a log file segments must follow one
    /// another; a step to the next log file must leave the last segment of a log (segments per
    /// log inferred from the listing: the highest segment seen in a log that is followed by
    /// another, 256 otherwise) for segment 0. Whatever the segment size, a log file never reads
    /// as full before the listing shows it is.
    /// </summary>
    public static List<string> Gaps(IEnumerable<WalObject> remaining, string from)
    {
        var positions = remaining.Where(o => o.Position.Length == 16 && string.CompareOrdinal(o.Position, from) >= 0)
            .Select(o => (Log: Convert.ToUInt32(o.Position[..8], 16), Seg: Convert.ToUInt32(o.Position[8..], 16))).Distinct().OrderBy(p => p.Log).ThenBy(p => p.Seg).ToList();
        if (positions.Count == 0) return [];
        var logs = positions.Select(p => p.Log).Distinct().ToList();
        uint maxSeen = logs.Count > 1 ? positions.Where(p => p.Log != logs[^1]).Max(p => p.Seg) : 255;
        uint perLog = 1;
        while (perLog <= maxSeen) perLog <<= 1;
        var gaps = new List<string>();
        for (int i = 1; i < positions.Count; i++)
        {
            var (log, seg) = positions[i - 1];
            var (nextLog, nextSeg) = positions[i];
            if (nextLog == log)
            {
                if (nextSeg != seg + 1) gaps.Add($"{log:X8}{seg + 1:X8}..{log:X8}{nextSeg - 1:X8}");
            }
            else if (nextLog != log + 1 || seg != perLog - 1 || nextSeg != 0)
            {
                var expected = seg + 1 >= perLog ? (log + 1, 0u) : (log, seg + 1);
                gaps.Add($"{expected.Item1:X8}{expected.Item2:X8}..{(nextSeg == 0 ? $"{nextLog - 1:X8}{perLog - 1:X8}" : $"{nextLog:X8}{nextSeg - 1:X8}")}");
            }
        }
        return gaps;
    }

    /// <summary>The policy of this repository (its own, else the cluster's), or null.</summary>
    public static RetentionPolicy? PolicyFor(Vault.Vault vault, Catalog catalog) =>
        vault.Cluster.RetentionFor(vault.Repositories.FirstOrDefault(r => r.Name == catalog.Repository.Name));
}
