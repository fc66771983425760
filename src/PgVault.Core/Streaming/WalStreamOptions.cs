namespace PgVault.Core.Streaming;

/// <summary>What wal-stream does: stream (until cancelled), or only create or drop its slot.</summary>
public enum WalStreamAction
{
    Stream,
    CreateSlot,
    DropSlot,
}

/// <summary>
/// What `pgvault wal-stream` was asked for. Null fields come from clusters.NAME.streaming, then the
/// defaults (slot and application name <c>pgvault_&lt;cluster&gt;</c>, asynchronous, status every 10 s).
/// </summary>
public sealed record WalStreamOptions
{
    public WalStreamAction Action { get; init; } = WalStreamAction.Stream;

    /// <summary>Physical replication slot (--slot).</summary>
    public string? Slot { get; init; }

    /// <summary>application_name of the replication connection, the name synchronous_standby_names must list (--application-name).</summary>
    public string? ApplicationName { get; init; }

    /// <summary>Report flush after each received chunk is fsynced (--synchronous): with synchronous_standby_names naming us, RPO 0.</summary>
    public bool? Synchronous { get; init; }

    /// <summary>Seconds between status messages (and, asynchronous, between fsyncs of the spool) (--status-interval).</summary>
    public int? StatusIntervalSeconds { get; init; }

    /// <summary>Longest wait between reconnection attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>The state of a running streamer, for status and metrics (<see cref="WalStreamer.Status"/>).</summary>
public enum WalStreamState
{
    Starting,
    Streaming,
    Reconnecting,
    Stopped,
}

/// <summary>
/// A snapshot of a streamer: what `status`, metrics and a daemon need. LSNs in PostgreSQL's text
/// form; <see cref="LagBytes"/> is the server's position (as last heard) minus what is durable in the spool.
/// </summary>
public sealed record WalStreamStatus(
    WalStreamState State,
    string Slot,
    uint Timeline,
    string? ReceivedLsn,
    string? FlushedLsn,
    string? ArchivedLsn,
    string? ServerLsn,
    long LagBytes,
    DateTimeOffset? LastMessageAt,
    string? LastError);

/// <summary>The outcome of a wal-stream run (after a clean stop), or of --create-slot / --drop-slot.</summary>
public sealed record WalStreamResult(
    string Slot,
    string Action,
    string ApplicationName,
    bool Synchronous,
    uint Timeline,
    string? StartLsn,
    string? FlushedLsn,
    string? ArchivedLsn,
    int SegmentsArchived,
    int PartialsArchived,
    int HistoryFilesArchived,
    int Reconnects,
    IReadOnlyList<string> Warnings);
