using Npgsql;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;
using PgVault.Core.Wal;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalBackup
{
    /// <summary>Above this share of the bytes a page-hash scan would read, reading the WAL costs more than the scan saves.</summary>
    internal const double MaxWalShareOfScan = 0.25;

    // The WAL block map of this run (null: every changed large file is scanned page by page).
    private WalBlockMap? blockMap;
    private bool verifyBlockMap;
    private string? blockMapFallback;
    private string blockMapReference = "";
    private string blockMapRange = "";
    private int blockMapFiles, blockMapScanned;
    private long blockMapPagesRead;
    private int blockMapFromArchive, blockMapFetchedAhead;
    // Scratch copies of archived WAL requested before pg_backup_start (null: none).
    private WalFetchAhead? walAhead;

    /// <summary>
    /// Builds the WAL block map for an incremental or differential from the WAL between the
    /// reference's start LSN and this backup's: local pg_wal first (its segments are checked page
    /// by page, so a recycled one reads as absent), the WAL archive for what pg_wal no longer has.
    /// Any reason not to use it is one info line and the page-hash scan for every file.
    /// </summary>
    private async Task PlanBlockMapAsync(NpgsqlConnection conn, BackupManifest reference, List<ScannedFile> scanned, int timeline, ulong startLsn,
        string pgdata, long segmentSize, PhysicalBackupOptions options, CancellationToken ct)
    {
        verifyBlockMap = options.VerifyBlockMap;
        blockMapReference = reference.Id;
        var info = reference.Physical!;
        ulong from = Lsn.ParseLsn(info.StartLsn);
        blockMapRange = $"{info.StartLsn} to {Lsn.FormatLsn(startLsn)}";
        string? why = null;
        if (info.Timeline != timeline) why = $"the timeline changed since backup {reference.Id} ({info.Timeline} -> {timeline})";
        else if (from >= startLsn) why = $"backup {reference.Id} starts at {info.StartLsn}, not before this one";
        else if (await SettingAsync(conn, "full_page_writes", ct).ConfigureAwait(false) != "on") why = "full_page_writes is off";
        long walBytes = (long)(startLsn - from);
        if (why == null)
        {
            var previous = info.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            long scanBytes = scanned.Where(f => f.Size >= PageHashes.MinFileSize && WalBlockMap.Parse(f.Path) != null
                && previous.TryGetValue(f.Path, out var b) && (b.Size != f.Size || b.Mtime != f.Mtime)).Sum(f => f.Size);
            if (scanBytes == 0) why = "no changed relation file is large enough to be stored as page deltas";
            else if (!verifyBlockMap && walBytes > scanBytes * MaxWalShareOfScan) // a check of the map uses it whatever it costs
                why = $"the WAL to read ({Units.Bytes(walBytes)}) is more than a quarter of what a page-hash scan reads ({Units.Bytes(scanBytes)})";
        }
        if (why == null)
        {
            using var task = progress.Start($"read WAL {blockMapRange} for changed blocks");
            var (map, problem) = await BuildBlockMapAsync(from, startLsn, (uint)timeline, pgdata, segmentSize, ct).ConfigureAwait(false);
            why = problem ?? (map!.Unusable is { } unusable ? $"the WAL holds {unusable}" : null);
            if (why == null)
            {
                blockMap = map;
                progress.Info($"WAL {blockMapRange} ({Units.Bytes(walBytes)}, {map!.Records} records) lists {map.Blocks} changed blocks: changed relation files are read at those blocks only{(verifyBlockMap ? " (and scanned whole to verify)" : "")}");
                return;
            }
        }
        blockMapFallback = why;
        progress.Info($"changed pages are found by a page-hash scan: {why}");
    }

    /// <summary>
    /// Before pg_backup_start: requests the archived segments the block map will read (from the
    /// reference's start to the one before the segment being written now) that pg_wal no longer
    /// holds, so that they are fetched while the server runs its start checkpoint. Only when the
    /// map is likely to be used: the same timeline, and no more WAL than the share of the
    /// reference's large relation files that <see cref="PlanBlockMapAsync"/> accepts (a bound on
    /// what is fetched in vain).
    /// </summary>
    private async Task<WalFetchAhead?> StartWalFetchAheadAsync(NpgsqlConnection conn, BackupManifest reference, string pgdata, long segmentSize,
        PhysicalBackupOptions options, CancellationToken ct)
    {
        if (reference.Physical is not { } info) return null;
        ulong from = Lsn.ParseLsn(info.StartLsn), now;
        int timeline;
        bool fullPageWrites;
        try
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_current_wal_insert_lsn()::text, (SELECT timeline_id FROM pg_control_checkpoint()), current_setting('full_page_writes') = 'on'", conn);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            now = Lsn.ParseLsn(reader.GetString(0));
            timeline = reader.GetInt32(1);
            fullPageWrites = reader.GetBoolean(2);
        }
        catch (PostgresException)
        {
            return null; // a role without the right to ask: the map fetches what it needs itself
        }
        if (timeline != info.Timeline || now <= from || !fullPageWrites) return null; // the map would not be used
        long largeFiles = info.Files.Where(f => f.Size >= PageHashes.MinFileSize && WalBlockMap.Parse(f.Path) != null).Sum(f => f.Size);
        if (!options.VerifyBlockMap && (long)(now - from) > largeFiles * MaxWalShareOfScan) return null;
        var ahead = new WalFetchAhead(TargetArchive(), (uint)timeline, segmentSize, ct);
        try
        {
            ulong current = WalSegments.SegmentOf(now, segmentSize);
            for (ulong segment = WalSegments.SegmentOf(from, segmentSize); segment <= current; segment++)
            {
                ct.ThrowIfCancellationRequested();
                var local = OpenWalSegmentAt(Path.Combine(pgdata, "pg_wal", WalSegments.Name((uint)timeline, segment, segmentSize)), segment * (ulong)segmentSize);
                if (local == null)
                {
                    if (segment < current) ahead.Request(segment); // the current one is not archived yet
                }
                else if (segment + WalFetchAhead.HeldSegments > current) ahead.Hold(segment, local);
                else local.Dispose();
            }
            return ahead;
        }
        catch
        {
            await ahead.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The map's blocks for one file; null (and counted) when the WAL cannot vouch for it.</summary>
    private uint[]? WalBlocksFor(string path)
    {
        if (blockMap == null) return null;
        var blocks = blockMap.For(path);
        if (blocks == null) Interlocked.Increment(ref blockMapScanned);
        return blocks;
    }

    /// <summary>What goes into the manifest about the block map (null for a full backup).</summary>
    private WalBlockMapInfo? BlockMapInfo(BackupManifest? reference) => reference == null ? null : new WalBlockMapInfo
    {
        Used = blockMap != null,
        Files = blockMapFiles,
        FilesScanned = blockMapScanned,
        Blocks = blockMap?.Blocks ?? 0,
        PagesRead = blockMapPagesRead,
        Verified = blockMap != null && verifyBlockMap,
        FallbackReason = blockMapFallback,
        SegmentsFromArchive = blockMapFromArchive,
        SegmentsFetchedAhead = blockMapFetchedAhead,
    };

    private static async Task<string?> SettingAsync(NpgsqlConnection conn, string name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT setting FROM pg_settings WHERE name = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = name });
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    /// <summary>Reads the WAL from <paramref name="from"/> to <paramref name="to"/> into a map, or says why it cannot.</summary>
    private async Task<(WalBlockMap? Map, string? Problem)> BuildBlockMapAsync(ulong from, ulong to, uint timeline, string pgdata, long segmentSize, CancellationToken ct)
    {
        ulong first = WalSegments.SegmentOf(from, segmentSize), last = WalSegments.PreviousSegmentOf(to, segmentSize);
        var sources = new Dictionary<ulong, string>();
        var heldOpen = new Dictionary<ulong, Microsoft.Win32.SafeHandles.SafeFileHandle>(); // owned by the fetch-ahead
        var fetchedAhead = new HashSet<ulong>();
        // Fetched ahead (while the server ran its start checkpoint) or fetched now, two at a time.
        await using var own = walAhead == null ? new WalFetchAhead(TargetArchive(), timeline, segmentSize, ct) : null;
        var fetches = walAhead ?? own!;
        for (ulong segment = first; segment <= last; segment++)
        {
            if (fetches.Has(segment))
            {
                fetchedAhead.Add(segment);
                continue;
            }
            if (fetches.Held(segment) is { } open && WalSegmentIsAt(open, segment * (ulong)segmentSize))
            {
                heldOpen[segment] = open;
                continue;
            }
            string local = Path.Combine(pgdata, "pg_wal", WalSegments.Name(timeline, segment, segmentSize));
            if (WalSegmentIsAt(local, segment * (ulong)segmentSize)) sources[segment] = local;
            else fetches.Request(segment);
        }
        for (ulong segment = first; segment <= last; segment++)
        {
            if (sources.ContainsKey(segment) || heldOpen.ContainsKey(segment)) continue;
            var (copy, problem) = await fetches.GetAsync(segment).ConfigureAwait(false);
            if (copy == null) return (null, problem);
            sources[segment] = copy;
            blockMapFromArchive++;
            if (fetchedAhead.Contains(segment)) blockMapFetchedAhead++;
        }
        return await Task.Run(() =>
        {
            // One segment open at a time, read a window at a time: memory does not grow with the segment size.
            ulong open = ulong.MaxValue;
            Microsoft.Win32.SafeHandles.SafeFileHandle? handle = null;
            string? Window(ulong segment, long offset, Span<byte> into)
            {
                if (segment != open)
                {
                    if (handle != null && !heldOpen.ContainsValue(handle)) handle.Dispose();
                    handle = null;
                    open = segment;
                    if (heldOpen.TryGetValue(segment, out var kept)) handle = kept;
                    else if (!sources.TryGetValue(segment, out var path)) return "is not available";
                    else handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    if (RandomAccess.GetLength(handle) is var length && length != segmentSize) return $"is {length} bytes, not {segmentSize}";
                }
                if (handle == null) return "is not available";
                return FillSpan(handle, into, offset) == into.Length ? null : "ended early";
            }
            var map = new WalBlockMap();
            var reader = new WalRecordReader(Window, segmentSize, timeline);
            try
            {
                foreach (var record in reader.Read(from, to))
                {
                    ct.ThrowIfCancellationRequested();
                    map.Add(record);
                    if (map.Unusable != null) break;
                }
            }
            catch (Exception e) when (e is WalUnreadableException or IOException or UnauthorizedAccessException)
            {
                return (null, $"the WAL {blockMapRange} cannot be read ({e.Message})");
            }
            finally
            {
                if (handle != null && !heldOpen.ContainsValue(handle)) handle.Dispose();
            }
            return ((WalBlockMap?)map, (string?)null);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>True when <paramref name="path"/> exists and its first page says it holds the WAL at <paramref name="address"/> (pg_wal recycles files under new names).</summary>
    private static bool WalSegmentIsAt(string path, ulong address)
    {
        using var handle = OpenWalSegmentAt(path, address);
        return handle != null;
    }

    /// <summary><paramref name="path"/> opened for reading when its first page says it holds the WAL at <paramref name="address"/>; null otherwise.</summary>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle? OpenWalSegmentAt(string path, ulong address)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle? handle = null;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (WalSegmentIsAt(handle, address)) return handle;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // absent or unreadable: not there
        }
        handle?.Dispose();
        return null;
    }

    /// <summary>True when the file's first page says it holds the WAL at <paramref name="address"/>.</summary>
    private static bool WalSegmentIsAt(Microsoft.Win32.SafeHandles.SafeFileHandle handle, ulong address)
    {
        try
        {
            Span<byte> head = stackalloc byte[16];
            return RandomAccess.Read(handle, head, 0) == head.Length
                && System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(head) == WalRecordReader.PageMagic
                && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(head[8..]) == address;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
