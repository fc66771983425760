using Npgsql;
using Npgsql.Replication;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Streaming;

public sealed partial class WalStreamer
{
    /// <summary>What the preflight learnt: segment size and the slot (null when it does not exist).</summary>
    private sealed record ServerSlotFacts(long SegmentSize, bool SlotExists, bool SlotActive, string? RestartLsn, long? RetainedBytes, string? WalStatus);

    /// <summary>
    /// Checks over a normal connection, before any replication command, each failure one clear line:
    /// wal_level, max_wal_senders, max_replication_slots, the REPLICATION attribute; warns when
    /// max_slot_wal_keep_size is -1 and shows the WAL the slot retains.
    /// </summary>
    private async Task<ServerSlotFacts> PreflightAsync(WalStreamAction action, CancellationToken ct)
    {
        var info = vault.Connection;
        await using var conn = await PgServer.ConnectAsync(info, ct).ConfigureAwait(false);
        string walLevel, keepSize;
        int senders, slots;
        bool replication;
        long segmentSize;
        await using (var cmd = new NpgsqlCommand(
            "SELECT current_setting('wal_level'), current_setting('max_wal_senders')::int, current_setting('max_replication_slots')::int, " +
            "current_setting('max_slot_wal_keep_size'), (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), " +
            "(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')", conn))
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            await reader.ReadAsync(ct).ConfigureAwait(false);
            walLevel = reader.GetString(0);
            senders = reader.GetInt32(1);
            slots = reader.GetInt32(2);
            keepSize = reader.GetString(3);
            replication = !reader.IsDBNull(4) && reader.GetBoolean(4);
            segmentSize = reader.GetInt64(5);
        }
        if (walLevel == "minimal")
            throw new PgVaultException(ErrorCode.ReplicationUnavailable, $"PostgreSQL at {info.Describe()} has wal_level = minimal: it cannot stream WAL",
                "set wal_level = replica (and max_wal_senders, max_replication_slots > 0) and restart the server");
        if (senders == 0)
            throw new PgVaultException(ErrorCode.ReplicationUnavailable, $"PostgreSQL at {info.Describe()} has max_wal_senders = 0: it cannot stream WAL",
                "set max_wal_senders to at least 2 and restart the server");
        if (slots == 0)
            throw new PgVaultException(ErrorCode.ReplicationUnavailable, $"PostgreSQL at {info.Describe()} has max_replication_slots = 0: wal-stream needs a slot",
                "set max_replication_slots to at least 1 and restart the server");
        if (!replication)
            throw new PgVaultException(ErrorCode.ReplicationNotPermitted, $"role \"{info.User}\" has no REPLICATION attribute: it cannot stream WAL",
                $"ALTER ROLE {PgServer.QuoteIdent(info.User)} REPLICATION; and allow it a 'replication' line in pg_hba.conf");

        await using var slotCmd = new NpgsqlCommand(
            "SELECT slot_type, active, restart_lsn::text, wal_status, " +
            "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, restart_lsn)::bigint " +
            "FROM pg_replication_slots WHERE slot_name = $1", conn);
        slotCmd.Parameters.Add(new NpgsqlParameter { Value = _slot });
        await using var slotReader = await slotCmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await slotReader.ReadAsync(ct).ConfigureAwait(false))
        {
            if (action == WalStreamAction.Stream)
                throw new PgVaultException(ErrorCode.ReplicationSlotMissing, $"replication slot \"{_slot}\" does not exist on {info.Describe()}",
                    $"create it once with 'pgvault wal-stream --create-slot{(_slot == StreamingDefault() ? "" : " --slot " + _slot)}'");
            return new ServerSlotFacts(segmentSize, false, false, null, null, null);
        }
        if (slotReader.GetString(0) != "physical")
            throw new PgVaultException(ErrorCode.ReplicationSlotMissing, $"replication slot \"{_slot}\" on {info.Describe()} is a {slotReader.GetString(0)} slot, not a physical one",
                "pass --slot with the name of a physical slot, or let --create-slot create one");
        bool active = slotReader.GetBoolean(1);
        string? restart = slotReader.IsDBNull(2) ? null : slotReader.GetString(2);
        string? status = slotReader.IsDBNull(3) ? null : slotReader.GetString(3);
        long? retained = slotReader.IsDBNull(4) ? null : slotReader.GetInt64(4);
        if (action == WalStreamAction.Stream)
        {
            if (status == "lost")
                throw new PgVaultException(ErrorCode.ReplicationSlotMissing,
                    $"replication slot \"{_slot}\" on {info.Describe()} was invalidated (wal_status lost: the server removed WAL it held, max_slot_wal_keep_size)",
                    "the archive has a gap from here: drop and create the slot (--drop-slot, --create-slot) and take a new backup");
            if (keepSize == "-1")
                Warn($"max_slot_wal_keep_size is -1: if this streamer stops for long, slot {_slot} keeps WAL on the server until its disk is full; set a limit (e.g. ALTER SYSTEM SET max_slot_wal_keep_size = '50GB')");
            if (active)
                throw new PgVaultException(ErrorCode.StreamerRunning, $"replication slot \"{_slot}\" is in use by another process on {info.Describe()}",
                    "stop the other streamer (see pg_stat_replication), or use another --slot");
            if (retained is { } bytes)
                progress.Info($"slot {_slot} retains {Units.Bytes(bytes)} of WAL on the server (restart_lsn {restart}, wal_status {status})");
        }
        return new ServerSlotFacts(segmentSize, true, active, restart, retained, status);
    }

    private string StreamingDefault() => Config.StreamingConfig.DefaultName(vault.Cluster.Name);

    private void Warn(string message)
    {
        _warnings.Add(message);
        progress.Warn(message);
    }

    private PhysicalReplicationConnection NewReplicationConnection() =>
        new(vault.Connection.ToNpgsqlConnectionString(_application)) { WalReceiverStatusInterval = _interval };

    /// <summary>--create-slot: a physical slot that reserves WAL at once; an existing one is reported, not an error.</summary>
    private async Task<WalStreamResult> CreateSlotAsync(ServerSlotFacts facts, CancellationToken ct)
    {
        if (facts.SlotExists)
        {
            progress.Info($"replication slot {_slot} already exists (restart_lsn {facts.RestartLsn})");
            return Result("exists", 0) with { StartLsn = facts.RestartLsn };
        }
        await using var conn = NewReplicationConnection();
        await conn.Open(ct).ConfigureAwait(false);
        await conn.CreateReplicationSlot(_slot, isTemporary: false, reserveWal: true, ct).ConfigureAwait(false);
        var slot = await conn.ReadReplicationSlot(_slot, ct).ConfigureAwait(false);
        string? restart = slot?.RestartLsn is { } lsn ? Lsn.FormatLsn((ulong)lsn) : null;
        progress.Info($"created replication slot {_slot} (restart_lsn {restart})");
        return Result("created", 0) with { StartLsn = restart, Timeline = slot?.RestartTimeline ?? 0 };
    }

    /// <summary>--drop-slot: drops the slot (its retained WAL is freed); an absent one is reported, not an error.</summary>
    private async Task<WalStreamResult> DropSlotAsync(ServerSlotFacts facts, CancellationToken ct)
    {
        if (!facts.SlotExists)
        {
            progress.Info($"replication slot {_slot} does not exist");
            return Result("absent", 0);
        }
        if (facts.SlotActive)
            throw new PgVaultException(ErrorCode.StreamerRunning, $"replication slot \"{_slot}\" is in use by another process", "stop the streamer first");
        await using var conn = NewReplicationConnection();
        await conn.Open(ct).ConfigureAwait(false);
        await conn.DropReplicationSlot(_slot, wait: false, ct).ConfigureAwait(false);
        progress.Info($"dropped replication slot {_slot}");
        return Result("dropped", 0) with { StartLsn = facts.RestartLsn };
    }
}
