using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Drill;

/// <summary>
/// `pgvault drill`: proves a backup by restoring it into a scratch place PgVault makes and always
/// removes, validating what came back, and timing each phase; the record (passed or failed) is
/// stored in every selected repository under clusters/C/drills/ID.json. Phases: this file (choice,
/// record, clean-up), Drill.Logical.cs (sandbox cluster + pg_restore), Drill.Physical.cs (scratch
/// data directory, recovery to the target), Drill.Validate.cs (amcheck, tables, the user's checks).
/// </summary>
public sealed partial class Drill(Vault.Vault vault, IProgressSink progress)
{
    private readonly Stopwatch _clock = new();
    private string _phase = "restore";
    private DrillRecord _record = new();
    private readonly List<DrillCheckResult> _checks = [];
    private readonly List<string> _notes = [];

    /// <summary>
    /// Runs the drill. A drill that finds a problem returns a record with result failed (stored
    /// like a passed one); only a usage error, a missing backup or an interruption throws.
    /// </summary>
    public async Task<DrillRecord> RunAsync(DrillOptions options, CancellationToken ct)
    {
        options = options.Validate();
        string parent = options.ScratchDir ?? vault.Cluster.Drills.ScratchDir ?? ScratchPlace.DefaultParent;
        foreach (var gone in await ScratchPlace.RemoveLeftoversAsync(parent, progress.Warn, ct).ConfigureAwait(false))
            progress.Warn($"removed the scratch place of a drill that did not finish: {gone}");

        var catalogs = await vault.OpenCatalogsAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false);
        var (manifest, _) = await catalogs.FindAsync(options.BackupId, progress, ct).ConfigureAwait(false);
        if (!manifest.IsPhysical && options.Target != null)
            throw PgVaultException.Usage($"backup {manifest.Id} is a logical backup: a drill restores it whole, --target applies to physical backups");
        if (manifest.IsPhysical && options.IntoCluster)
            throw PgVaultException.Usage($"backup {manifest.Id} is a physical backup: --into-cluster applies to logical backups");

        var started = DateTimeOffset.UtcNow;
        _record = new DrillRecord
        {
            Id = NewId(started),
            Cluster = catalogs.Cluster,
            Backup = manifest.Id,
            BackupType = manifest.Type,
            Target = manifest.IsPhysical ? TargetKind(options.Target) : "backup",
            TargetValue = manifest.IsPhysical && options.Target is not (null or "latest" or "immediate" or "random") ? options.Target : null,
            StartedAt = started,
            ServerMajor = manifest.Server.VersionNum / 10000,
            Host = Environment.MachineName,
            PgVaultVersion = VersionInfo.Version,
        };
        progress.Info($"drill {_record.Id}: {manifest.Type} backup {manifest.Id}" + (manifest.IsPhysical ? $", target {options.Target ?? "latest"}" : "")
            + $", scratch place under {parent}");
        _clock.Start();
        try
        {
            if (manifest.IsPhysical) await PhysicalAsync(manifest, parent, options, ct).ConfigureAwait(false);
            else await LogicalAsync(manifest, parent, options, ct).ConfigureAwait(false);
            var failed = _checks.Where(c => c.Result == DrillRecord.Failed).ToList();
            if (failed.Count > 0)
            {
                _phase = "checks";
                Fail(ErrorCode.DrillFailed, string.Join("; ", failed.Select(c => $"{c.Kind} check '{c.Name}' failed: {c.Detail}")));
            }
        }
        catch (PgVaultException e) when (e.Code != ErrorCode.Interrupted && !ct.IsCancellationRequested)
        {
            Fail(e.Code, e.Message);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or IOException && !ct.IsCancellationRequested)
        {
            Fail(ErrorCode.DrillFailed, e.Message);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is not OperationCanceledException)
        {
            throw new OperationCanceledException("the drill was interrupted", e, ct); // exit 130, whatever was cut short
        }
        _clock.Stop();
        _record = _record with
        {
            Result = _record.Failure is null ? DrillRecord.Passed : DrillRecord.Failed,
            FinishedAt = DateTimeOffset.UtcNow,
            RtoSeconds = Math.Round(_clock.Elapsed.TotalSeconds, 3),
            Checks = _checks,
            Notes = _notes,
        };
        await StoreAsync(_record, ct).ConfigureAwait(false);
        return _record;
    }

    /// <summary>The stored drill records of the cluster, oldest first (every selected repository, each id once).</summary>
    public async Task<List<DrillRecord>> ListAsync(CancellationToken ct) =>
        await ReadRecordsAsync(await vault.OpenRepositoriesAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false), vault.Cluster.Name, progress, ct).ConfigureAwait(false);

    /// <summary>The drill records of <paramref name="cluster"/> stored in <paramref name="repositories"/>, oldest first, each id once (status reads them through here).</summary>
    public static async Task<List<DrillRecord>> ReadRecordsAsync(IReadOnlyList<Repository.Repository> repositories, string cluster, IProgressSink progress, CancellationToken ct)
    {
        var byId = new SortedDictionary<string, DrillRecord>(StringComparer.Ordinal);
        foreach (var repository in repositories)
        {
            string prefix = RepositoryLayout.DrillsPrefix(cluster);
            var keys = new List<string>();
            await foreach (var info in repository.Store.ListAsync(prefix, ct).ConfigureAwait(false))
            {
                if (info.Key.EndsWith(".json", StringComparison.Ordinal) && !info.Key[prefix.Length..].Contains('/', StringComparison.Ordinal)) keys.Add(info.Key);
            }
            foreach (var key in keys)
            {
                string id = key[prefix.Length..^".json".Length];
                if (byId.ContainsKey(id)) continue;
                try
                {
                    if (await repository.ReadMetadataAsync(key, DrillJson.Default.DrillRecord, ct).ConfigureAwait(false) is { } record) byId[id] = record;
                }
                catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
                {
                    progress.Warn($"repository '{repository.Name}': drill record {id}: {e.Message}");
                }
            }
        }
        return [.. byId.Values];
    }

    /// <summary>Marks the drill failed in the current phase (the first failure is the one reported).</summary>
    private void Fail(ErrorCode code, string message)
    {
        if (_record.Failure != null) return;
        _clock.Stop();
        progress.Warn($"drill failed in phase {_phase}: {message}");
        _record = _record with { FailedPhase = _phase, Failure = message, FailureCode = code.WireName() };
    }

    /// <summary>Times one phase into the record; the phase's name is what a failure inside it reports.</summary>
    private async Task<T> PhaseAsync<T>(string phase, Func<Task<T>> work, Func<DrillRecord, double, DrillRecord> record)
    {
        _phase = phase;
        var clock = Stopwatch.StartNew();
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            _record = record(_record, Math.Round(clock.Elapsed.TotalSeconds, 3));
            if (phase == "checks") _clock.Stop(); // the RTO ends with the last check, not with the clean-up
        }
    }

    private async Task StoreAsync(DrillRecord record, CancellationToken ct)
    {
        string key = RepositoryLayout.Drill(record.Cluster, record.Id);
        foreach (var repository in await vault.OpenRepositoriesAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false))
        {
            try
            {
                await repository.WriteMetadataAsync(key, record, DrillJson.Default.DrillRecord, ct).ConfigureAwait(false);
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                progress.Warn($"could not store drill record {record.Id} in repository '{repository.Name}': {e.Message}");
            }
        }
    }

    private static string TargetKind(string? target) => target switch
    {
        null or "latest" => "latest",
        "immediate" => "immediate",
        "random" => "random",
        _ when ParseTime(target) != null => "time",
        _ => "name",
    };

    internal static DateTimeOffset? ParseTime(string text) =>
        text.Any(char.IsAsciiDigit) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var t) ? t : null;

    /// <summary>Drill ids sort by time: 20261123T143012Z-1a2b.</summary>
    private static string NewId(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
}
