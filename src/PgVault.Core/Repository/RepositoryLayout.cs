namespace PgVault.Core.Repository;

/// <summary>
/// The only place that knows object keys. Every capability asks here; none builds a key by hand.
/// See docs/repository-format.md.
/// </summary>
public static class RepositoryLayout
{
    public const string Descriptor = "pgvault.repo.json";

    public static string ClusterPrefix(string cluster) => $"clusters/{cluster}/";

    public static string ClusterInfo(string cluster) => $"clusters/{cluster}/cluster.json";

    public static string BackupsPrefix(string cluster) => $"clusters/{cluster}/backups/";

    public static string BackupPrefix(string cluster, string id) => $"clusters/{cluster}/backups/{id}/";

    public static string Manifest(string cluster, string id) => BackupPrefix(cluster, id) + "manifest.json";

    /// <summary>Present while a backup runs; a backup directory with neither lock nor manifest is debris.</summary>
    public static string BackupLock(string cluster, string id) => BackupPrefix(cluster, id) + "backup.lock";

    /// <summary>A stored file of a backup, relative to the backup's prefix (e.g. "db/001/dump.custom.zst").</summary>
    public static string BackupObject(string cluster, string id, string relative) => BackupPrefix(cluster, id) + relative;

    /// <summary>The id part of a key below <see cref="BackupsPrefix"/>, or null.</summary>
    public static string? BackupIdOf(string cluster, string key)
    {
        string prefix = BackupsPrefix(cluster);
        if (!key.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int slash = key.IndexOf('/', prefix.Length);
        return slash < 0 ? null : key[prefix.Length..slash];
    }
}
