using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Retention;

/// <summary>What `pgvault delete ID` was asked for.</summary>
public sealed record DeleteOptions(string Id, bool WithDependents = false);

/// <summary>What delete removed from one repository.</summary>
public sealed record RepositoryDeleteResult(string Repository, IReadOnlyList<string> Removed, IReadOnlyList<WalRemoval> WalRemoved, int ObjectsRemoved, long BytesFreed);

public sealed record DeleteResult(string Cluster, string Id, IReadOnlyList<RepositoryDeleteResult> Repositories);

/// <summary>
/// `pgvault delete ID [--with-dependents]`: removes one backup from every selected repository that
/// holds it, under each repository's lock, in the same crash-safe order as expire. Refused (nothing
/// changed anywhere) when kept backups reference it (unless --with-dependents, which removes them
/// too), when it or a dependent is pinned, or when a running backup reads from it. The WAL that only
/// the removed backups needed (older than every remaining backup) goes with them.
/// </summary>
public sealed class DeleteBackup(Vault.Vault vault, IProgressSink progress)
{
    public async Task<DeleteResult> RunAsync(DeleteOptions options, CancellationToken ct)
    {
        BackupId.Parse(options.Id);
        var catalogs = await vault.OpenCatalogsAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        await using var locks = await catalogs.LockAllAsync($"delete {options.Id}", ct).ConfigureAwait(false);
        var plans = new List<(RetentionStore Store, List<string> Remove, List<WalObject> Wal)>();
        foreach (var catalog in catalogs.Catalogs)
        {
            var store = new RetentionStore(catalog, progress);
            var (headers, running) = await store.ReadCatalogAsync(ct).ConfigureAwait(false);
            if (!headers.Any(h => h.Id == options.Id)) continue;
            var remove = Dependents(headers, options.Id);
            if (remove.Count > 1 && !options.WithDependents)
            {
                throw new PgVaultException(ErrorCode.RetentionRefused,
                    $"backup {options.Id} is referenced by {string.Join(", ", remove.Skip(1))} in repository '{catalog.Repository.Name}'",
                    "delete them too with --with-dependents, or delete the newest of them first");
            }
            var now = DateTimeOffset.UtcNow;
            var pinned = (await new Pins(catalog).ReadAsync(ct).ConfigureAwait(false)).Where(p => p.ActiveAt(now) && remove.Contains(p.Id)).ToList();
            if (pinned.Count > 0)
            {
                throw new PgVaultException(ErrorCode.RetentionRefused, $"backup {pinned[0].Id} is pinned in repository '{catalog.Repository.Name}'",
                    $"release the pin first: pgvault keep {pinned[0].Id} --release");
            }
            if (running.FirstOrDefault(r => r.Chain.Any(remove.Contains)) is { } reader)
            {
                throw new PgVaultException(ErrorCode.RetentionRefused, $"running backup {reader.Id} reads from backup {options.Id} in repository '{catalog.Repository.Name}'",
                    "wait for it to finish and try again");
            }
            var kept = headers.Where(h => !remove.Contains(h.Id)).ToList();
            var keep = WalStillNeeded(kept, running);
            var wal = (await store.ListWalAsync(ct).ConfigureAwait(false)).Where(o => !o.FileName.EndsWith(".history", StringComparison.Ordinal)
                && !keep.Any(r => r.Contains(o.Position))).ToList();
            plans.Add((store, remove, wal));
        }
        if (plans.Count == 0)
        {
            throw new PgVaultException(ErrorCode.BackupNotFound, $"backup '{options.Id}' not found for cluster '{catalogs.Cluster}' in repositories {catalogs.Names}",
                "see 'pgvault list' for the backups that exist");
        }
        var results = new List<RepositoryDeleteResult>();
        foreach (var (store, remove, wal) in plans)
        {
            await store.MarkAsync(remove.Select(id => (id, $"pgvault delete {options.Id}")), ct).ConfigureAwait(false);
            var walRemoved = await store.RemoveWalAsync(wal, ct).ConfigureAwait(false);
            var (objects, bytes) = await store.RemoveBackupsAsync(remove, ct).ConfigureAwait(false);
            progress.Info($"repository '{store.Catalog.Repository.Name}': removed {string.Join(", ", remove)}" +
                (wal.Count > 0 ? $" and {wal.Count} WAL file(s) no remaining backup needs" : ""));
            results.Add(new RepositoryDeleteResult(store.Catalog.Repository.Name, remove, walRemoved, objects + wal.Count, bytes + wal.Sum(o => o.Size)));
        }
        return new DeleteResult(catalogs.Cluster, options.Id, results);
    }

    /// <summary><paramref name="id"/> and every backup whose reference chain contains it, oldest first.</summary>
    internal static List<string> Dependents(IReadOnlyList<BackupHeader> headers, string id) =>
        [id, .. headers.Where(h => h.Id != id && h.Physical is { } p && p.Chain.Contains(id)).Select(h => h.Id).Order(StringComparer.Ordinal)];

    /// <summary>
    /// The WAL the remaining backups need: each one's own range, everything from the oldest
    /// remaining physical backup on (its PITR reach), and what running backups may need.
    /// </summary>
    private static List<WalKeepRange> WalStillNeeded(IReadOnlyList<BackupHeader> kept, IReadOnlyList<RunningBackup> running)
    {
        var keep = kept.Where(h => h.Physical != null)
            .Select(h => new WalKeepRange(RetentionPlanner.Position(h.Physical!.StartWal), RetentionPlanner.Position(h.Physical.StopWal), $"backup {h.Id}")).ToList();
        if (kept.FirstOrDefault(h => h.Physical != null) is { } oldest)
            keep.Add(new WalKeepRange(RetentionPlanner.Position(oldest.Physical!.StartWal), null, $"PITR from backup {oldest.Id}"));
        keep.AddRange(running.Where(r => r.KeepWalFrom != null).Select(r => new WalKeepRange(r.KeepWalFrom!, null, $"running backup {r.Id}")));
        return keep;
    }
}
