namespace PgVault.Core.Errors;

/// <summary>
/// The stable codes of PgVault's errors, as pgBackRest has fixed error codes: a code keeps its
/// meaning and its wire name (<see cref="ErrorCodes.WireName"/>) across releases, so scripts,
/// metrics and alerts may match on it. docs/errors.md lists every code with its usual fix.
/// </summary>
public enum ErrorCode
{
    /// <summary>The command line is wrong.</summary>
    Usage,
    /// <summary>The configuration (file, environment variable) is wrong or incomplete.</summary>
    ConfigInvalid,
    /// <summary>A configuration or secret file is readable by others.</summary>
    ConfigPermission,
    /// <summary>The repository passphrase cannot be read or is unusable.</summary>
    PassphraseUnavailable,
    /// <summary>The passphrase does not open the repository's key.</summary>
    WrongPassphrase,
    /// <summary>The repository's encryption and the configuration disagree.</summary>
    EncryptionMismatch,
    RepositoryNotInitialised,
    RepositoryAlreadyInitialised,
    /// <summary>The repository has a format (or cipher, compression) this version does not handle.</summary>
    RepositoryFormat,
    RepositoryUnreachable,
    RepositoryAccessDenied,
    /// <summary>A stored object failed its integrity check.</summary>
    ObjectCorrupt,
    ObjectMissing,
    /// <summary>Another process holds the cluster's lock, or contends for the same object.</summary>
    Locked,
    BackupNotFound,
    NoBackup,
    ServerUnreachable,
    ServerAuthFailed,
    /// <summary>The server cannot serve the request (version, standby, archiving off, other system).</summary>
    ServerRefused,
    ServerPermissionDenied,
    DatabaseNotFound,
    ServerQueryFailed,
    ToolMissing,
    ToolFailed,
    /// <summary>A local file PgVault must read (data directory, WAL file) cannot be read.</summary>
    SourceUnreadable,
    WalConflict,
    WalMissing,
    WalDamaged,
    ArchiveTimeout,
    ArchiveFailed,
    /// <summary>The recovery target cannot be reached from the chosen backup.</summary>
    RecoveryTargetInvalid,
    /// <summary>The restore target is not a directory this restore may write into.</summary>
    RestoreTargetInvalid,
    RestoreTargetNotEmpty,
    /// <summary>A server runs on the target, or the target database already holds data.</summary>
    RestoreTargetOccupied,
    VerificationFailed,
    /// <summary>`pgvault verify` found a backup or the WAL archive not valid.</summary>
    VerifyFailed,
    TimelineChanged,
    IoFailed,
    /// <summary>A backup's reference was removed by an expire or delete after it was chosen (the backup chooses again).</summary>
    ReferenceExpired,
    /// <summary>A delete or expire was refused: kept backups depend on it, or it is pinned.</summary>
    RetentionRefused,
    Interrupted,
    Internal,
    /// <summary>A restore drill found a problem (its record, stored too, names the phase and what broke).</summary>
    DrillFailed,
    /// <summary>`pgvault report`: a configured objective (RPO, RTO, drill or verify age) is missed.</summary>
    ObjectiveMissed,
    /// <summary>An alert channel could not deliver an alert (webhook, smtp or command).</summary>
    AlertFailed,
    /// <summary>The server cannot serve WAL streaming (wal_level, max_wal_senders, max_replication_slots).</summary>
    ReplicationUnavailable,
    /// <summary>The role has no REPLICATION attribute (nor superuser).</summary>
    ReplicationNotPermitted,
    /// <summary>The replication slot wal-stream uses does not exist.</summary>
    ReplicationSlotMissing,
    /// <summary>Another wal-stream holds the spool lock, or another process uses the slot.</summary>
    StreamerRunning,
    /// <summary>--verify-block-map: a page changed that the WAL block map did not list.</summary>
    BlockMapMismatch,
}

/// <summary>The one place that gives each <see cref="ErrorCode"/> its wire name and exit-code kind.</summary>
public static class ErrorCodes
{
    /// <summary>The code's stable kebab-case name, used in JSON output, metrics and alerts.</summary>
    public static string WireName(this ErrorCode code) => Describe(code).Wire;

    /// <summary>The exit-code kind of the code.</summary>
    public static ErrorKind Kind(this ErrorCode code) => Describe(code).Kind;

    private static (string Wire, ErrorKind Kind) Describe(ErrorCode code) => code switch
    {
        ErrorCode.Usage => ("usage", ErrorKind.Usage),
        ErrorCode.ConfigInvalid => ("config-invalid", ErrorKind.Usage),
        ErrorCode.ConfigPermission => ("config-permission", ErrorKind.Failure),
        ErrorCode.PassphraseUnavailable => ("passphrase-unavailable", ErrorKind.Failure),
        ErrorCode.WrongPassphrase => ("wrong-passphrase", ErrorKind.Failure),
        ErrorCode.EncryptionMismatch => ("encryption-mismatch", ErrorKind.Failure),
        ErrorCode.RepositoryNotInitialised => ("repository-not-initialised", ErrorKind.Failure),
        ErrorCode.RepositoryAlreadyInitialised => ("repository-already-initialised", ErrorKind.Failure),
        ErrorCode.RepositoryFormat => ("repository-format", ErrorKind.Failure),
        ErrorCode.RepositoryUnreachable => ("repository-unreachable", ErrorKind.Failure),
        ErrorCode.RepositoryAccessDenied => ("repository-access-denied", ErrorKind.Failure),
        ErrorCode.ObjectCorrupt => ("object-corrupt", ErrorKind.Failure),
        ErrorCode.ObjectMissing => ("object-missing", ErrorKind.Failure),
        ErrorCode.Locked => ("locked", ErrorKind.Failure),
        ErrorCode.BackupNotFound => ("backup-not-found", ErrorKind.Failure),
        ErrorCode.NoBackup => ("no-backup", ErrorKind.Failure),
        ErrorCode.ServerUnreachable => ("server-unreachable", ErrorKind.Failure),
        ErrorCode.ServerAuthFailed => ("server-auth-failed", ErrorKind.Failure),
        ErrorCode.ServerRefused => ("server-refused", ErrorKind.Failure),
        ErrorCode.ServerPermissionDenied => ("server-permission-denied", ErrorKind.Failure),
        ErrorCode.DatabaseNotFound => ("database-not-found", ErrorKind.Failure),
        ErrorCode.ServerQueryFailed => ("server-query-failed", ErrorKind.Failure),
        ErrorCode.ToolMissing => ("tool-missing", ErrorKind.Failure),
        ErrorCode.ToolFailed => ("tool-failed", ErrorKind.Failure),
        ErrorCode.SourceUnreadable => ("source-unreadable", ErrorKind.Failure),
        ErrorCode.WalConflict => ("wal-conflict", ErrorKind.Failure),
        ErrorCode.WalMissing => ("wal-missing", ErrorKind.Failure),
        ErrorCode.WalDamaged => ("wal-damaged", ErrorKind.Failure),
        ErrorCode.ArchiveTimeout => ("archive-timeout", ErrorKind.Failure),
        ErrorCode.ArchiveFailed => ("archive-failed", ErrorKind.Failure),
        ErrorCode.RecoveryTargetInvalid => ("recovery-target-invalid", ErrorKind.Failure),
        ErrorCode.RestoreTargetInvalid => ("restore-target-invalid", ErrorKind.Usage),
        ErrorCode.RestoreTargetNotEmpty => ("restore-target-not-empty", ErrorKind.Usage),
        ErrorCode.RestoreTargetOccupied => ("restore-target-occupied", ErrorKind.Failure),
        ErrorCode.VerificationFailed => ("verification-failed", ErrorKind.Failure),
        ErrorCode.VerifyFailed => ("verify-failed", ErrorKind.Failure),
        ErrorCode.DrillFailed => ("drill-failed", ErrorKind.Failure),
        ErrorCode.ObjectiveMissed => ("objective-missed", ErrorKind.Failure),
        ErrorCode.AlertFailed => ("alert-failed", ErrorKind.Failure),
        ErrorCode.TimelineChanged => ("timeline-changed", ErrorKind.Failure),
        ErrorCode.IoFailed => ("io-failed", ErrorKind.Failure),
        ErrorCode.ReferenceExpired => ("reference-expired", ErrorKind.Failure),
        ErrorCode.RetentionRefused => ("retention-refused", ErrorKind.Failure),
        ErrorCode.Interrupted => ("interrupted", ErrorKind.Interrupted),
        ErrorCode.Internal => ("internal", ErrorKind.Failure),
        ErrorCode.ReplicationUnavailable => ("replication-unavailable", ErrorKind.Failure),
        ErrorCode.ReplicationNotPermitted => ("replication-not-permitted", ErrorKind.Failure),
        ErrorCode.ReplicationSlotMissing => ("replication-slot-missing", ErrorKind.Failure),
        ErrorCode.StreamerRunning => ("streamer-running", ErrorKind.Failure),
        ErrorCode.BlockMapMismatch => ("block-map-mismatch", ErrorKind.Failure),
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, "an error code without a wire name"),
    };
}
