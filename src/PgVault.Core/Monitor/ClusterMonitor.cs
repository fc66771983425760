using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Monitor;

/// <summary>
/// The one computation of a cluster's state, shared by `pgvault status`, the daemon's /metrics and
/// its alerts: backups from the catalog index, one listing of the cluster's objects per repository
/// (sizes, newest WAL, verify runs), the stored verify and drill records, the retention view, and
/// the server's archiver, replication and slots. Nothing here throws for a server that is down or
/// a repository that cannot be read: those make their checks UNKNOWN. See docs/monitoring.md.
/// </summary>
public sealed partial class ClusterMonitor(Vault.Vault vault, IProgressSink progress)
{
    public async Task<ClusterStatus> RunAsync(StatusOptions options, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        string cluster = vault.Cluster.Name;
        var status = new ClusterStatus { Cluster = cluster, Time = now };
        var serverTask = options.QueryServer ? QueryServerAsync(options.ServerTimeout, ct) : Task.FromResult(new ServerFact { Error = "not queried" });

        bool readable = true;
        try
        {
            vault.RequireRepository();
            var catalogs = await vault.OpenCatalogsAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false);
            status = await ReadRepositoriesAsync(status, catalogs, now, ct).ConfigureAwait(false);
        }
        catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
        {
            readable = false;
            progress.Warn(e.Message);
            status = status with { Repositories = [.. vault.Repositories.Select(r => new RepositoryFact { Repository = r.Name, Type = r.Type, Error = e.Message })] };
        }

        var server = await serverTask.ConfigureAwait(false);
        var objectives = vault.Cluster.Objectives;
        var newestWal = status.Wal.Select(w => w.NewestArchivedAt).Max();
        var newestBackup = status.Backups.Count == 0 ? (DateTimeOffset?)null : status.Backups.Max(b => b.LastFinishedAt);
        var recoverTo = newestWal ?? newestBackup;
        status = status with
        {
            Server = server,
            Recovery = status.Recovery with
            {
                RecoverableTo = newestWal,
                WindowSeconds = status.Recovery.RecoverableFrom is { } from && newestWal is { } to && to > from ? (to - from).TotalSeconds : null,
                RpoSeconds = recoverTo is { } point ? Math.Max(0, (now - point).TotalSeconds) : null,
                RtoSeconds = status.LastDrill?.LastSuccessRtoSeconds,
                ObjectiveRpoSeconds = objectives?.RpoSeconds,
                ObjectiveRtoSeconds = objectives?.RtoSeconds,
            },
        };
        var thresholds = vault.Config.Clusters.ContainsKey(cluster) ? vault.Cluster.Thresholds : vault.Config.Alerts.Thresholds;
        var checks = StatusChecks.Evaluate(status, thresholds, readable);
        return status with { Checks = checks, State = CheckStates.Worst(checks.Select(c => c.State)) };
    }

    private async Task<ClusterStatus> ReadRepositoriesAsync(ClusterStatus status, CatalogSet catalogs, DateTimeOffset now, CancellationToken ct)
    {
        var entries = await catalogs.ListHeadersAsync(progress, ct).ConfigureAwait(false);
        var backups = new List<BackupTypeFact>();
        foreach (var group in entries.SelectMany(e => e.Holders.Select(h => (Repository: h.Repository.Name, e.Header))).GroupBy(x => (x.Repository, x.Header.Type)))
        {
            var last = group.Select(x => x.Header).MaxBy(h => h.FinishedAt)!;
            backups.Add(new BackupTypeFact
            {
                Type = group.Key.Type, Repository = group.Key.Repository, Count = group.Count(), LastId = last.Id, LastFinishedAt = last.FinishedAt,
                LastAgeSeconds = Math.Max(0, (now - last.FinishedAt).TotalSeconds), LastDurationSeconds = last.DurationSeconds,
                LastSizeBytes = last.SizeBytes, LastStoredBytes = last.StoredBytes,
            });
        }
        backups.Sort((a, b) => (a.Repository, TypeOrder(a.Type)).CompareTo((b.Repository, TypeOrder(b.Type))));

        var headers = entries.Select(e => e.Header).ToList();
        var plan = await Retention.RetentionView.PlanAsync(vault.Cluster, catalogs, headers, progress, ct).ConfigureAwait(false);
        var recoverableFrom = plan?.RecoverableFrom ?? headers.Where(h => h.Physical != null).Select(h => (DateTimeOffset?)h.Physical!.StopTime).Min();

        var wal = new List<WalFact>();
        var repositories = new List<RepositoryFact>();
        VerifyFact? verify = null;
        foreach (var catalog in catalogs.Catalogs)
        {
            var (fact, walFact) = await ListClusterAsync(catalog, now, ct).ConfigureAwait(false);
            repositories.Add(fact);
            wal.Add(walFact);
            var repoVerify = await LastVerifyAsync(catalog, now, ct).ConfigureAwait(false);
            if (repoVerify != null && (verify is null || repoVerify.Time > verify.Time)) verify = repoVerify;
        }
        var drill = await LastDrillAsync(catalogs, now, ct).ConfigureAwait(false);
        string? lastFailure = LastFailure(verify, drill);
        return status with
        {
            BackupsKept = entries.Count,
            Backups = backups,
            Wal = wal,
            Repositories = repositories,
            LastVerify = verify,
            LastDrill = drill,
            LastFailure = lastFailure,
            Recovery = new RecoveryFact { RecoverableFrom = recoverableFrom },
        };
    }

    private static int TypeOrder(string type) => type switch { "logical" => 0, "full" => 1, "diff" => 2, "incr" => 3, _ => 4 };

    /// <summary>One listing of clusters/C/: the bytes and objects the cluster stores, and its newest WAL segment.</summary>
    private async Task<(RepositoryFact, WalFact)> ListClusterAsync(Catalog catalog, DateTimeOffset now, CancellationToken ct)
    {
        var repository = catalog.Repository;
        string walPrefix = RepositoryLayout.WalPrefix(catalog.Cluster);
        long size = 0, objects = 0;
        int segments = 0;
        string? newest = null;
        DateTimeOffset? newestAt = null;
        string? error = null;
        try
        {
            await foreach (var info in repository.Store.ListAsync(RepositoryLayout.ClusterPrefix(catalog.Cluster), ct).ConfigureAwait(false))
            {
                size += info.Size;
                objects++;
                if (!info.Key.StartsWith(walPrefix, StringComparison.Ordinal)) continue;
                string file = info.Key[(info.Key.LastIndexOf('/') + 1)..];
                if (file.Length <= WalFileName.SegmentNameLength || file[WalFileName.SegmentNameLength] != '-'
                    || WalFileName.TryParse(file[..WalFileName.SegmentNameLength]) is not { Kind: WalFileKind.Segment } segment) continue;
                segments++;
                if (newest is null || string.CompareOrdinal(segment.Name, newest) > 0 || (segment.Name == newest && info.LastModified > newestAt))
                {
                    newest = segment.Name;
                    newestAt = info.LastModified;
                }
            }
        }
        catch (Exception e) when (e is PgVaultException or IOException or UnauthorizedAccessException)
        {
            error = e.Message;
            progress.Warn($"repository '{repository.Name}': {e.Message}");
        }
        var config = vault.Repositories.FirstOrDefault(r => r.Name == repository.Name);
        var fact = new RepositoryFact { Repository = repository.Name, Type = config?.Type ?? "", SizeBytes = size, Objects = objects, Error = error };
        if (config is { Type: "filesystem", Path: { } path })
        {
            try
            {
                var drive = new DriveInfo(Path.GetFullPath(path));
                long total = drive.TotalSize, free = drive.AvailableFreeSpace;
                fact = fact with { FreeBytes = free, TotalBytes = total, FreePercent = total > 0 ? 100.0 * free / total : null };
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                progress.Warn($"repository '{repository.Name}': free space unknown ({e.Message})");
            }
        }
        var walFact = new WalFact
        {
            Repository = repository.Name, NewestSegment = newest, NewestArchivedAt = newestAt, Segments = segments,
            AgeSeconds = newestAt is { } at ? Math.Max(0, (now - at).TotalSeconds) : null,
        };
        return (fact, walFact);
    }

    private async Task<VerifyFact?> LastVerifyAsync(Catalog catalog, DateTimeOffset now, CancellationToken ct)
    {
        try
        {
            if (await Verify.Verify.LastRecordAsync(catalog.Repository, catalog.Cluster, ct).ConfigureAwait(false) is not { } last) return null;
            var valid = last.Valid ? last : await Verify.Verify.LastRecordAsync(catalog.Repository, catalog.Cluster, ct, r => r.Valid).ConfigureAwait(false);
            return new VerifyFact
            {
                Repository = catalog.Repository.Name, Time = last.Time, Valid = last.Valid, Mode = last.Mode, Problems = last.Problems.Count,
                AgeSeconds = Math.Max(0, (now - last.Time).TotalSeconds), LastSuccessAt = valid?.Time,
            };
        }
        catch (Exception e) when (e is PgVaultException or IOException or UnauthorizedAccessException)
        {
            progress.Warn($"repository '{catalog.Repository.Name}': verify records unreadable ({e.Message})");
            return null;
        }
    }

    private async Task<DrillFact?> LastDrillAsync(CatalogSet catalogs, DateTimeOffset now, CancellationToken ct)
    {
        List<Drill.DrillRecord> records;
        try
        {
            records = await Drill.Drill.ReadRecordsAsync([.. catalogs.Catalogs.Select(c => c.Repository)], catalogs.Cluster, progress, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or IOException or UnauthorizedAccessException)
        {
            progress.Warn($"drill records unreadable ({e.Message})");
            return null;
        }
        if (records.Count == 0) return null;
        var last = records.MaxBy(r => r.FinishedAt)!;
        var passed = records.Where(r => r.Result == Drill.DrillRecord.Passed).MaxBy(r => r.FinishedAt);
        return new DrillFact
        {
            Id = last.Id, Backup = last.Backup, Result = last.Result, FinishedAt = last.FinishedAt, AgeSeconds = Math.Max(0, (now - last.FinishedAt).TotalSeconds),
            RtoSeconds = last.RtoSeconds, Failure = last.Failure, LastSuccessAt = passed?.FinishedAt, LastSuccessRtoSeconds = passed?.RtoSeconds,
        };
    }

    private static string? LastFailure(VerifyFact? verify, DrillFact? drill)
    {
        var failures = new List<(DateTimeOffset Time, string Text)>();
        if (verify is { Valid: false }) failures.Add((verify.Time, $"verify at {verify.Time:yyyy-MM-dd HH:mm:ss}Z found {verify.Problems} problem(s)"));
        if (drill is { } d && d.Result != Drill.DrillRecord.Passed) failures.Add((d.FinishedAt, $"drill {d.Id} at {d.FinishedAt:yyyy-MM-dd HH:mm:ss}Z failed: {d.Failure}"));
        return failures.Count == 0 ? null : failures.MaxBy(f => f.Time).Text;
    }
}
