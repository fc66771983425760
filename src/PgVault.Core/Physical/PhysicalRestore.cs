using System.Diagnostics;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Wal;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Physical;

/// <summary>Where a tablespace of the backup goes.</summary>
public sealed record TablespacePlan(uint Oid, string Name, string Location);

/// <summary>What a physical restore does (or, with --plan, would do).</summary>
public sealed record RestorePlan(
    string BackupId,
    string BackupType,
    List<string> Chain,
    string PgData,
    string Mode,
    string? TargetKind,
    string? TargetValue,
    string TargetTimeline,
    string WalFrom,
    string WalTo,
    int WalSegments,
    string WalEndLsn,
    int Files,
    long BytesToRead,
    long DiskNeeded,
    List<TablespacePlan> Tablespaces);

public sealed record RestoreOutcome(RestorePlan Plan, bool Executed, int FilesWritten, int FilesUnchanged, int FilesRemoved, long BytesWritten, double DurationSeconds);

/// <summary>
/// `pgvault restore --pgdata DIR`: chooses the backup, checks the recovery target against it and
/// the WAL archive, and (unless --plan) rebuilds the data directory from the backup chain in
/// parallel and writes the recovery settings. Every check runs before the first write, so a bad
/// target leaves DIR untouched. Phases: this file (choice and checks), PhysicalRestore.Wal.cs
/// (timelines, WAL continuity), PhysicalRestore.Files.cs (the copy), PhysicalRestore.Recovery.cs.
/// </summary>
public sealed partial class PhysicalRestore(Vault.Vault vault, IProgressSink progress)
{
    // Set once per run from the vault.
    private CatalogSet sources = null!;

    /// <summary>
    /// Restores (or with <see cref="PhysicalRestoreOptions.Plan"/> only plans) into the data
    /// directory; the restore_command written defaults to pgvault-wal next to this pgvault (else this pgvault) with the vault's selection.
    /// </summary>
    public async Task<RestoreOutcome> RunAsync(PhysicalRestoreOptions options, CancellationToken ct)
    {
        options = options.Validate();
        if (options.RestoreCommand.Length == 0)
            options = options with
            {
                // With WAL streaming configured or its spool present, recovery (not a standby) also replays the last, partial segment.
                RestoreCommand = Wal.ArchiveSetup.RestoreCommand(Wal.ArchiveSetup.WalInvocation(), vault.SelectionArguments(),
                    partial: options.Type != "standby" && (vault.Cluster.Streaming != null || Directory.Exists(vault.Settings.Archive.StreamSpoolFor(vault.Cluster.Name)))),
            };
        sources = await vault.OpenCatalogsAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        string pgdata = Path.GetFullPath(options.PgData);

        RestorePointRecord? point = null;
        if (options.TargetName is { } name)
        {
            var points = await new RestorePoints(sources.Catalogs.Select(c => c.Repository).ToList(), sources.Cluster).ListAsync(ct).ConfigureAwait(false);
            point = points.LastOrDefault(p => p.Name == name)
                ?? throw new PgVaultException(ErrorCode.BackupNotFound, $"no restore point named '{name}' is recorded for cluster '{sources.Cluster}'",
                    "see 'pgvault list --restore-points'; create them with 'pgvault restore-point NAME'");
        }
        var (manifest, holders) = await ChooseBackupAsync(options, point, ct).ConfigureAwait(false);
        var physical = manifest.Physical!;
        CheckTargetAfterBackup(options, manifest, point);
        var wal = await CheckWalAsync(holders, manifest, options, point, ct).ConfigureAwait(false);
        var tablespaces = MapTablespaces(physical, options.TablespaceMap);
        CheckManifestPaths(RepositoryLayout.Manifest(sources.Cluster, manifest.Id), physical, pgdata, tablespaces);
        string mode = CheckTargetDirectory(pgdata, tablespaces, options);
        CheckDataDirectory(pgdata, manifest, tablespaces, options);

        var plan = new RestorePlan(manifest.Id, manifest.Type, physical.Chain, pgdata, mode, options.TargetKind, TargetValue(options),
            wal.Timeline, wal.From, wal.To, wal.Segments, wal.EndLsn, physical.Files.Count, physical.Files.Sum(f => f.Length + (f.Deltas?.Sum(d => d.Length) ?? 0)), physical.Files.Sum(f => f.Size), tablespaces);
        if (options.Plan) return new RestoreOutcome(plan, false, 0, 0, 0, 0, clock.Elapsed.TotalSeconds);

        progress.Info($"restoring backup {manifest.Id} ({manifest.Type}, chain {string.Join(" <- ", physical.Chain)}) into {pgdata}{(mode == "new" ? "" : $" ({mode})")}");
        TraceTiming.Mark("restore: backup chosen, target, WAL and directory checked");
        Counts counts;
        using (var target = AnchorTarget(pgdata)) // every write goes through a handle on DIR, not its path
        {
            try
            {
                counts = await RestoreFilesAsync(holders, manifest, target.Path, tablespaces, options, ct).ConfigureAwait(false);
            }
            finally
            {
                ReleaseTracked();
            }
            WriteRecoverySettings(target.Path, manifest, tablespaces, options);
            TraceTiming.Mark("restore: recovery settings written, everything synced");
        }
        return new RestoreOutcome(plan, true, counts.Written, counts.Unchanged, counts.Removed, counts.Bytes, clock.Elapsed.TotalSeconds);
    }

    private static string? TargetValue(PhysicalRestoreOptions o) => o.TargetTime ?? o.TargetXid ?? o.TargetLsn ?? o.TargetName ?? o.Target;

    /// <summary>
    /// --backup ID|latest, or without it the newest physical backup that finished before a time or
    /// LSN target (or a named restore point), else the newest physical backup.
    /// </summary>
    private async Task<(BackupManifest Manifest, List<Catalog> Holders)> ChooseBackupAsync(PhysicalRestoreOptions options, RestorePointRecord? point, CancellationToken ct)
    {
        if (options.BackupId is { } id && id != "latest")
        {
            var found = await sources.FindAsync(id, progress, ct).ConfigureAwait(false);
            if (!found.Manifest.IsPhysical || found.Manifest.Physical == null)
                throw PgVaultException.Usage($"backup {id} is a {found.Manifest.Type} backup: restore it with --db (a physical restore needs a full, diff or incr backup)");
            return found;
        }
        // Ids carry the kind and sort by time: read manifests newest first, only until one fits.
        var holdersById = await sources.HoldersByIdAsync(kind => kind.IsPhysical(), progress, ct).ConfigureAwait(false);
        if (holdersById.Count == 0)
            throw new PgVaultException(ErrorCode.NoBackup, $"no physical backups of cluster '{sources.Cluster}' in repositories {sources.Names}", "take one with 'pgvault backup --type full'");
        ulong? lsnTarget = options.ParsedLsn ?? (point != null ? Lsn.ParseLsn(point.Lsn) : null);
        BackupManifest? oldest = null;
        foreach (var (candidate, holders) in holdersById.Reverse())
        {
            var manifest = await sources.ReadManifestAsync(candidate, holders, progress, ct).ConfigureAwait(false);
            if (manifest?.Physical is not { } p) continue;
            oldest = manifest;
            bool fits = options.ParsedTime is { } time ? p.StopTime <= time
                : lsnTarget is not { } lsn || Lsn.ParseLsn(p.StopLsn) <= lsn;
            if (fits) return (manifest, holders);
        }
        string why = options.ParsedTime is { } t ? $" finished before {t:yyyy-MM-dd HH:mm:ss.ffffffzzz}" : lsnTarget is { } l ? $" ended before LSN {Lsn.FormatLsn(l)}" : "";
        throw new PgVaultException(ErrorCode.NoBackup, $"no physical backup of cluster '{sources.Cluster}'{why}",
            oldest?.Physical is { } o ? $"the oldest ended at {o.StopTime:yyyy-MM-dd HH:mm:ss zzz} (LSN {o.StopLsn})" : null);
    }

    /// <summary>A target before the end of the backup cannot be reached: recovery must at least make the backup consistent.</summary>
    private static void CheckTargetAfterBackup(PhysicalRestoreOptions options, BackupManifest manifest, RestorePointRecord? point)
    {
        var p = manifest.Physical!;
        ulong stop = Lsn.ParseLsn(p.StopLsn);
        if (options.ParsedTime is { } time && time < p.StopTime)
            throw new PgVaultException(ErrorCode.RecoveryTargetInvalid, $"target time {options.TargetTime} is before the end of backup {manifest.Id} ({p.StopTime:yyyy-MM-dd HH:mm:ss.ffffffzzz})",
                "choose an earlier backup with --backup, or leave --backup out to pick the newest one that fits");
        if (options.ParsedLsn is { } lsn && lsn < stop)
            throw new PgVaultException(ErrorCode.RecoveryTargetInvalid, $"target LSN {options.TargetLsn} is before the end of backup {manifest.Id} (LSN {p.StopLsn})",
                "choose an earlier backup with --backup, or leave --backup out to pick the newest one that fits");
        if (point != null && Lsn.ParseLsn(point.Lsn) < stop)
            throw new PgVaultException(ErrorCode.RecoveryTargetInvalid, $"restore point '{point.Name}' (LSN {point.Lsn}) is before the end of backup {manifest.Id} (LSN {p.StopLsn})",
                "choose an earlier backup with --backup, or leave --backup out to pick the newest one that fits");
    }

    private static List<TablespacePlan> MapTablespaces(PhysicalBackupInfo physical, IReadOnlyList<string> maps)
    {
        var result = physical.Tablespaces.Select(t => new TablespacePlan(t.Oid, t.Name, t.Location)).ToList();
        foreach (var map in maps)
        {
            int eq = map.IndexOf('=', StringComparison.Ordinal);
            string key = map[..eq];
            string location = Path.GetFullPath(map[(eq + 1)..]);
            int index = result.FindIndex(t => t.Name == key || t.Oid.ToString(System.Globalization.CultureInfo.InvariantCulture) == key);
            if (index < 0)
                throw PgVaultException.Usage($"--tablespace-map: the backup has no tablespace '{key}'",
                    physical.Tablespaces.Count == 0 ? "the backup has no tablespaces" : "tablespaces: " + string.Join(", ", physical.Tablespaces.Select(t => $"{t.Name} ({t.Oid})")));
            result[index] = result[index] with { Location = location };
        }
        return result;
    }

    /// <summary>new (absent or empty), delta or force; refuses a non-empty directory otherwise and always a running server.</summary>
    private static string CheckTargetDirectory(string pgdata, List<TablespacePlan> tablespaces, PhysicalRestoreOptions options)
    {
        if (File.Exists(pgdata)) throw new PgVaultException(ErrorCode.RestoreTargetInvalid, $"'{pgdata}' is a file, not a directory");
        string pidFile = Path.Combine(pgdata, "postmaster.pid");
        if (File.Exists(pidFile))
        {
            string first = File.ReadLines(pidFile).FirstOrDefault() ?? "";
            if (int.TryParse(first.Trim(), out int pid) && Directory.Exists($"/proc/{pid}"))
                throw new PgVaultException(ErrorCode.RestoreTargetOccupied, $"a PostgreSQL server (pid {pid}) is running on '{pgdata}'", "stop it before restoring into its data directory");
        }
        bool busy = Directory.Exists(pgdata) && Directory.EnumerateFileSystemEntries(pgdata).Any();
        foreach (var t in tablespaces)
        {
            if (Directory.Exists(t.Location) && Directory.EnumerateFileSystemEntries(t.Location).Any() && !options.Delta && !options.Force)
                throw new PgVaultException(ErrorCode.RestoreTargetNotEmpty, $"tablespace directory '{t.Location}' ({t.Name}) is not empty",
                    "pass --delta to reuse what is there, --force to overwrite it, or --tablespace-map to put it elsewhere");
        }
        if (!busy) return "new";
        if (options.Delta) return "delta";
        if (options.Force) return "force";
        throw new PgVaultException(ErrorCode.RestoreTargetNotEmpty, $"'{pgdata}' is not empty",
            "pass --delta to rewrite only what differs from the backup, or --force to replace everything in it");
    }
}
