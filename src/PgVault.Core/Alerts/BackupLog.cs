using PgVault.Core.Config;
using PgVault.Core.Drill;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Verify;

namespace PgVault.Core.Alerts;

/// <summary>
/// The seed's backup_log (<c>clusters.NAME.catalog_table</c>): one row per backup (per database for
/// a logical one), per verified backup and per drill. The table (and schema) is created when
/// missing. Writing it never fails the caller: any problem is one warning, and false is returned.
/// </summary>
public sealed class BackupLog(string cluster, CatalogTableConfig? config, IProgressSink progress)
{
    public static BackupLog For(Vault.Vault vault, IProgressSink progress) => new(vault.Cluster.Name, vault.Cluster.CatalogTable, progress);

    public bool Enabled => config is not null;

    public Task<bool> BackupAsync(Vault.BackupResult backup, CancellationToken ct) => WriteAsync(Rows(backup), ct);

    public Task<bool> VerifyAsync(VerifyResult verified, CancellationToken ct) => WriteAsync(Rows(verified), ct);

    public Task<bool> DrillAsync(DrillRecord drill, CancellationToken ct) => WriteAsync([Row(drill)], ct);

    /// <summary>A backup that failed before it was committed: one FAILED row (the databases asked for, or the cluster).</summary>
    public Task<bool> FailedBackupAsync(string type, IReadOnlyList<string> databases, DateTimeOffset started, PgVaultException error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var names = databases.Count == 0 ? [null] : databases.Select(d => (string?)d).ToList();
        return WriteAsync(names.Select(d => new BackupLogRow(d, type, null, null, started, now, BackupLogRow.Failed)
        {
            Cluster = cluster,
            ErrorMessage = $"{error.Code.WireName()}: {error.Message}",
        }).ToList(), ct);
    }

    public async Task<bool> WriteAsync(IReadOnlyList<BackupLogRow> rows, CancellationToken ct)
    {
        if (config is null || rows.Count == 0) return false;
        try
        {
            var info = ConnInfo.Parse(config.Connection);
            await using var connection = await PgServer.ConnectAsync(info, ct).ConfigureAwait(false);
            await BackupLogSql.EnsureTableAsync(connection, config.Schema, config.Table, ct).ConfigureAwait(false);
            await BackupLogSql.InsertAsync(connection, config.Schema, config.Table, rows, ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is PgVaultException or Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            progress.Warn($"unable to write {rows.Count} row(s) to {config.QualifiedName} (catalog_table of cluster '{cluster}'): {FirstLine(e.Message)}");
            return false;
        }
    }

    internal List<BackupLogRow> Rows(Vault.BackupResult backup)
    {
        var m = backup.Manifest;
        string repositories = string.Join(",", backup.Repositories);
        if (m.Physical is { } p)
            return [new BackupLogRow(null, m.Type, m.Id, m.SizeBytes, m.StartedAt, m.FinishedAt, BackupLogRow.Success)
            {
                Cluster = cluster, StoredSize = m.StoredBytes, StartLsn = p.StartLsn, StopLsn = p.StopLsn, Repository = repositories,
            }];
        var rows = m.Databases.Select(d => new BackupLogRow(d.Name, m.Type, m.Id, d.SizeBytes, m.StartedAt, m.FinishedAt, BackupLogRow.Success)
        {
            Cluster = cluster, StoredSize = d.StoredBytes, Repository = repositories,
        }).ToList();
        if (m.Globals is { } g)
            rows.Add(new BackupLogRow("(globals)", m.Type, m.Id, g.File.SizeBytes, m.StartedAt, m.FinishedAt, BackupLogRow.Success)
            {
                Cluster = cluster, StoredSize = g.File.StoredBytes, Repository = repositories,
            });
        return rows;
    }

    internal List<BackupLogRow> Rows(VerifyResult verified)
    {
        var rows = verified.Repositories.SelectMany(r => r.Backups.Select(b => new BackupLogRow(null, "verify", b.Id, null, verified.Time, DateTimeOffset.UtcNow,
            b.Status == VerifyStatus.Valid ? BackupLogRow.Success : BackupLogRow.Failed)
        {
            Cluster = cluster, Repository = r.Repository, ErrorMessage = b.Problems.Count > 0 ? string.Join("; ", b.Problems) : null,
        })).ToList();
        // WAL-only, or problems outside any one backup (the archive): one row for the whole run.
        if (rows.Count == 0 || (!verified.Valid && rows.All(r => r.Status == BackupLogRow.Success)))
            rows.Add(new BackupLogRow(null, "verify", null, null, verified.Time, DateTimeOffset.UtcNow, verified.Valid ? BackupLogRow.Success : BackupLogRow.Failed)
            {
                Cluster = cluster, Repository = string.Join(",", verified.Repositories.Select(r => r.Repository)),
                ErrorMessage = verified.Problems.Count > 0 ? string.Join("; ", verified.Problems) : null,
            });
        return rows;
    }

    internal BackupLogRow Row(DrillRecord drill) =>
        new(null, "drill", drill.Backup, drill.BytesRestored, drill.StartedAt, drill.FinishedAt, drill.Result == DrillRecord.Passed ? BackupLogRow.Success : BackupLogRow.Failed)
        {
            Cluster = cluster, RtoSeconds = drill.RtoSeconds, ErrorMessage = drill.Failure is { } f ? $"{drill.FailedPhase}: {f}" : null,
        };

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
