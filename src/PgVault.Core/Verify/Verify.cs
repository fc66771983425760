using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Verify;

/// <summary>
/// `pgvault verify`: proves, repository by repository, that each selected backup can be restored
/// (every object it needs read back and checked, its chain resolved, its WAL range present and
/// intact) and that the WAL archive is continuous per timeline. The result is stored in each
/// repository (clusters/C/verify/TIME.json), which also makes the next run incremental.
/// See docs/verify.md.
/// </summary>
public sealed class Verify(Vault.Vault vault, IProgressSink progress)
{
    /// <summary>Stored runs kept per repository (older ones are removed after a run is stored).</summary>
    public const int RecordsKept = 10;

    /// <summary>
    /// Under a retention policy that manages WAL, the archive is continuous only from the PITR anchor
    /// on (expire removes the WAL between consistent-only backups on purpose): continuity is checked
    /// from the anchor's start, each backup's own range whatever its age. Null without a policy.
    /// </summary>
    private async Task<string?> RetentionWindowStartAsync(Catalog catalog, DateTimeOffset now, CancellationToken ct)
    {
        if (Retention.RetentionStore.PolicyFor(vault, catalog) is not { } policy) return null;
        var headers = await catalog.ListHeadersAsync(progress, ct).ConfigureAwait(false);
        var pins = await new Pins(catalog).ReadAsync(ct).ConfigureAwait(false);
        var plan = Retention.RetentionPlanner.Plan(headers, pins, [], policy, now);
        return plan.ManagesWal && plan.PitrAnchor is { } anchor ? headers.First(h => h.Id == anchor).Physical?.StartWal : null;
    }

    public async Task<VerifyResult> RunAsync(VerifyOptions options, CancellationToken ct)
    {
        options.Validate();
        vault.RequireRepository();
        var unopened = new List<string>();
        var catalogs = await vault.OpenCatalogsAsync(forWriting: false, warning =>
        {
            unopened.Add(warning);
            progress.Warn(warning);
        }, ct).ConfigureAwait(false);
        var time = DateTimeOffset.UtcNow;
        var results = new List<RepositoryVerification>();
        foreach (var catalog in catalogs.Catalogs)
        {
            var verifier = new RepositoryVerifier(catalog, options, progress, time) { WindowStartWal = await RetentionWindowStartAsync(catalog, time, ct).ConfigureAwait(false) };
            var (result, record) = await verifier.RunAsync(ct).ConfigureAwait(false);
            if (options.Store) result = result with { StoredAs = await StoreAsync(catalog, record, ct).ConfigureAwait(false) };
            results.Add(result);
        }
        if (options.Backup is { } wanted && results.All(r => r.Backups.Count == 0))
            throw new PgVaultException(ErrorCode.BackupNotFound, $"backup '{wanted}' not found for cluster '{catalogs.Cluster}' in repository {catalogs.Names}",
                "see 'pgvault list' for the backups that exist");
        var problems = unopened.Select(u => $"not verified: {u}").ToList();
        foreach (var r in results)
        {
            foreach (var b in r.Backups)
                problems.AddRange(b.Problems.Select(p => $"repository '{r.Repository}': backup {b.Id} {b.Status}: {p}"));
            problems.AddRange(r.WalProblems.Select(p => $"repository '{r.Repository}': WAL: {p}"));
        }
        return new VerifyResult
        {
            Time = time,
            Cluster = catalogs.Cluster,
            Mode = options.Mode,
            Valid = problems.Count == 0,
            Repositories = results,
            Problems = problems,
        };
    }

    /// <summary>Writes the run into the repository (checksummed or authenticated metadata) and keeps the newest <see cref="RecordsKept"/>.</summary>
    private async Task<string?> StoreAsync(Catalog catalog, VerifyRecord record, CancellationToken ct)
    {
        var repository = catalog.Repository;
        if (!repository.Writable)
        {
            progress.Warn($"repository '{repository.Name}' has an older format: the verification is not stored (run 'pgvault repo upgrade')");
            return null;
        }
        string key = RepositoryLayout.VerifyRecord(catalog.Cluster, record.Time.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture));
        await repository.WriteMetadataAsync(key, record, VerifyJson.Default.VerifyRecord, ct).ConfigureAwait(false);
        var keys = new List<string>();
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.VerifyPrefix(catalog.Cluster), ct).ConfigureAwait(false))
            if (info.Key.EndsWith(".json", StringComparison.Ordinal)) keys.Add(info.Key);
        keys.Sort(StringComparer.Ordinal);
        foreach (var old in keys.Take(Math.Max(0, keys.Count - RecordsKept)))
            await repository.Store.DeleteAsync(old, ct).ConfigureAwait(false);
        return key;
    }

    /// <summary>
    /// The newest stored verification of <paramref name="cluster"/> in <paramref name="repository"/>
    /// that reads back intact (older ones are tried when the newest is damaged) and that
    /// <paramref name="accept"/> takes (status asks for the newest valid run), or null.
    /// </summary>
    public static async Task<VerifyRecord?> LastRecordAsync(Repository.Repository repository, string cluster, CancellationToken ct, Func<VerifyRecord, bool>? accept = null)
    {
        var keys = new List<string>();
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.VerifyPrefix(cluster), ct).ConfigureAwait(false))
            if (info.Key.EndsWith(".json", StringComparison.Ordinal)) keys.Add(info.Key);
        keys.Sort(StringComparer.Ordinal);
        for (int i = keys.Count - 1; i >= 0; i--)
        {
            try
            {
                if (await repository.ReadMetadataAsync(keys[i], VerifyJson.Default.VerifyRecord, ct).ConfigureAwait(false) is { } record && (accept is null || accept(record))) return record;
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                // a damaged record: the one before it still tells what was verified
            }
        }
        return null;
    }
}
