using System.Net.Sockets;
using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Monitor;

/// <summary>The server's part of the status: pg_stat_archiver, .ready files, pg_stat_replication, slots.</summary>
public sealed partial class ClusterMonitor
{
    private async Task<ServerFact> QueryServerAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            await using var connection = await PgServer.ConnectAsync(vault.Connection, limit.Token).ConfigureAwait(false);
            var archiver = await MonitoringQueries.ArchiverAsync(connection, limit.Token).ConfigureAwait(false);
            int? ready = await MonitoringQueries.ReadyFilesAsync(connection, limit.Token).ConfigureAwait(false) ?? ReadyFilesInPgData();
            var replication = archiver.InRecovery ? [] : await MonitoringQueries.ReplicationAsync(connection, limit.Token).ConfigureAwait(false);
            var slots = await MonitoringQueries.SlotsAsync(connection, limit.Token).ConfigureAwait(false);
            return new ServerFact { Reachable = true, Archiver = archiver, ReadyFiles = ready, Replication = replication, Slots = slots };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Down($"no answer within {timeout.TotalSeconds:0}s");
        }
        catch (PgVaultException e)
        {
            return Down(e.Message);
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or IOException or TimeoutException)
        {
            return Down(e.Message.Split('\n')[0]);
        }

        ServerFact Down(string why)
        {
            progress.Warn($"cluster '{vault.Cluster.Name}': server checks unknown: {why}");
            return new ServerFact { Reachable = false, Error = why, ReadyFiles = ReadyFilesInPgData() };
        }
    }

    /// <summary>The .ready files under PGDATA/pg_wal/archive_status when the data directory is known and readable here.</summary>
    private int? ReadyFilesInPgData()
    {
        if (vault.Settings.PgData is not { } pgdata) return null;
        try
        {
            string dir = Path.Combine(pgdata, "pg_wal", "archive_status");
            return Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.ready").Count() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
