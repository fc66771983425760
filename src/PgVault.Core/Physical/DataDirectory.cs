using System.Text.RegularExpressions;
using PgVault.Core.Errors;
using PgVault.Core.Repository;

namespace PgVault.Core.Physical;

/// <summary>A file found in the data directory (or a tablespace), before it is copied.</summary>
internal sealed record ScannedFile(string Path, string FullPath, long Size, DateTimeOffset Mtime, int Mode);

/// <summary>
/// Walks a data directory and its tablespaces the way PostgreSQL documents for base backups:
/// the contents of pg_wal, pg_replslot, pg_dynshmem, pg_notify, pg_serial, pg_snapshots,
/// pg_stat_tmp and pg_subtrans are left out (the directories themselves are kept), as are
/// postmaster.pid/.opts, backup_label, tablespace_map, pg_internal.init, *.tmp config files,
/// pgsql_tmp*, temporary relations (t&lt;backend&gt;_&lt;relfilenode&gt;) and the forks of unlogged
/// relations except their init fork.
/// </summary>
internal static partial class DataDirectory
{
    private static readonly HashSet<string> ContentsExcluded = new(StringComparer.Ordinal)
    {
        "pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans",
    };

    private static readonly HashSet<string> FilesExcluded = new(StringComparer.Ordinal)
    {
        "postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map", "backup_manifest",
        "postgresql.auto.conf.tmp", "current_logfiles.tmp", "recovery.signal", "standby.signal",
    };

    [GeneratedRegex(@"^t\d+_\d+(_(fsm|vm|init))?(\.\d+)?$")]
    private static partial Regex TempRelation();

    [GeneratedRegex(@"^(\d+)(_(fsm|vm|init))?(\.(\d+))?$")]
    private static partial Regex Relation();

    /// <summary>
    /// Directories and files of <paramref name="pgdata"/>; tablespaces under pg_tblspc/OID/. A
    /// running cluster unlinks files and directories at any moment (temporary relations, dropped
    /// tables and databases): whatever vanishes between the listing and its stat is left out
    /// (WAL replay removes it anyway), and no mode or size of -1 is ever recorded.
    /// </summary>
    public static (List<PhysicalDirectory> Directories, List<ScannedFile> Files) Scan(string pgdata, IReadOnlyCollection<TablespaceRecord> tablespaces,
        Action<string>? vanished = null)
    {
        var directories = new List<PhysicalDirectory>();
        var files = new List<ScannedFile>();
        var root = new DirectoryInfo(pgdata);
        if (!root.Exists) throw new PgVaultException(ErrorCode.SourceUnreadable, $"data directory '{pgdata}' does not exist", "set pgdata of the cluster in the configuration");
        Walk(root, "", top: true, new Found(directories, files, vanished ?? (_ => { })));
        return (directories, files);
    }

    /// <summary>What the walk collects, and whom it tells about entries that vanished under it.</summary>
    private sealed record Found(List<PhysicalDirectory> Directories, List<ScannedFile> Files, Action<string> Vanished);

    /// <summary>-1 (all bits set, the Directory bit included) is what .NET reports for an entry that vanished after its listing.</summary>
    private static bool Vanished(FileAttributes attributes) => (int)attributes == -1;

    /// <summary>The entry's permission bits, or null when it vanished (.NET reads them as -1).</summary>
    private static int? ModeOf(FileSystemInfo entry)
    {
        try
        {
            int mode = (int)entry.UnixFileMode;
            return mode < 0 ? null : mode;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Lists <paramref name="dir"/>; null when it vanished (a dropped database or relation directory).</summary>
    private static FileSystemInfo[]? List(DirectoryInfo dir, Found found)
    {
        try
        {
            return dir.GetFileSystemInfos();
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            found.Vanished(dir.FullName);
            return null; // dropped while we walked: normal
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PgVaultException(ErrorCode.SourceUnreadable, $"unable to read '{dir.FullName}': {e.Message}", "run the backup as the cluster's OS user (postgres) or root");
        }
    }

    /// <summary>Records <paramref name="dir"/> at <paramref name="path"/> and walks it, unless it vanished first.</summary>
    private static void WalkDirectory(DirectoryInfo dir, string path, Found found)
    {
        if (ModeOf(dir) is not { } mode)
        {
            found.Vanished(path);
            return;
        }
        found.Directories.Add(new PhysicalDirectory { Path = path, Mode = mode });
        Walk(dir, path, top: false, found);
    }

    private static void Walk(DirectoryInfo dir, string relative, bool top, Found found)
    {
        if (List(dir, found) is not { } entries) return;
        var names = entries.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var unlogged = names.Select(n => Relation().Match(n)).Where(m => m.Success && m.Groups[3].Value == "init").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            string name = entry.Name;
            string path = relative.Length == 0 ? name : relative + "/" + name;
            // One lstat per entry, read once: a vanished entry reads as -1, never as a directory.
            var attributes = entry.Attributes;
            if (Vanished(attributes))
            {
                found.Vanished(path);
                continue;
            }
            if ((attributes & FileAttributes.ReparsePoint) != 0)
            {
                string? link;
                try
                {
                    link = entry.LinkTarget;
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                {
                    found.Vanished(path);
                    continue;
                }
                if (link != null)
                {
                    // pg_tblspc/OID links are followed (the tablespace's files are stored below them);
                    // another link to a directory (pg_wal on its own disk) is kept as a plain directory.
                    if (relative == "pg_tblspc" && uint.TryParse(name, out _))
                    {
                        WalkDirectory(new DirectoryInfo(Path.GetFullPath(link, dir.FullName)), path, found);
                        continue;
                    }
                    if (Directory.Exists(entry.FullName))
                    {
                        var target = new DirectoryInfo(entry.FullName);
                        if (top && ContentsExcluded.Contains(name))
                        {
                            if (ModeOf(target) is { } linkedMode) found.Directories.Add(new PhysicalDirectory { Path = path, Mode = linkedMode });
                        }
                        else
                        {
                            WalkDirectory(target, path, found);
                        }
                        continue;
                    }
                }
            }
            if (name.StartsWith("pgsql_tmp", StringComparison.Ordinal)) continue;
            if ((attributes & FileAttributes.Directory) != 0 && entry is DirectoryInfo directory)
            {
                if (top && ContentsExcluded.Contains(name))
                {
                    if (ModeOf(directory) is not { } mode) continue;
                    found.Directories.Add(new PhysicalDirectory { Path = path, Mode = mode });
                    if (name == "pg_wal") found.Directories.Add(new PhysicalDirectory { Path = "pg_wal/archive_status", Mode = mode });
                    continue;
                }
                WalkDirectory(directory, path, found);
                continue;
            }
            if (entry is not FileInfo file) continue;
            if (top && FilesExcluded.Contains(name)) continue;
            if (name == "pg_internal.init" || TempRelation().IsMatch(name)) continue;
            var relation = Relation().Match(name);
            if (relation.Success && relation.Groups[3].Value != "init" && unlogged.Contains(relation.Groups[1].Value)) continue;
            try
            {
                // Length, time and mode come from the same cached stat as the attributes above.
                long size = file.Length;
                if (ModeOf(file) is not { } mode || size < 0)
                {
                    found.Vanished(path);
                    continue;
                }
                found.Files.Add(new ScannedFile(path, file.FullName, size, new DateTimeOffset(file.LastWriteTimeUtc), mode));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                found.Vanished(path); // between listing and stat: normal for a running cluster
            }
        }
    }

    /// <summary>
    /// The segment number of a relation file ("16384" is 0, "16384.3" is 3) when page checksums
    /// apply to it (a relation file in a database or tablespace directory), else null.
    /// </summary>
    public static int? RelationSegment(string path)
    {
        bool inRelationDir = path.StartsWith("base/", StringComparison.Ordinal) || path.StartsWith("global/", StringComparison.Ordinal)
            || (path.StartsWith("pg_tblspc/", StringComparison.Ordinal) && path.Contains("/PG_", StringComparison.Ordinal));
        if (!inRelationDir) return null;
        var match = Relation().Match(path[(path.LastIndexOf('/') + 1)..]);
        if (!match.Success) return null;
        return match.Groups[5].Success ? int.Parse(match.Groups[5].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
