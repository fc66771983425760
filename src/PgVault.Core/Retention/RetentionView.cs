using PgVault.Core.Config;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Retention;

/// <summary>
/// The policy's view of a listing (for list, info and status): which backups are PITR-capable,
/// consistent-only or due to expire, and where the recoverable window starts. It is the plan
/// expire would make now, with the cluster's policy and the pins of the first repository that
/// has them; it reads no WAL (verify checks what is actually there).
/// </summary>
public static class RetentionView
{
    public static async Task<RetentionPlan?> PlanAsync(ClusterConfig cluster, CatalogSet catalogs, IReadOnlyList<BackupHeader> headers,
        IProgressSink progress, CancellationToken ct)
    {
        if (cluster.Retention is not { } policy) return null;
        var pins = new List<BackupPin>();
        foreach (var catalog in catalogs.Catalogs)
        {
            try
            {
                pins = await new Pins(catalog).ReadAsync(ct).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is Errors.PgVaultException or IOException or UnauthorizedAccessException)
            {
                progress.Warn($"repository '{catalog.Repository.Name}': pins unreadable ({e.Message})");
            }
        }
        return RetentionPlanner.Plan(headers, pins, [], policy, DateTimeOffset.UtcNow);
    }

    /// <summary>pitr, consistent, kept (logical) or "expires" (no rule keeps it: the next expire removes it).</summary>
    public static string Label(BackupDecision decision) => decision.Keep ? decision.Mode : "expires";
}
