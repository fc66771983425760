using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Retention;

/// <summary>What `pgvault keep ID` was asked for: a pin until a time (null: forever), or its release.</summary>
public sealed record KeepOptions(string Id, DateTimeOffset? Until = null, bool Pitr = false, bool Release = false);

/// <summary>The pin as set (null after a release) and the repositories it was set in.</summary>
public sealed record KeepResult(string Cluster, string Id, BackupPin? Pin, bool Released, IReadOnlyList<string> Repositories);

/// <summary>
/// `pgvault keep ID [--until TIME|--forever] [--pitr]` / `--release`: pins a backup in every selected
/// repository that holds it, under each repository's lock. Every retention rule and delete honour
/// a pin; the other backups are expired as usual.
/// </summary>
public sealed class KeepBackup(Vault.Vault vault, IProgressSink progress)
{
    public async Task<KeepResult> RunAsync(KeepOptions options, CancellationToken ct)
    {
        BackupId.Parse(options.Id);
        if (options.Until is { } until && until <= DateTimeOffset.UtcNow)
            throw PgVaultException.Usage($"--until {until:u} is in the past", "give a time in the future, or --forever");
        var catalogs = await vault.OpenCatalogsAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        await using var locks = await catalogs.LockAllAsync($"keep {options.Id}", ct).ConfigureAwait(false);
        var pin = options.Release ? null : new BackupPin { Id = options.Id, Until = options.Until, Pitr = options.Pitr, PinnedAt = DateTimeOffset.UtcNow };
        var done = new List<string>();
        bool released = false;
        foreach (var catalog in catalogs.Catalogs)
        {
            var pins = new Pins(catalog);
            if (options.Release)
            {
                if (await pins.ReleaseAsync(options.Id, ct).ConfigureAwait(false))
                {
                    released = true;
                    done.Add(catalog.Repository.Name);
                }
                continue;
            }
            var ids = await catalog.ListIdsAsync(ct).ConfigureAwait(false);
            if (!ids.Contains(options.Id)) continue;
            await pins.SetAsync(pin!, ct).ConfigureAwait(false);
            done.Add(catalog.Repository.Name);
        }
        if (done.Count == 0)
        {
            throw options.Release
                ? new PgVaultException(ErrorCode.BackupNotFound, $"backup '{options.Id}' is not pinned in repositories {catalogs.Names}", "see 'pgvault list' for the pins")
                : new PgVaultException(ErrorCode.BackupNotFound, $"backup '{options.Id}' not found for cluster '{catalogs.Cluster}' in repositories {catalogs.Names}",
                    "see 'pgvault list' for the backups that exist");
        }
        return new KeepResult(catalogs.Cluster, options.Id, pin, released, done);
    }
}
