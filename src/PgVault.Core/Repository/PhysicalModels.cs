namespace PgVault.Core.Repository;

/// <summary>
/// What a physical backup (full, diff, incr) holds beyond the common manifest fields: where WAL
/// replay starts and ends, the label PostgreSQL returned, the tablespaces, and every file of the
/// data directory with the backup and pack that hold its bytes. See docs/physical-backups.md.
/// </summary>
public sealed record PhysicalBackupInfo
{
    /// <summary>The backup this one was compared against (diff: the last full; incr: the last backup); null for a full.</summary>
    public string? Reference { get; init; }

    /// <summary>Every backup whose packs a restore of this one reads, oldest first, this one last.</summary>
    public List<string> Chain { get; init; } = [];

    public string StartLsn { get; init; } = "";
    public string StopLsn { get; init; } = "";
    public int Timeline { get; init; }
    public string StartWal { get; init; } = "";
    public string StopWal { get; init; } = "";
    /// <summary>When pg_backup_start returned (server clock).</summary>
    public DateTimeOffset StartTime { get; init; }
    /// <summary>When pg_backup_stop returned: recovery targets must lie after this.</summary>
    public DateTimeOffset StopTime { get; init; }
    public long WalSegmentSize { get; init; }
    public bool DataChecksums { get; init; }
    /// <summary>Owner of the data directory (numeric), restored when PgVault runs as root.</summary>
    public int OwnerUid { get; init; }
    public int OwnerGid { get; init; }
    /// <summary>The backup_label pg_backup_stop returned, written into the restored directory.</summary>
    public string BackupLabel { get; init; } = "";
    public string? TablespaceMap { get; init; }
    public List<TablespaceRecord> Tablespaces { get; init; } = [];
    public List<PhysicalDirectory> Directories { get; init; } = [];
    public List<PhysicalFile> Files { get; init; } = [];
    /// <summary>The packs this backup stored (its own objects only).</summary>
    public List<StoredFile> Packs { get; init; } = [];
    /// <summary>Files stored by this backup / taken over from the reference unchanged.</summary>
    public int FilesStored { get; init; }
    public int FilesReferenced { get; init; }
    public long BytesReferenced { get; init; }
    /// <summary>Pages whose checksum failed twice (see <see cref="PhysicalFile.BadPages"/>).</summary>
    public int BadPages { get; init; }
    /// <summary>Object (relative to this backup) holding the PostgreSQL-format backup_manifest.</summary>
    public string PgManifestObject { get; init; } = "";
    /// <summary>Object with the XXH64 of every 8 KiB page of each file of 1 MiB or more: what the next incremental compares.</summary>
    public string? PageHashesObject { get; init; }
    public string? PageHashesSha256 { get; init; }
    public long PageHashesBytes { get; init; }
    /// <summary>Files stored as page deltas by this backup.</summary>
    public int FilesAsDeltas { get; init; }
    public string PgManifestSha256 { get; init; } = "";
    public long PgManifestBytes { get; init; }
    /// <summary>How an incremental or differential found the changed pages of changed files (null for a full).</summary>
    public WalBlockMapInfo? WalBlockMap { get; init; }
}

/// <summary>
/// The WAL block map of an incremental (docs/physical-backups.md, "Incrementals from WAL"):
/// whether it was used, how many changed files it served (the rest were scanned page by page),
/// how many pages those reads took, and why it was not used.
/// </summary>
public sealed record WalBlockMapInfo
{
    public bool Used { get; init; }
    /// <summary>Changed files stored as page deltas read through the map / by a page-hash scan.</summary>
    public int Files { get; init; }
    public int FilesScanned { get; init; }
    /// <summary>Main-fork blocks the WAL listed, and pages the files served by the map were read for.</summary>
    public long Blocks { get; init; }
    public long PagesRead { get; init; }
    public bool Verified { get; init; }
    public string? FallbackReason { get; init; }
    /// <summary>WAL segments the map read from the archive (pg_wal no longer held them), and how many of those were fetched while pg_backup_start ran.</summary>
    public int SegmentsFromArchive { get; init; }
    public int SegmentsFetchedAhead { get; init; }
}

public sealed record TablespaceRecord
{
    public uint Oid { get; init; }
    public string Name { get; init; } = "";
    public string Location { get; init; } = "";
}

public sealed record PhysicalDirectory
{
    /// <summary>Relative to the data directory, '/' separated ("base/5", "pg_tblspc/16385/PG_15_202209061").</summary>
    public string Path { get; init; } = "";
    public int Mode { get; init; }
}

/// <summary>One file of the data directory and where its bytes are stored.</summary>
public sealed record PhysicalFile
{
    public string Path { get; init; } = "";
    public long Size { get; init; }
    public DateTimeOffset Mtime { get; init; }
    public int Mode { get; init; }
    /// <summary>SHA-256 of the file's content as copied.</summary>
    public string Sha256 { get; init; } = "";
    /// <summary>XXH128 of the content: what a delta restore compares (it is read at memory speed).</summary>
    public string? Xxh128 { get; init; }
    /// <summary>Id of the backup whose pack holds the content (this backup, or one it references); empty for an empty file.</summary>
    public string Backup { get; init; } = "";
    /// <summary>The pack (relative to <see cref="Backup"/>'s prefix), and the compressed member's offset and length inside it.</summary>
    public string Pack { get; init; } = "";
    public long Offset { get; init; }
    public long Length { get; init; }
    public string Compression { get; init; } = "none";
    /// <summary>Block numbers whose page checksum failed (re-read once before counting); null when none.</summary>
    public List<long>? BadPages { get; init; }

    /// <summary>CRC-32C of the content, for backup_manifest when <see cref="Sha256"/> is empty (a file stored as deltas).</summary>
    public string? Crc32c { get; init; }

    /// <summary>
    /// Pages changed since the base member, oldest first: the file is the base member (size
    /// <see cref="BaseSize"/>, XXH128 <see cref="BaseXxh128"/>) with each delta applied in turn.
    /// Null for a file stored whole.
    /// </summary>
    public List<DeltaRef>? Deltas { get; init; }
    public long? BaseSize { get; init; }
    public string? BaseXxh128 { get; init; }

    /// <summary>
    /// For a file stored as deltas: the XXH128 of its page XXH64s (<c>Physical/PageDigest</c>). When
    /// its last delta came from the WAL block map (its unchanged pages were not read, so
    /// <see cref="Xxh128"/> and <see cref="Crc32c"/> are null) it is the only content check; a
    /// restore checks it from the page hashes of what it writes, without reading the file back.
    /// Null in backups of earlier releases for deltas from the page-hash scan.
    /// </summary>
    public string? PageDigest { get; init; }
}

/// <summary>
/// A compressed member holding the pages of a file that changed since the reference backup:
/// u64 final size, u32 page count, then per page u32 page number, u32 length and its bytes.
/// </summary>
public sealed record DeltaRef
{
    public string Backup { get; init; } = "";
    public string Pack { get; init; } = "";
    public long Offset { get; init; }
    public long Length { get; init; }
    public string Compression { get; init; } = "none";
    public int Pages { get; init; }
}
