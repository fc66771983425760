using PgVault.Core.Errors;
using PgVault.Core.Progress;

namespace PgVault.Core.Retention;

/// <summary>
/// retention.expire_after_backup: a successful backup applies the policy (like pgBackRest's
/// expire-auto). The CLI's backup and the daemon's scheduled backups both call this. The backup
/// stays complete whatever happens here; a failing expire is reported with its own error, naming
/// the backup as complete.
/// </summary>
public static class ExpireAfterBackup
{
    /// <summary>True when a selected repository's policy asks for an expire after each backup.</summary>
    public static bool Applies(Vault.Vault vault) => vault.Repositories.Any(r => vault.Cluster.RetentionFor(r) is { ExpireAfterBackup: true });

    /// <summary>Runs expire when <see cref="Applies"/>; null when it does not.</summary>
    public static async Task<ExpireResult?> RunAsync(Vault.Vault vault, string backupId, IProgressSink progress, CancellationToken ct)
    {
        if (!Applies(vault)) return null;
        try
        {
            return await new Expire(vault, progress).RunAsync(new ExpireOptions(), ct).ConfigureAwait(false);
        }
        catch (PgVaultException e)
        {
            throw new PgVaultException(e.Code, $"backup {backupId} is complete, but the expire after it failed: {e.Message}", e.Hint ?? "run 'pgvault expire' once the cause is fixed", inner: e);
        }
    }

    /// <summary>"removed N backup(s) and M WAL file(s)", or null when nothing was removed.</summary>
    public static string? Summary(ExpireResult? expired)
    {
        if (expired is null) return null;
        int removed = expired.Repositories.Sum(r => r.Decisions.Count(d => !d.Keep));
        int wal = expired.Repositories.Sum(r => r.WalRemoved.Sum(w => w.Objects));
        return removed > 0 || wal > 0 ? $"removed {removed} backup(s) and {wal} WAL file(s) no retention rule keeps" : null;
    }
}
