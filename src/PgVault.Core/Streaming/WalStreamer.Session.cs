using System.Buffers;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Wal;

namespace PgVault.Core.Streaming;

public sealed partial class WalStreamer
{
    /// <summary>
    /// One replication connection: IDENTIFY_SYSTEM, READ_REPLICATION_SLOT, finish the timelines the
    /// server has left behind, then START_REPLICATION at the start of the segment to resume (the
    /// spool is written over with the same bytes) until the stream ends (an error, the end of a
    /// timeline, or cancellation).
    /// </summary>
    private async Task SessionAsync(WalSpool spool, WalArchive archive, CancellationToken ct)
    {
        await using var conn = NewReplicationConnection();
        try
        {
            await conn.Open(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw PgServer.Explain(e, vault.Connection);
        }
        foreach (var path in spool.CompletedSegments())
            await PushSegmentAsync(archive, path, ct).ConfigureAwait(false);
        var system = await conn.IdentifySystem(ct).ConfigureAwait(false);
        var slot = await conn.ReadReplicationSlot(_slot, ct).ConfigureAwait(false)
            ?? throw new PgVaultException(ErrorCode.ReplicationSlotMissing, $"replication slot \"{_slot}\" does not exist on {vault.Connection.Describe()}",
                "it was dropped while streaming; create it again with 'pgvault wal-stream --create-slot'");
        uint serverTimeline = system.Timeline;
        var (timeline, position) = _resume
            ?? (slot.RestartTimeline ?? serverTimeline, slot.RestartLsn is { } r ? (ulong)r : await FallbackStartAsync(archive, (ulong)system.XLogPos, ct).ConfigureAwait(false));

        // The server is on a newer timeline: finish each older one we have received to its end.
        while (timeline < serverTimeline)
        {
            string history = await ReadHistoryAsync(archive, serverTimeline, ct).ConfigureAwait(false);
            var change = StreamMath.SwitchOf(TimelineHistory.Spans(serverTimeline, history), timeline)
                ?? throw new PgVaultException(ErrorCode.TimelineChanged,
                    $"timeline {timeline} is not in the history of the server's timeline {serverTimeline}: it is not the server this streamer followed",
                    "point the cluster's connection at the server this archive belongs to, or at a new cluster name");
            if (position < change.End) break;
            await FinishTimelineAsync(spool, archive, timeline, change.End, change.Next, ct).ConfigureAwait(false);
            timeline = change.Next;
            position = change.End;
        }

        ulong start = StreamMath.SegmentStart(position, _segmentSize);
        if (_startLsn == 0) _startLsn = start;
        spool.Reset(start);
        _resume = (timeline, start);
        // Never move the slot back behind what it already holds; asynchronous flush is what the repositories have.
        ulong reported = Math.Max(slot.RestartLsn is { } rl ? (ulong)rl : start, _synchronous ? 0 : _archivedEnd);
        conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(reported));
        progress.Info($"START_REPLICATION at {Lsn.FormatLsn(start)} on timeline {timeline} (server on timeline {serverTimeline} at {system.XLogPos})");

        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var syncer = _synchronous ? Task.CompletedTask : SyncLoopAsync(spool, session.Token);
        // Complete segments are pushed beside the stream, so a slow upload never holds back flush reports (and commits).
        var completedSegments = System.Threading.Channels.Channel.CreateUnbounded<string>(new() { SingleReader = true, SingleWriter = true });
        var pusher = Task.Run(async () =>
        {
            await foreach (var path in completedSegments.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await PushSegmentAsync(archive, path, ct).ConfigureAwait(false);
                if (_synchronous) continue;
                conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(_archivedEnd));
                try
                {
                    await conn.SendStatusUpdate(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidOperationException or NpgsqlException)
                {
                    // the stream ended meanwhile: the next session reports it
                }
            }
        }, ct);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await foreach (var message in conn.StartReplication(slot, new NpgsqlLogSequenceNumber(start), ct, timeline).ConfigureAwait(false))
            {
                int length = 0;
                int read;
                while ((read = await message.Data.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false)) > 0)
                {
                    length += read;
                    if (length == buffer.Length)
                    {
                        byte[] larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }
                }
                ulong lsn = (ulong)message.WalStart;
                var completed = spool.Write(timeline, lsn, buffer.AsSpan(0, length));
                _resume = (timeline, lsn + (ulong)length);
                _everStreamed = true;
                if (_synchronous)
                {
                    // The flush point of a synchronous standby: durable in the spool before the commit returns.
                    conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(spool.Sync()));
                    await conn.SendStatusUpdate(ct).ConfigureAwait(false);
                }
                foreach (var path in completed) completedSegments.Writer.TryWrite(path);
                if (pusher.IsFaulted) await pusher.ConfigureAwait(false); // a failed push ends the session
                SetStatus(WalStreamState.Streaming, spool, conn.LastReceivedLsn, null);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await session.CancelAsync().ConfigureAwait(false);
            await syncer.ConfigureAwait(false);
            // What was received whole is pushed before the next session (or left in the spool for the next run when cancelled).
            completedSegments.Writer.TryComplete();
            try
            {
                await pusher.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopped: what is left is pushed by the next run
            }
        }
    }

    /// <summary>Asynchronous mode: the spool is fsynced once per status interval, so the loss window is bounded by it.</summary>
    private async Task SyncLoopAsync(WalSpool spool, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_interval, ct).ConfigureAwait(false);
                spool.Sync();
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException e)
        {
            progress.Warn($"unable to fsync the spool: {e.Message}");
        }
    }

    /// <summary>A slot that never reserved WAL: after the newest archived segment (when the server still has it), else the server's position.</summary>
    private async Task<ulong> FallbackStartAsync(WalArchive archive, ulong serverPosition, CancellationToken ct)
    {
        if (await archive.NewestSegmentAsync(ct).ConfigureAwait(false) is { } newest)
        {
            var (_, segment) = WalSegments.Parse(newest, _segmentSize);
            ulong next = (segment + 1) * (ulong)_segmentSize;
            if (next <= serverPosition) return next;
        }
        return StreamMath.SegmentStart(serverPosition, _segmentSize);
    }

    /// <summary>
    /// The end of <paramref name="timeline"/> at <paramref name="end"/>: the next timeline's history
    /// file and the old timeline's last segment (as SEGMENT.partial, cut at the switch point) go into
    /// the archive, as pg_receivewal and Barman keep them.
    /// </summary>
    private async Task FinishTimelineAsync(WalSpool spool, WalArchive archive, uint timeline, ulong end, uint next, CancellationToken ct)
    {
        string historyName = StreamMath.HistoryName(next);
        string content = await ReadHistoryAsync(archive, next, ct).ConfigureAwait(false);
        string historyPath = Path.Combine(spool.Directory, historyName);
        await File.WriteAllTextAsync(historyPath, content, ct).ConfigureAwait(false);
        File.SetUnixFileMode(historyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await archive.PushAsync(historyPath, vault.Settings.Archive.Compression, ct).ConfigureAwait(false);
        File.Delete(historyPath);
        _histories++;
        if (spool.FinishTimeline(timeline, end) is { } partial)
        {
            try
            {
                await archive.PushAsync(partial, vault.Settings.Archive.Compression, ct).ConfigureAwait(false);
                _partials++;
            }
            catch (PgVaultException e) when (e.Code == ErrorCode.WalConflict)
            {
                // archive_command of the promoted server stores its own (whole-size) copy under the same name.
                Warn($"{Path.GetFileName(partial)} is already archived with other content (from archive_command?); the streamed copy is not stored: {e.Message}");
            }
            File.Delete(partial);
        }
        _archivedEnd = end;
        progress.Info($"timeline {timeline} ended at {Lsn.FormatLsn(end)}: archived {historyName}; following timeline {next}");
    }

    /// <summary>
    /// A timeline history file: over a normal connection with pg_read_binary_file (Npgsql's
    /// TIMELINE_HISTORY fails on PostgreSQL 15), else from the archive.
    /// </summary>
    private async Task<string> ReadHistoryAsync(WalArchive archive, uint timeline, CancellationToken ct)
    {
        string name = StreamMath.HistoryName(timeline);
        string? serverProblem;
        try
        {
            await using var conn = await PgServer.ConnectAsync(vault.Connection, ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_read_binary_file($1)", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = "pg_wal/" + name });
            var bytes = (byte[])(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
        catch (PostgresException e)
        {
            serverProblem = e.MessageText;
        }
        string temp = Path.Combine(Path.GetTempPath(), $"pgvault-{Environment.ProcessId}-{name}");
        try
        {
            var got = await archive.GetAsync(name, temp, ct).ConfigureAwait(false);
            if (got.Status == WalGetStatus.Intact) return await File.ReadAllTextAsync(temp, ct).ConfigureAwait(false);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        throw new PgVaultException(ErrorCode.WalMissing, $"unable to read {name}: the server says '{serverProblem}' and the archive does not hold it",
            $"GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO {PgServer.QuoteIdent(vault.Connection.User)}; or archive the history file");
    }
}
