using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalRestore
{
    private const int BufferSize = 1 << 20;

    private sealed record Counts(int Written, int Unchanged, int Removed, long Bytes);

    private async Task<Counts> RestoreFilesAsync(List<Catalog> holders, BackupManifest manifest, string pgdata, List<TablespacePlan> tablespaces,
        PhysicalRestoreOptions options, CancellationToken ct)
    {
        var p = manifest.Physical!;
        bool root = Posix.IsRoot;
        int? uid = root ? p.OwnerUid : null, gid = root ? p.OwnerGid : null;
        var locations = tablespaces.ToDictionary(t => $"pg_tblspc/{t.Oid}", t => t.Location, StringComparer.Ordinal);
        _packs = await PackRecordsAsync(holders, manifest, ct).ConfigureAwait(false);

        // Directories stay root's (0700) until their contents are written: see PhysicalRestore.Safety.cs.
        LockTargets(pgdata, tablespaces);
        if (options.Force)
        {
            EmptyDirectory(pgdata);
            foreach (var t in tablespaces) EmptyDirectory(t.Location);
        }
        foreach (var target in tablespaces.Select(t => t.Location).Prepend(pgdata))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            CreateDirectory(target);
        }

        // Delta: drop what the backup does not have, keep what has the same content.
        var wanted = p.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var wantedDirs = p.Directories.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        var unchanged = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        int removed = 0;
        if (options.Delta)
        {
            var existing = new List<(string Relative, string Full)>();
            removed = Prune(pgdata, "", wanted, wantedDirs, locations, existing);
            // Largest first, so the big relation segments do not end up last on one thread.
            var candidates = existing.Select(e => (e.Relative, e.Full, Length: new FileInfo(e.Full).Length))
                .Where(e => e.Length == wanted[e.Relative].Size).OrderByDescending(e => e.Length).ToList();
            using var check = progress.Start($"compare {candidates.Count} files", candidates.Sum(e => e.Length));
            long compared = 0;
            await Parallel.ForEachAsync(candidates, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = ct }, (e, c) =>
            {
                var f = wanted[e.Relative];
                using var handle = SafeFiles.OpenExisting(e.Full, write: false);
                if (f.Xxh128 is { } expected ? Xxh128Of(handle) == expected
                    : f.PageDigest is { } digest ? PageDigest.Of(handle) == digest : Sha256Of(handle) == f.Sha256)
                {
                    unchanged[e.Relative] = true;
                    if (uid is { } u) SafeFiles.SetOwner(handle, u, gid!.Value, e.Full);
                    SafeFiles.SetMode(handle, f.Mode, e.Full);
                    File.SetLastWriteTimeUtc(handle, f.Mtime.UtcDateTime);
                }
                check.Report(Interlocked.Add(ref compared, e.Length));
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
        }

        TraceTiming.Mark("restore: target prepared (delta: pruned, compared)");
        foreach (var d in p.Directories.OrderBy(d => d.Path, StringComparer.Ordinal))
        {
            string full = Path.Combine(pgdata, d.Path);
            if (locations.TryGetValue(d.Path, out var location))
            {
                var link = new FileInfo(full);
                if (link.LinkTarget == location) continue;
                if (link.LinkTarget != null || link.Exists) link.Delete();
                else if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
                File.CreateSymbolicLink(full, location);
                if (root) Posix.ChangeOwnerOfLink(full, p.OwnerUid, p.OwnerGid);
                continue;
            }
            CreateDirectory(full);
        }

        // Every pack that holds a file to write, largest first; members in stored order.
        var work = p.Files.Where(f => !unchanged.ContainsKey(f.Path))
            .GroupBy(f => (f.Backup, f.Pack))
            .Select(g => g.OrderBy(f => f.Offset).ToList())
            .OrderByDescending(g => g.Sum(f => f.Size))
            .ToList();
        long total = work.Sum(g => g.Sum(f => f.Size));
        // Durability: a few files (a delta restore) are fsynced one by one with their directories;
        // many are made durable at the end with one syncfs() per file system.
        _fsyncEach = work.Sum(g => g.Count) <= FsyncEachLimit;
        long done = 0;
        int written = 0;
        using (var task = progress.Start($"restore {work.Sum(g => g.Count)} files", total))
        {
            await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = ct }, async (members, c) =>
            {
                await RestorePackAsync(holders, members, pgdata, root ? p : null, bytes => task.Report(Interlocked.Add(ref done, bytes)), c).ConfigureAwait(false);
                Interlocked.Add(ref written, members.Count);
            }).ConfigureAwait(false);
        }

        TraceTiming.Mark("restore: files written from their members");
        await ApplyDeltasAsync(holders, p.Files.Where(f => !unchanged.ContainsKey(f.Path) && f.Deltas is { Count: > 0 }).ToList(),
            pgdata, root ? p : null, options.Parallel, ct).ConfigureAwait(false);

        SafeFiles.WriteAllBytes(Path.Combine(pgdata, "backup_label"), System.Text.Encoding.UTF8.GetBytes(p.BackupLabel), 0b110_000_000, uid, gid);
        await WritePgManifestAsync(holders, manifest, Path.Combine(pgdata, "backup_manifest"), uid, gid, ct).ConfigureAwait(false);
        return new Counts(written, unchanged.Count, removed, total);
    }

    /// <summary>Restores the files stored in one pack, reading it once from the first repository that serves it.</summary>
    private Task RestorePackAsync(List<Catalog> holders, List<PhysicalFile> members, string pgdata, PhysicalBackupInfo? owner, Action<long> advanced, CancellationToken ct) =>
        ReadPackAsync(holders, members[0].Backup, members[0].Pack, pack => ExtractMembers(pack, members, pgdata, owner, advanced, ct), ct);

    /// <summary>
    /// Reads one pack front to back on a thread of its own, from the first repository that serves
    /// it, then to its end: the pack is checked whole against its recorded size and SHA-256 (bytes
    /// added after the last member, or a pack swapped for another, fail the restore naming it).
    /// </summary>
    private async Task ReadPackAsync(List<Catalog> holders, string backup, string pack, Action<PackReader> read, CancellationToken ct)
    {
        string key = RepositoryLayout.BackupObject(sources.Cluster, backup, pack);
        _packs.TryGetValue((backup, pack), out var recorded);
        for (int i = 0; ; i++)
        {
            var repository = holders[i].Repository;
            try
            {
                await using var reader = await PackReader.OpenAsync(repository, key, recorded, ct).ConfigureAwait(false);
                await Task.Factory.StartNew(() =>
                {
                    read(reader);
                    reader.Finish();
                }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                return;
            }
            catch (PgVaultException e) when (e.RepositoryFault && i + 1 < holders.Count)
            {
                progress.Warn($"repository '{repository.Name}': {e.Message}; reading {pack} of backup {backup} from '{holders[i + 1].Repository.Name}'");
            }
        }
    }

    private const int FsyncEachLimit = 256;

    private bool _fsyncEach;

    /// <summary>What each backup of the chain recorded about its packs (size, SHA-256), by (backup, pack).</summary>
    private Dictionary<(string Backup, string Pack), StoredFile> _packs = [];

    private async Task<Dictionary<(string, string), StoredFile>> PackRecordsAsync(List<Catalog> holders, BackupManifest manifest, CancellationToken ct)
    {
        var records = new Dictionary<(string, string), StoredFile>();
        foreach (var id in manifest.Physical!.Chain)
        {
            var m = id == manifest.Id ? manifest : await sources.ReadManifestAsync(id, holders, progress, ct).ConfigureAwait(false);
            if (m?.Physical is null)
                throw new PgVaultException(ErrorCode.ObjectMissing, $"the manifest of backup {id} (in the chain of {manifest.Id}) cannot be read from any repository", "restore an older backup");
            foreach (var pack in m.Physical.Packs) records[(id, pack.Object)] = pack;
        }
        return records;
    }

    private async Task WritePgManifestAsync(List<Catalog> holders, BackupManifest manifest, string destination, int? uid, int? gid, CancellationToken ct)
    {
        var p = manifest.Physical!;
        string key = RepositoryLayout.BackupObject(sources.Cluster, manifest.Id, p.PgManifestObject);
        for (int i = 0; ; i++)
        {
            var repository = holders[i].Repository;
            try
            {
                var stored = new StoredFile { Compression = "none", Encrypted = repository.Encrypted, Sha256 = p.PgManifestSha256, SizeBytes = p.PgManifestBytes };
                SafeFiles.WriteAllBytes(destination, await repository.ReadAllBytesAsync(key, stored, ct).ConfigureAwait(false), 0b110_000_000, uid, gid);
                return;
            }
            catch (PgVaultException e) when (e.RepositoryFault && i + 1 < holders.Count)
            {
                progress.Warn($"repository '{repository.Name}': {e.Message}");
            }
        }
    }

    /// <summary>
    /// Removes files and directories the backup does not have (following tablespace links);
    /// collects the files it does have into <paramref name="existing"/>. Returns how many entries went.
    /// </summary>
    private static int Prune(string root, string relative, Dictionary<string, PhysicalFile> wanted, HashSet<string> wantedDirs,
        Dictionary<string, string> locations, List<(string, string)> existing)
    {
        int removed = 0;
        string dir = relative.Length == 0 ? root : Path.Combine(root, relative);
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            string path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            if (entry.LinkTarget != null && locations.ContainsKey(path))
            {
                if (entry.LinkTarget == locations[path]) removed += Prune(root, path, wanted, wantedDirs, locations, existing);
                continue; // a link to elsewhere is replaced later
            }
            if ((entry.Attributes & FileAttributes.Directory) != 0 && entry.LinkTarget == null)
            {
                if (wantedDirs.Contains(path)) removed += Prune(root, path, wanted, wantedDirs, locations, existing);
                else
                {
                    ((DirectoryInfo)entry).Delete(recursive: true);
                    removed++;
                }
                continue;
            }
            if (entry.LinkTarget == null && wanted.ContainsKey(path))
            {
                existing.Add((path, entry.FullName));
                continue;
            }
            entry.Delete();
            removed++;
        }
        return removed;
    }

    private static string Sha256Of(SafeFileHandle handle)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        ReadAll(handle, span => sha.AppendData(span));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static string Xxh128Of(SafeFileHandle handle)
    {
        var xxh = new XxHash128();
        ReadAll(handle, span => xxh.Append(span));
        return Convert.ToHexStringLower(xxh.GetCurrentHash());
    }

    private delegate void SpanAction(ReadOnlySpan<byte> span);

    private static void ReadAll(SafeFileHandle handle, SpanAction consume)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long position = 0;
            int read;
            while ((read = RandomAccess.Read(handle, buffer.AsSpan(0, BufferSize), position)) > 0)
            {
                consume(buffer.AsSpan(0, read));
                position += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Makes a directory (0700, the restoring user's) unless a real one is there; its final mode and owner come at the end.</summary>
    private static void CreateDirectory(string path)
    {
        if (Posix.IsRoot) SafeFiles.MakeDirectory(path);
        else if (!SafeFiles.MakeDirectory(path)) SafeFiles.SetDirectory(path, 0b111_000_000, null, null);
    }

    private static void EmptyDirectory(string path)
    {
        if (!Directory.Exists(path)) return;
        foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo d && d.LinkTarget == null) d.Delete(recursive: true);
            else entry.Delete();
        }
    }
}
