namespace PgVault.Core.Repository;

/// <summary>
/// The only place that knows object keys. Every capability asks here; none builds a key by hand.
/// See docs/repository-format.md.
/// </summary>
internal static class RepositoryLayout
{
    public const string Descriptor = "pgvault.repo.json";

    public static string ClusterPrefix(string cluster) => $"clusters/{cluster}/";

    public static string ClusterInfo(string cluster) => $"clusters/{cluster}/cluster.json";

    /// <summary>The repository lock of a cluster (create-if-absent; see RepositoryLock).</summary>
    public static string Lock(string cluster) => $"clusters/{cluster}/lock.json";

    /// <summary>
    /// The claim of one WAL file name (create-if-absent, written before the object): it holds the
    /// checksum part of the object's name, so concurrent pushes of one name with different content
    /// leave exactly one accepted.
    /// </summary>
    public static string WalClaim(string cluster, string fileName) =>
        fileName.EndsWith(".history", StringComparison.Ordinal)
            ? $"clusters/{cluster}/wal-claims/{fileName}"
            : $"clusters/{cluster}/wal-claims/{fileName[..16]}/{fileName}";

    /// <summary>The catalog index of a cluster: the header of every complete backup (see CatalogIndex).</summary>
    public static string CatalogIndex(string cluster) => $"clusters/{cluster}/catalog.json";

    public static string BackupsPrefix(string cluster) => $"clusters/{cluster}/backups/";

    public static string BackupPrefix(string cluster, string id) => $"clusters/{cluster}/backups/{id}/";

    public static string Manifest(string cluster, string id) => BackupPrefix(cluster, id) + "manifest.json";

    /// <summary>Present while a backup runs; a backup directory with neither lock nor manifest is debris.</summary>
    public static string BackupLock(string cluster, string id) => BackupPrefix(cluster, id) + "backup.lock";

    /// <summary>
    /// Written by expire and delete before any object of the backup is removed: a backup with this
    /// marker is no longer listed nor chosen for a restore or as a reference, and the next expire
    /// finishes its removal. Removed last.
    /// </summary>
    public static string Expiring(string cluster, string id) => BackupPrefix(cluster, id) + "expiring.json";

    /// <summary>The pins of a cluster's backups (pgvault keep), changed under the repository lock.</summary>
    public static string Pins(string cluster) => $"clusters/{cluster}/pins.json";

    /// <summary>A stored file of a backup, relative to the backup's prefix (e.g. "db/001/dump.custom.zst").</summary>
    public static string BackupObject(string cluster, string id, string relative) => BackupPrefix(cluster, id) + relative;

    /// <summary>Pack <paramref name="number"/> of a physical backup, relative to the backup's prefix ("pg/00001.pack").</summary>
    public static string PackObject(int number) => $"pg/{number:D5}.pack";

    public static string WalPrefix(string cluster) => $"clusters/{cluster}/wal/";

    /// <summary>
    /// Where an archived WAL file lives: segments, partial segments and backup history files under
    /// wal/&lt;timeline+log&gt;/ (the first 16 hex digits of the segment), timeline history files in wal/.
    /// </summary>
    public static string WalDirectory(string cluster, string fileName) =>
        fileName.EndsWith(".history", StringComparison.Ordinal) ? WalPrefix(cluster) : $"{WalPrefix(cluster)}{fileName[..16]}/";

    /// <summary>Every stored version of <paramref name="fileName"/> starts with this (name, dash, checksum).</summary>
    public static string WalSearchPrefix(string cluster, string fileName) => WalDirectory(cluster, fileName) + fileName + "-";

    /// <summary>
    /// clusters/C/wal/DIR/NAME-TAG16.EXT: the content tag (<see cref="Repository.WalTag"/>, 16 hex
    /// digits) makes each content its own object.
    /// </summary>
    public static string WalObject(string cluster, string fileName, string tag16, string extension) =>
        $"{WalSearchPrefix(cluster, fileName)}{tag16[..16]}.{extension}";

    /// <summary>The checksum prefix and extension of a WAL object key found under <see cref="WalSearchPrefix"/>.</summary>
    public static (string Sha16, string Extension)? ParseWalObject(string cluster, string fileName, string key)
    {
        string prefix = WalSearchPrefix(cluster, fileName);
        if (!key.StartsWith(prefix, StringComparison.Ordinal)) return null;
        string rest = key[prefix.Length..];
        int dot = rest.IndexOf('.', StringComparison.Ordinal);
        if (dot != 16) return null;
        return (rest[..16], rest[(dot + 1)..]);
    }

    public static string RestorePointsPrefix(string cluster) => $"clusters/{cluster}/restore-points/";

    /// <summary>One restore point: its time stamp and a digest of its name keep keys unique and sortable.</summary>
    public static string RestorePoint(string cluster, string stamp, string nameDigest) => $"{RestorePointsPrefix(cluster)}{stamp}-{nameDigest}.json";

    public static string VerifyPrefix(string cluster) => $"clusters/{cluster}/verify/";

    /// <summary>One stored run of `pgvault verify` (its UTC time stamp sorts the runs).</summary>
    public static string VerifyRecord(string cluster, string stamp) => $"{VerifyPrefix(cluster)}{stamp}.json";
    public static string DrillsPrefix(string cluster) => $"clusters/{cluster}/drills/";

    /// <summary>The record of one restore drill (ids sort by time).</summary>
    public static string Drill(string cluster, string id) => $"{DrillsPrefix(cluster)}{id}.json";

    /// <summary>The id part of a key below <see cref="BackupsPrefix"/>, or null.</summary>
    public static string? BackupIdOf(string cluster, string key)
    {
        string prefix = BackupsPrefix(cluster);
        if (!key.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int slash = key.IndexOf('/', prefix.Length);
        return slash < 0 ? null : key[prefix.Length..slash];
    }
}
