using PgVault.Core.Alerts;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Logical;
using PgVault.Core.Physical;
using PgVault.Core.Progress;
using PgVault.Core.Retention;
using PgVault.Core.Vault;
using PgVault.Core.Verify;
using DrillCapability = PgVault.Core.Drill.Drill;
using DrillOptions = PgVault.Core.Drill.DrillOptions;
using DrillRecord = PgVault.Core.Drill.DrillRecord;

namespace PgVault.Core.Daemon;

/// <summary>Runs one scheduled task; returns a one-line summary, throws <see cref="PgVaultException"/> on failure.</summary>
public interface ITaskRunner
{
    Task<string> RunAsync(PgVaultConfig config, string cluster, ScheduleSpec spec, IProgressSink progress, CancellationToken ct);
}

/// <summary>
/// The real tasks: the same capabilities the CLI calls (<c>new X(vault, progress).RunAsync(options, ct)</c>),
/// on a vault opened from the daemon's current configuration, with the cluster's settings.
/// A backup is followed by expire when the retention policy says expire_after_backup. Backups
/// (failed ones too), verifies and drills are written to the seed's backup_log table when
/// clusters.NAME.catalog_table is set, as the CLI does.
/// </summary>
public sealed class CapabilityRunner : ITaskRunner
{
    public async Task<string> RunAsync(PgVaultConfig config, string cluster, ScheduleSpec spec, IProgressSink progress, CancellationToken ct)
    {
        var vault = Vault.Vault.Open(config, new GlobalOptions(ConfigFile: config.SourceFile, Cluster: cluster));
        var log = BackupLog.For(vault, progress);
        switch (spec.Task)
        {
            case ScheduledTaskKind.Backup:
                BackupResult backup;
                var started = DateTimeOffset.UtcNow;
                try
                {
                    backup = await BackupAsync(vault, spec, progress, ct).ConfigureAwait(false);
                }
                catch (PgVaultException e) when (log.Enabled && e.Code.Kind() != ErrorKind.Usage)
                {
                    await log.FailedBackupAsync(spec.Type!, spec.Databases, started, e, CancellationToken.None).ConfigureAwait(false);
                    throw;
                }
                await log.BackupAsync(backup, ct).ConfigureAwait(false);
                string done = $"backup {backup.Manifest.Id} complete ({Units.Bytes(backup.Manifest.StoredBytes)} stored in {Units.Duration(backup.Manifest.DurationSeconds)})";
                var expired = await ExpireAfterBackup.RunAsync(vault, backup.Manifest.Id, progress, ct).ConfigureAwait(false);
                return ExpireAfterBackup.Summary(expired) is { } summary ? $"{done}; expire {summary}" : done;

            case ScheduledTaskKind.Verify:
                var verifyOptions = new VerifyOptions { Parallel = vault.Settings.Parallel(null) };
                verifyOptions.Validate();
                var verified = await new Verify.Verify(vault, progress).RunAsync(verifyOptions, ct).ConfigureAwait(false);
                await log.VerifyAsync(verified, ct).ConfigureAwait(false);
                if (!verified.Valid)
                    throw new PgVaultException(ErrorCode.VerifyFailed, $"verify found {verified.Problems.Count} problem(s): {verified.Problems.FirstOrDefault()}", "run 'pgvault verify' for the details");
                return $"verify: everything valid ({verified.Repositories.Sum(r => r.Backups.Count)} backup(s) checked)";

            case ScheduledTaskKind.Drill:
                var record = await new DrillCapability(vault, progress).RunAsync(new DrillOptions { Target = spec.Target, Parallel = vault.Settings.Parallel(null) }.Validate(), ct).ConfigureAwait(false);
                await log.DrillAsync(record, ct).ConfigureAwait(false);
                if (record.Result != DrillRecord.Passed)
                    throw new PgVaultException(ErrorCode.DrillFailed, $"drill {record.Id} of backup {record.Backup} failed in phase {record.FailedPhase}: {record.Failure}", "see 'pgvault drill --list'");
                return $"drill {record.Id} of backup {record.Backup} passed, RTO {Units.Duration(record.RtoSeconds)}";

            default:
                var expire = await new Expire(vault, progress).RunAsync(new ExpireOptions(), ct).ConfigureAwait(false);
                return "expire: " + (ExpireAfterBackup.Summary(expire) ?? "nothing to remove");
        }
    }

    private static Task<BackupResult> BackupAsync(Vault.Vault vault, ScheduleSpec spec, IProgressSink progress, CancellationToken ct)
    {
        if (spec.Type == "logical")
        {
            var logical = new LogicalBackupOptions
            {
                Databases = spec.Databases,
                AllDatabases = spec.Databases.Count == 0,
                Compression = vault.Settings.Compression(null),
            };
            logical.Validate();
            return new LogicalBackup(vault, progress).RunAsync(logical, ct);
        }
        var physical = new PhysicalBackupOptions
        {
            Type = spec.Type!,
            PgData = vault.Settings.PgData,
            Parallel = vault.Settings.Parallel(null),
            Compression = vault.Settings.Compression(null),
            ArchiveTimeoutSeconds = vault.Settings.ArchiveTimeoutSeconds(null),
        };
        physical.Validate();
        return new PhysicalBackup(vault, progress).RunAsync(physical, ct);
    }
}
