using Npgsql;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Wal;

namespace PgVault.Core.Streaming;

/// <summary>
/// `pgvault wal-stream`: follows the cluster over the replication protocol with a physical slot,
/// writes the segment being received to a local spool (SEGMENT.partial, fsynced at each flush
/// point) and pushes every complete segment into every repository through the same code as
/// archive-push (<see cref="WalArchive.PushAsync"/>: same names, same idempotence). Runs until the
/// token is cancelled (a clean stop: the spool is synced and the result returned), reconnecting with
/// backoff on errors, so a daemon can run it as a long-lived task and read <see cref="Status"/>.
/// Feedback: write = received; flush = durable in the spool (synchronous: after each chunk's fsync,
/// RPO 0 when synchronous_standby_names names the application name) or, asynchronous, the end of
/// the last segment stored in every repository, so the slot keeps what the repositories lack.
/// </summary>
public sealed partial class WalStreamer(Vault.Vault vault, IProgressSink progress)
{
    private readonly List<string> _warnings = [];
    private string _slot = "";
    private string _application = "";
    private bool _synchronous;
    private TimeSpan _interval;
    private long _segmentSize;
    private (uint Timeline, ulong Lsn)? _resume;
    private ulong _startLsn;
    private ulong _archivedEnd;
    private int _segments;
    private int _partials;
    private int _histories;
    private int _reconnects;
    private bool _everStreamed;
    private volatile WalStreamStatus _status = new(WalStreamState.Starting, "", 0, null, null, null, null, 0, null, null);

    /// <summary>What the streamer is doing now (safe to read from another thread).</summary>
    public WalStreamStatus Status => _status;

    public async Task<WalStreamResult> RunAsync(WalStreamOptions options, CancellationToken ct)
    {
        Resolve(options);
        var facts = await PreflightAsync(options.Action, ct).ConfigureAwait(false);
        _segmentSize = facts.SegmentSize;
        if (options.Action == WalStreamAction.CreateSlot) return await CreateSlotAsync(facts, ct).ConfigureAwait(false);
        if (options.Action == WalStreamAction.DropSlot) return await DropSlotAsync(facts, ct).ConfigureAwait(false);

        using var spool = WalSpool.Open(vault.Settings.Archive.StreamSpoolFor(vault.Cluster.Name), _segmentSize);
        var repositories = await vault.OpenRepositoriesAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        var archive = new WalArchive(repositories, vault.Cluster.Name, progress);

        progress.Info($"streaming WAL of cluster '{vault.Cluster.Name}' with slot {_slot} as {_application} ({(_synchronous ? "synchronous" : "asynchronous")}, status every {_interval.TotalSeconds:0} s) into {spool.Directory}");
        var backoff = TimeSpan.Zero;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                bool streamedBefore = _everStreamed;
                long segmentsBefore = _segments;
                try
                {
                    await SessionAsync(spool, archive, ct).ConfigureAwait(false);
                    backoff = TimeSpan.Zero;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (Retryable(e, _everStreamed))
                {
                    // Npgsql has no word for the end of a timeline: the server's CopyDone surfaces as an unexpected message.
                    string reason = e is PgVaultException pe ? pe.Message
                        : e.Message.Contains("CopyDone", StringComparison.Ordinal) ? $"the server ended the stream of timeline {_resume?.Timeline} (promoted, or the timeline is historic)"
                        : $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
                    // A session that received WAL (e.g. to the end of its timeline) reconnects at once; failures back off.
                    backoff = _everStreamed && (!streamedBefore || _segments > segmentsBefore || _status.State == WalStreamState.Streaming)
                        ? TimeSpan.FromMilliseconds(200) : StreamMath.NextBackoff(backoff, options.MaxBackoff);
                    _reconnects++;
                    SetStatus(WalStreamState.Reconnecting, spool, null, reason);
                    progress.Warn($"streaming stopped: {reason}; reconnecting in {backoff.TotalSeconds:0.#} s");
                }
                try
                {
                    await Task.Delay(backoff, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            spool.Sync();
            SetStatus(WalStreamState.Stopped, spool, null, null);
        }
        progress.Info($"stopped: flushed to {Lsn.FormatLsn(spool.SyncedEnd)}, {_segments} segment(s) archived");
        return Result("streamed", spool.SyncedEnd);
    }

    private void Resolve(WalStreamOptions options)
    {
        var configured = vault.Cluster.Streaming ?? new StreamingConfig();
        string fallback = StreamingConfig.DefaultName(vault.Cluster.Name);
        _slot = options.Slot ?? configured.Slot ?? fallback;
        if (!ConfigLoader.IsSlotName(_slot))
            throw PgVaultException.Usage($"'{_slot}' is not a valid replication slot name", "use 1 to 63 lower-case letters, digits or '_'");
        _application = options.ApplicationName ?? configured.ApplicationName ?? fallback;
        _synchronous = options.Synchronous ?? configured.Synchronous;
        int seconds = options.StatusIntervalSeconds ?? configured.StatusIntervalSeconds ?? StreamingConfig.DefaultStatusIntervalSeconds;
        if (seconds is < 1 or > 3600) throw PgVaultException.Usage($"--status-interval {seconds} must be from 1 to 3600 seconds");
        _interval = TimeSpan.FromSeconds(seconds);
        _status = _status with { Slot = _slot };
    }

    /// <summary>Errors worth a reconnection; configuration and refusal errors end the run, as does any failure before WAL ever flowed.</summary>
    private static bool Retryable(Exception e, bool streamedBefore)
    {
        if (e is PgVaultException pe)
            return streamedBefore && pe.Code is ErrorCode.ServerUnreachable or ErrorCode.ServerRefused or ErrorCode.RepositoryUnreachable or ErrorCode.IoFailed
                or ErrorCode.ServerQueryFailed or ErrorCode.ArchiveFailed or ErrorCode.ObjectCorrupt || (streamedBefore && pe.RepositoryFault);
        if (e is PostgresException pg && pg.SqlState is "58P01" or "42501" or "42704") return false;
        return streamedBefore && e is NpgsqlException or IOException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException;
    }

    private async Task PushSegmentAsync(WalArchive archive, string path, CancellationToken ct)
    {
        var pushed = await archive.PushAsync(path, vault.Settings.Archive.Compression, ct).ConfigureAwait(false);
        File.Delete(path);
        _segments++;
        var (timeline, segment) = WalSegments.Parse(pushed.FileName, _segmentSize);
        ulong end = (segment + 1) * (ulong)_segmentSize;
        if (end > _archivedEnd || timeline > _status.Timeline) _archivedEnd = end;
        progress.Info($"archived {pushed.FileName}" + (pushed.AlreadyThere.Count > 0 ? $" (already in {string.Join(", ", pushed.AlreadyThere)})" : ""));
    }

    private void SetStatus(WalStreamState state, WalSpool spool, NpgsqlTypes.NpgsqlLogSequenceNumber? server, string? error)
    {
        ulong flushed = spool.SyncedEnd;
        ulong serverLsn = server is { } s ? (ulong)s : 0;
        _status = _status with
        {
            State = state,
            Timeline = _resume?.Timeline ?? _status.Timeline,
            ReceivedLsn = spool.WrittenEnd == 0 ? _status.ReceivedLsn : Lsn.FormatLsn(spool.WrittenEnd),
            FlushedLsn = flushed == 0 ? _status.FlushedLsn : Lsn.FormatLsn(flushed),
            ArchivedLsn = _archivedEnd == 0 ? null : Lsn.FormatLsn(_archivedEnd),
            ServerLsn = serverLsn == 0 ? _status.ServerLsn : Lsn.FormatLsn(serverLsn),
            LagBytes = serverLsn > flushed && flushed > 0 ? (long)(serverLsn - flushed) : (serverLsn == 0 ? _status.LagBytes : 0),
            LastMessageAt = state == WalStreamState.Streaming ? DateTimeOffset.UtcNow : _status.LastMessageAt,
            LastError = error ?? (state == WalStreamState.Streaming ? null : _status.LastError),
        };
    }

    private WalStreamResult Result(string action, ulong flushed) => new(
        _slot, action, _application, _synchronous, _resume?.Timeline ?? _status.Timeline,
        _startLsn == 0 ? null : Lsn.FormatLsn(_startLsn),
        flushed == 0 ? null : Lsn.FormatLsn(flushed),
        _archivedEnd == 0 ? null : Lsn.FormatLsn(_archivedEnd),
        _segments, _partials, _histories, _reconnects, _warnings);
}
