using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Retention;

/// <summary>What `pgvault expire` was asked for.</summary>
/// <param name="Now">Only with <paramref name="DryRun"/>: the moment to evaluate the policy at (preview a later run).</param>
/// <param name="WalOnly">Remove only WAL that no backup (all are kept) and no PITR window or pin needs.</param>
public sealed record ExpireOptions(bool DryRun = false, DateTimeOffset? Now = null, bool WalOnly = false);

/// <summary>What expire did (or, dry, would do) in one repository.</summary>
public sealed record RepositoryExpireResult
{
    public string Repository { get; init; } = "";
    /// <summary>False when the repository has no retention policy (nothing was done there).</summary>
    public bool HasPolicy { get; init; }
    public IReadOnlyList<BackupDecision> Decisions { get; init; } = [];
    public IReadOnlyList<WalRemoval> WalRemoved { get; init; } = [];
    public IReadOnlyList<WalKeepRange> WalKept { get; init; } = [];
    public string? PitrAnchor { get; init; }
    public DateTimeOffset? RecoverableFrom { get; init; }
    /// <summary>Removals left by an interrupted expire or delete that this run finished.</summary>
    public IReadOnlyList<string> Finished { get; init; } = [];
    public int ObjectsRemoved { get; init; }
    public long BytesFreed { get; init; }
    /// <summary>Gaps in the WAL from the PITR anchor on, after the run (empty: continuous).</summary>
    public IReadOnlyList<string> WalGaps { get; init; } = [];
}

public sealed record ExpireResult(string Cluster, bool DryRun, DateTimeOffset Now, IReadOnlyList<RepositoryExpireResult> Repositories);

/// <summary>
/// `pgvault expire`: applies each repository's retention policy under its repository lock. The
/// order makes a crash at any point safe: the backups to remove are first marked as expiring (no
/// longer listed, restored or referenced) and dropped from the catalog index, then WAL no kept
/// backup or window needs is removed oldest first, then the marked backups' objects (manifest last,
/// marker after it). The next run finishes what an interrupted one left.
/// </summary>
public sealed class Expire(Vault.Vault vault, IProgressSink progress)
{
    public async Task<ExpireResult> RunAsync(ExpireOptions options, CancellationToken ct)
    {
        if (options.Now != null && !options.DryRun) throw PgVaultException.Usage("--now is only allowed with --dry-run", "a real expire always uses the current time");
        var now = options.Now ?? DateTimeOffset.UtcNow;
        var catalogs = await vault.OpenCatalogsAsync(forWriting: !options.DryRun, progress.Warn, ct).ConfigureAwait(false);
        if (catalogs.Catalogs.All(c => RetentionStore.PolicyFor(vault, c) is null))
        {
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"no retention policy is configured for cluster '{catalogs.Cluster}'",
                $"add clusters.{catalogs.Cluster}.retention (e.g. pitr_window: 14d, full: 2) to the configuration; see docs/retention.md");
        }
        var results = new List<RepositoryExpireResult>();
        foreach (var catalog in catalogs.Catalogs)
            results.Add(await ExpireOneAsync(catalog, options, now, ct).ConfigureAwait(false));
        return new ExpireResult(catalogs.Cluster, options.DryRun, now, results);
    }

    private async Task<RepositoryExpireResult> ExpireOneAsync(Catalog catalog, ExpireOptions options, DateTimeOffset now, CancellationToken ct)
    {
        if (RetentionStore.PolicyFor(vault, catalog) is not { } policy)
        {
            progress.Info($"repository '{catalog.Repository.Name}': no retention policy, nothing expired");
            return new RepositoryExpireResult { Repository = catalog.Repository.Name };
        }
        await using var held = options.DryRun ? null
            : await RepositoryLock.AcquireAsync(catalog.Repository, catalog.Cluster, "expire", CatalogSet.BackupLockWait, progress, ct).ConfigureAwait(false);
        var store = new RetentionStore(catalog, progress);
        var finished = options.DryRun ? [] : await store.FinishInterruptedAsync(ct).ConfigureAwait(false);
        var (headers, running) = await store.ReadCatalogAsync(ct).ConfigureAwait(false);
        var pins = await new Pins(catalog).ReadAsync(ct).ConfigureAwait(false);
        var plan = RetentionPlanner.Plan(headers, pins, running, policy, now);
        if (options.WalOnly) plan = KeepAllBackups(plan, headers);
        var wal = await store.ListWalAsync(ct).ConfigureAwait(false);
        var walToRemove = wal.Where(o => !plan.KeepsWal(o.FileName)).ToList();
        var removed = plan.Removed.ToList();

        int objects = 0;
        long bytes = 0;
        List<WalRemoval> walRemoved;
        if (options.DryRun)
        {
            walRemoved = Summarise(walToRemove);
            bytes = headers.Where(h => removed.Any(r => r.Id == h.Id)).Sum(h => h.StoredBytes);
        }
        else
        {
            await store.MarkAsync(removed.Select(d => (d.Id, string.Join("; ", d.Reasons))), ct).ConfigureAwait(false);
            walRemoved = await store.RemoveWalAsync(walToRemove, ct).ConfigureAwait(false);
            (objects, bytes) = await store.RemoveBackupsAsync(removed.Select(d => d.Id), ct).ConfigureAwait(false);
            if (removed.Count > 0 || finished.Count > 0)
                await new Pins(catalog).PruneAsync(headers.Where(h => !removed.Any(r => r.Id == h.Id)).Select(h => h.Id).ToHashSet(StringComparer.Ordinal), ct).ConfigureAwait(false);
        }
        objects += walToRemove.Count;
        bytes += walToRemove.Sum(o => o.Size);
        var remaining = wal.Except(walToRemove).ToList();
        var anchor = plan.PitrAnchor is { } a ? headers.First(h => h.Id == a) : null;
        var gaps = anchor?.Physical is { } p ? RetentionStore.Gaps(remaining, RetentionPlanner.Position(p.StartWal)) : [];
        if (gaps.Count > 0)
            progress.Warn($"repository '{catalog.Repository.Name}': the WAL from backup {anchor!.Id} on has gaps ({string.Join(", ", gaps.Take(5))}): point-in-time recovery across them is impossible; 'pgvault verify' shows more");
        else if (anchor != null)
            progress.Info($"repository '{catalog.Repository.Name}': WAL is continuous from backup {anchor.Id} to the newest archived segment");
        return new RepositoryExpireResult
        {
            Repository = catalog.Repository.Name, HasPolicy = true, Decisions = plan.Decisions, WalRemoved = walRemoved, WalKept = plan.WalKeep,
            PitrAnchor = plan.PitrAnchor, RecoverableFrom = plan.RecoverableFrom, Finished = finished, ObjectsRemoved = objects, BytesFreed = bytes, WalGaps = gaps,
        };
    }

    /// <summary>--wal-only: every backup stays (with its own WAL); only WAL nothing needs goes.</summary>
    private static RetentionPlan KeepAllBackups(RetentionPlan plan, IReadOnlyList<BackupHeader> headers)
    {
        var decisions = plan.Decisions.Select(d => d.Keep ? d : d with { Keep = true, Mode = headers.First(h => h.Id == d.Id).IsPhysical ? "consistent" : "kept", Reasons = ["--wal-only keeps every backup"] }).ToList();
        var walKeep = plan.WalKeep.Concat(headers.Where(h => h.Physical != null && !plan.Decisions.First(d => d.Id == h.Id).Keep)
            .Select(h => new WalKeepRange(RetentionPlanner.Position(h.Physical!.StartWal), RetentionPlanner.Position(h.Physical.StopWal), $"backup {h.Id}"))).ToList();
        return plan with { Decisions = decisions, WalKeep = walKeep };
    }

    private static List<WalRemoval> Summarise(List<WalObject> remove) =>
        remove.GroupBy(o => o.Timeline).OrderBy(g => g.Key).Select(g =>
        {
            var names = g.Select(o => o.FileName.Length >= 24 ? o.FileName[..24] : o.FileName).Order(StringComparer.Ordinal).ToList();
            return new WalRemoval(g.Key, names[0], names[^1], g.Count(), g.Sum(o => o.Size));
        }).ToList();
}
