using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Repository;
using PgVault.Core.Storage;

namespace PgVault.Core.Physical;

/// <summary>
/// Restore safety: a manifest (read from untrusted storage) names only paths inside the targets;
/// --delta and --force only touch a PostgreSQL data directory; under root, the directories being
/// restored belong to root (mode 0700) until their contents are written, so no other local user
/// can plant links in them, and are handed to the backup's owner at the end, deepest first.
/// </summary>
public sealed partial class PhysicalRestore
{
    /// <summary>Refuses a manifest whose paths could lead outside --pgdata or a tablespace target, before anything is written.</summary>
    internal static void CheckManifestPaths(string manifestKey, PhysicalBackupInfo p, string pgdata, List<TablespacePlan> tablespaces)
    {
        PgVaultException Unsafe(string what) =>
            PgVaultException.Corrupt(manifestKey, $"unsafe {what}: a restore writes only inside its targets");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in p.Directories)
        {
            if (!IsSafeRelative(d.Path)) throw Unsafe($"directory path '{Printable(d.Path)}'");
            if (!seen.Add(d.Path)) throw Unsafe($"duplicate path '{Printable(d.Path)}'");
        }
        foreach (var f in p.Files)
        {
            if (!IsSafeRelative(f.Path)) throw Unsafe($"file path '{Printable(f.Path)}'");
            if (!seen.Add(f.Path)) throw Unsafe($"duplicate path '{Printable(f.Path)}'");
            if (f.Length > 0 && (!IsSafeRelative(f.Pack) || !p.Chain.Contains(f.Backup)))
                throw Unsafe($"pack reference '{Printable(f.Backup)}/{Printable(f.Pack)}' of {f.Path}");
            foreach (var delta in f.Deltas ?? [])
            {
                if (!IsSafeRelative(delta.Pack) || !p.Chain.Contains(delta.Backup))
                    throw Unsafe($"pack reference '{Printable(delta.Backup)}/{Printable(delta.Pack)}' of {f.Path}");
            }
        }
        if (p.Tablespaces.Select(t => t.Oid).Distinct().Count() != p.Tablespaces.Count) throw Unsafe("tablespace list (an OID twice)");
        foreach (var t in tablespaces)
        {
            string link = "pg_tblspc/" + t.Oid.ToString(CultureInfo.InvariantCulture);
            if (t.Oid == 0 || p.Files.Any(f => f.Path == link)) throw Unsafe($"tablespace {t.Oid}");
            string location = t.Location;
            if (location.Contains('\0', StringComparison.Ordinal) || !Path.IsPathRooted(location) || location == "/"
                || !string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(location)), Path.TrimEndingDirectorySeparator(location), StringComparison.Ordinal))
                throw Unsafe($"tablespace location '{Printable(location)}' ({t.Name})");
            string a = location.TrimEnd('/') + "/", b = pgdata.TrimEnd('/') + "/";
            if (a.StartsWith(b, StringComparison.Ordinal) || b.StartsWith(a, StringComparison.Ordinal))
                throw Unsafe($"tablespace location '{location}' ({t.Name}) overlapping the data directory");
        }
        var locations = tablespaces.Select(t => t.Location.TrimEnd('/') + "/").ToList();
        for (int i = 0; i < locations.Count; i++)
        {
            for (int j = i + 1; j < locations.Count; j++)
            {
                if (locations[i].StartsWith(locations[j], StringComparison.Ordinal) || locations[j].StartsWith(locations[i], StringComparison.Ordinal))
                    throw new PgVaultException(ErrorCode.RestoreTargetInvalid, $"tablespaces {tablespaces[i].Name} and {tablespaces[j].Name} would be restored into overlapping directories",
                        "give each its own directory with --tablespace-map");
            }
        }
    }

    /// <summary>A relative '/'-separated path of plain names: not empty, no '.', '..' or empty component, no NUL or backslash.</summary>
    internal static bool IsSafeRelative(string path) =>
        path.Length > 0 && path[0] != '/' && !path.Contains('\0', StringComparison.Ordinal) && !path.Contains('\\', StringComparison.Ordinal)
        && path.Split('/').All(c => c.Length > 0 && c != "." && c != "..");

    private static string Printable(string s) => s.Replace("\0", "\\0", StringComparison.Ordinal);

    /// <summary>
    /// --delta and --force rewrite a PostgreSQL data directory and nothing else: a non-empty target
    /// needs PG_VERSION, and for --delta (which keeps files) a global/pg_control of the backup's
    /// own database system; a non-empty tablespace target needs the backup's version directory.
    /// </summary>
    private static void CheckDataDirectory(string pgdata, BackupManifest manifest, List<TablespacePlan> tablespaces, PhysicalRestoreOptions options)
    {
        const string Hint = "restore into an empty or new directory; --delta and --force only rewrite a PostgreSQL data directory";
        if (!options.Delta && !options.Force) return;
        if (Directory.Exists(pgdata) && Directory.EnumerateFileSystemEntries(pgdata).Any())
        {
            var version = new FileInfo(Path.Combine(pgdata, "PG_VERSION"));
            if (!version.Exists || version.LinkTarget != null)
                throw new PgVaultException(ErrorCode.RestoreTargetInvalid, $"'{pgdata}' is not a PostgreSQL data directory (no PG_VERSION): {(options.Delta ? "--delta" : "--force")} refused", Hint);
            if (options.Delta)
            {
                string control = Path.Combine(pgdata, "global", "pg_control");
                string? system = null;
                try
                {
                    byte[] head = SafeFiles.ReadAllBytes(control);
                    if (head.Length >= 8) system = BinaryPrimitives.ReadUInt64LittleEndian(head).ToString(CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // reported below
                }
                if (system == null)
                    throw new PgVaultException(ErrorCode.RestoreTargetInvalid, $"'{pgdata}' has no readable global/pg_control: --delta refused", "pass --force to replace everything in it");
                if (system != manifest.Server.SystemIdentifier)
                    throw new PgVaultException(ErrorCode.RestoreTargetInvalid, $"'{pgdata}' belongs to database system {system}, not to system {manifest.Server.SystemIdentifier} of backup {manifest.Id}: --delta refused",
                        "pass --force to replace it, or restore into another directory");
            }
        }
        var p = manifest.Physical!;
        foreach (var t in tablespaces)
        {
            if (!Directory.Exists(t.Location) || !Directory.EnumerateFileSystemEntries(t.Location).Any()) continue;
            string prefix = $"pg_tblspc/{t.Oid.ToString(CultureInfo.InvariantCulture)}/";
            var versionDirs = p.Directories.Select(d => d.Path).Where(d => d.StartsWith(prefix, StringComparison.Ordinal) && d.IndexOf('/', prefix.Length) < 0)
                .Select(d => d[prefix.Length..]).ToList();
            if (!versionDirs.Any(v => Directory.Exists(Path.Combine(t.Location, v))))
                throw new PgVaultException(ErrorCode.RestoreTargetInvalid, $"tablespace directory '{t.Location}' ({t.Name}) is not a PostgreSQL tablespace directory (no {string.Join(", ", versionDirs.DefaultIfEmpty("PG_*"))}): {(options.Delta ? "--delta" : "--force")} refused", Hint);
        }
    }

    /// <summary>
    /// The data directory, opened once (O_DIRECTORY|O_NOFOLLOW) and reached from then on as
    /// /proc/self/fd/N/. : if another user renames it or puts a link in its place (its parent may
    /// be theirs, as /var/lib/postgresql/15 is postgres's), the restore still writes into the
    /// directory it checked, never through the link.
    /// </summary>
    private sealed class TargetAnchor(SafeFileHandle handle, string path) : IDisposable
    {
        public string Path => path;

        public void Dispose() => handle.Dispose();
    }

    private static TargetAnchor AnchorTarget(string pgdata)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(pgdata)!);
        SafeFiles.MakeDirectory(pgdata);
        var handle = SafeFiles.OpenDirectory(pgdata);
        string path = Directory.Exists("/proc/self/fd") ? $"/proc/self/fd/{handle.DangerousGetHandle()}/." : pgdata;
        return new TargetAnchor(handle, path);
    }

    /// <summary>
    /// Under root: the existing target directories (and, for --delta/--force, every directory in
    /// them, top down, links never followed) become root's with mode 0700 before anything is
    /// written, so no other local user can add, swap or link entries while the restore runs.
    /// </summary>
    private static void LockTargets(string pgdata, List<TablespacePlan> tablespaces)
    {
        if (!Posix.IsRoot) return;
        foreach (var root in tablespaces.Select(t => t.Location).Prepend(pgdata))
        {
            if (Directory.Exists(root)) LockTree(root);
        }
    }

    private static void LockTree(string dir)
    {
        SafeFiles.SetDirectory(dir, 0b111_000_000, 0, 0);
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget != null || (int)entry.Attributes == -1 || (entry.Attributes & FileAttributes.Directory) == 0) continue;
            LockTree(entry.FullName);
        }
    }

    /// <summary>Gives every restored directory its mode, and under root its owner, deepest first, the targets last.</summary>
    private static void HandOverDirectories(string pgdata, PhysicalBackupInfo p, List<TablespacePlan> tablespaces)
    {
        bool root = Posix.IsRoot;
        int? uid = root ? p.OwnerUid : null, gid = root ? p.OwnerGid : null;
        var links = tablespaces.Select(t => "pg_tblspc/" + t.Oid.ToString(CultureInfo.InvariantCulture)).ToHashSet(StringComparer.Ordinal);
        foreach (var d in p.Directories.Where(d => !links.Contains(d.Path)).OrderByDescending(d => d.Path.Count(c => c == '/')).ThenBy(d => d.Path, StringComparer.Ordinal))
            SafeFiles.SetDirectory(Path.Combine(pgdata, d.Path), d.Mode, uid, gid);
        foreach (var t in tablespaces) SafeFiles.SetDirectory(t.Location, 0b111_000_000, uid, gid);
        SafeFiles.SetDirectory(pgdata, 0b111_000_000, uid, gid);
    }
}
