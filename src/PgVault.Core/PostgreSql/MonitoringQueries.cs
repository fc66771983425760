using Npgsql;

namespace PgVault.Core.PostgreSql;

/// <summary>pg_stat_archiver as the server reports it (times null when it never archived / never failed).</summary>
public sealed record ArchiverStats
{
    public bool ArchiveMode { get; init; }
    public bool InRecovery { get; init; }
    public long ArchivedCount { get; init; }
    public string? LastArchivedWal { get; init; }
    public DateTimeOffset? LastArchivedTime { get; init; }
    public long FailedCount { get; init; }
    public string? LastFailedWal { get; init; }
    public DateTimeOffset? LastFailedTime { get; init; }
    public DateTimeOffset? StatsReset { get; init; }
    /// <summary>The WAL file being written now (null on a standby).</summary>
    public string? CurrentWal { get; init; }
}

/// <summary>One standby or WAL receiver of pg_stat_replication, with lags in bytes (from the primary's current LSN) and seconds.</summary>
public sealed record ReplicationStats
{
    public string ApplicationName { get; init; } = "";
    public string? ClientAddr { get; init; }
    public string State { get; init; } = "";
    public string? SyncState { get; init; }
    public long? SentLagBytes { get; init; }
    public long? FlushLagBytes { get; init; }
    public long? ReplayLagBytes { get; init; }
    public double? WriteLagSeconds { get; init; }
    public double? FlushLagSeconds { get; init; }
    public double? ReplayLagSeconds { get; init; }
}

/// <summary>One replication slot and the WAL it holds back.</summary>
public sealed record SlotStats
{
    public string SlotName { get; init; } = "";
    public string SlotType { get; init; } = "";
    public bool Active { get; init; }
    public string? WalStatus { get; init; }
    public long? RetainedBytes { get; init; }
}

/// <summary>The monitoring queries of `pgvault status` (the seed's queries over pg_stat_archiver and pg_stat_replication).</summary>
public static class MonitoringQueries
{
    public static async Task<ArchiverStats> ArchiverAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT current_setting('archive_mode') <> 'off', pg_is_in_recovery(),
                   archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time, stats_reset,
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END
            FROM pg_stat_archiver
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new ArchiverStats
        {
            ArchiveMode = reader.GetBoolean(0),
            InRecovery = reader.GetBoolean(1),
            ArchivedCount = reader.GetInt64(2),
            LastArchivedWal = reader.IsDBNull(3) ? null : reader.GetString(3),
            LastArchivedTime = Time(reader, 4),
            FailedCount = reader.GetInt64(5),
            LastFailedWal = reader.IsDBNull(6) ? null : reader.GetString(6),
            LastFailedTime = Time(reader, 7),
            StatsReset = Time(reader, 8),
            CurrentWal = reader.IsDBNull(9) ? null : reader.GetString(9),
        };
    }

    /// <summary>
    /// The .ready files in pg_wal/archive_status (segments waiting for archive_command), or null when
    /// the role may not list the directory (pg_ls_archive_statusdir needs pg_monitor).
    /// </summary>
    public static async Task<int?> ReadyFilesAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'", connection);
            return Convert.ToInt32(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (PostgresException e) when (e.SqlState == "42501")
        {
            return null;
        }
    }

    public static async Task<List<ReplicationStats>> ReplicationAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT application_name, client_addr::text, state, sync_state,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                   extract(epoch FROM write_lag)::float8, extract(epoch FROM flush_lag)::float8, extract(epoch FROM replay_lag)::float8
            FROM pg_stat_replication
            ORDER BY application_name, pid
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<ReplicationStats>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new ReplicationStats
            {
                ApplicationName = reader.IsDBNull(0) ? "" : reader.GetString(0),
                ClientAddr = reader.IsDBNull(1) ? null : reader.GetString(1),
                State = reader.IsDBNull(2) ? "" : reader.GetString(2),
                SyncState = reader.IsDBNull(3) ? null : reader.GetString(3),
                SentLagBytes = Long(reader, 4),
                FlushLagBytes = Long(reader, 5),
                ReplayLagBytes = Long(reader, 6),
                WriteLagSeconds = Double(reader, 7),
                FlushLagSeconds = Double(reader, 8),
                ReplayLagSeconds = Double(reader, 9),
            });
        }
        return list;
    }

    public static async Task<List<SlotStats>> SlotsAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT slot_name, slot_type, active, wal_status,
                   CASE WHEN restart_lsn IS NULL THEN NULL
                        ELSE pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, restart_lsn)::bigint END
            FROM pg_replication_slots
            ORDER BY slot_name
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<SlotStats>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new SlotStats
            {
                SlotName = reader.GetString(0),
                SlotType = reader.GetString(1),
                Active = reader.GetBoolean(2),
                WalStatus = reader.IsDBNull(3) ? null : reader.GetString(3),
                RetainedBytes = Long(reader, 4),
            });
        }
        return list;
    }

    private static DateTimeOffset? Time(NpgsqlDataReader reader, int i) =>
        reader.IsDBNull(i) ? null : new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(i), DateTimeKind.Utc));

    private static long? Long(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetInt64(i);

    private static double? Double(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetDouble(i);
}
