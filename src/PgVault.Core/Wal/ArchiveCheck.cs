using System.Diagnostics;
using Npgsql;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;

namespace PgVault.Core.Wal;

/// <summary>pg_stat_archiver, as the server reports it.</summary>
public sealed record ArchiverStats(long ArchivedCount, long FailedCount, string? LastArchivedWal, DateTimeOffset? LastArchivedTime, string? LastFailedWal, DateTimeOffset? LastFailedTime);

/// <summary>The outcome of `pgvault check`.</summary>
public sealed record ArchiveCheckResult(
    bool Healthy,
    IReadOnlyList<string> Problems,
    string WalLevel,
    string ArchiveMode,
    string ArchiveCommand,
    string? SwitchedSegment,
    double? SecondsToArchive,
    string? NewestArchivedSegment,
    ArchiverStats? Archiver);

/// <summary>What `pgvault check` was asked for: how long the switched segment may take to reach every repository.</summary>
public sealed record ArchiveCheckOptions(TimeSpan Timeout);

/// <summary>
/// `pgvault check`: the server is set up to archive into PgVault, and archiving works now: a forced
/// WAL switch's segment reaches every repository within the timeout. With clusters.NAME.streaming,
/// the streamer's slot must exist and be in use, and it may replace archive_command as the archiver.
/// </summary>
public sealed class ArchiveCheck(Vault.Vault vault, IProgressSink progress)
{
    public async Task<ArchiveCheckResult> RunAsync(ArchiveCheckOptions options, CancellationToken ct)
    {
        var repositories = await vault.OpenRepositoriesAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        var archive = new WalArchive(repositories, vault.Cluster.Name, progress);
        var connection = vault.Connection;
        var timeout = options.Timeout;
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase("postgres"), ct).ConfigureAwait(false);
        var settings = await ArchiveSetup.SettingsAsync(conn, ct).ConfigureAwait(false);
        string walLevel = settings["wal_level"], mode = settings["archive_mode"], command = settings["archive_command"];
        var problems = new List<string>();
        if (walLevel == "minimal") problems.Add("wal_level is minimal: WAL cannot be archived (set it to replica and restart; see 'pgvault setup archiving')");
        if (mode == "off" && vault.Cluster.Streaming is null) problems.Add("archive_mode is off (set it to on and restart; see 'pgvault setup archiving')");
        if (settings.TryGetValue("archive_library", out var library) && library.Length > 0)
            problems.Add($"archive_library is set ('{library}'), so archive_command is ignored");
        // With clusters.NAME.streaming, wal-stream may be the archiver: its slot must then be in use.
        string? streaming = vault.Cluster.Streaming is { } stream ? await StreamingProblemAsync(conn, stream.Slot ?? "pgvault_" + vault.Cluster.Name, ct).ConfigureAwait(false) : null;
        bool pushes = command.Contains("archive-push", StringComparison.Ordinal) && command.Contains("pgvault", StringComparison.Ordinal);
        if (streaming is not null) problems.Add(streaming);
        else if (!pushes && vault.Cluster.Streaming is null)
            problems.Add(command.Length == 0 ? "archive_command is empty" : $"archive_command does not call pgvault archive-push (it is '{command}')");

        string? segment = null;
        double? seconds = null;
        if (problems.Count == 0)
        {
            await using (var mark = new NpgsqlCommand("SELECT pg_create_restore_point('pgvault check')", conn))
            {
                await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false); // makes sure the switch has WAL to close
            }
            await using (var sw = new NpgsqlCommand("SELECT pg_walfile_name(pg_switch_wal())", conn))
            {
                segment = (string)(await sw.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            var clock = Stopwatch.StartNew();
            while (!await archive.InEveryRepositoryAsync(segment, ct).ConfigureAwait(false))
            {
                if (clock.Elapsed > timeout)
                {
                    problems.Add($"WAL segment {segment} did not reach every repository within {timeout.TotalSeconds:0} s (see pg_stat_archiver and the server log)");
                    break;
                }
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
            if (problems.Count == 0) seconds = Math.Round(clock.Elapsed.TotalSeconds, 3);
        }
        var stats = await StatsAsync(conn, ct).ConfigureAwait(false);
        string? newest = await archive.NewestSegmentAsync(ct).ConfigureAwait(false);
        return new ArchiveCheckResult(problems.Count == 0, problems, walLevel, mode, command, segment, seconds, newest, stats);
    }

    /// <summary>Null when the streaming slot exists, is valid and a streamer holds it; else what is wrong.</summary>
    private static async Task<string?> StreamingProblemAsync(NpgsqlConnection conn, string slot, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT active, coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'physical'", conn);
        cmd.Parameters.AddWithValue(slot);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            return $"wal-stream: replication slot {slot} does not exist (create it with 'pgvault wal-stream --create-slot')";
        if (reader.GetString(1) == "lost")
            return $"wal-stream: replication slot {slot} lost WAL the server removed (max_slot_wal_keep_size): drop and create it, then take a new backup";
        return reader.GetBoolean(0) ? null : $"wal-stream: nothing streams from replication slot {slot} (start 'pgvault wal-stream' or the daemon's {{task: wal-stream}})";
    }

    private static async Task<ArchiverStats> StatsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT archived_count, failed_count, last_archived_wal, last_archived_time, last_failed_wal, last_failed_time FROM pg_stat_archiver", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        DateTimeOffset? Time(int i) => reader.IsDBNull(i) ? null : new DateTimeOffset(reader.GetDateTime(i), TimeSpan.Zero);
        return new ArchiverStats(reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2), Time(3),
            reader.IsDBNull(4) ? null : reader.GetString(4), Time(5));
    }
}
