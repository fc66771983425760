using System.Text.Json.Serialization;

namespace PgVault.Core.Retention;

/// <summary>What retention does with one backup, and every reason for it.</summary>
public sealed record BackupDecision
{
    public string Id { get; init; } = "";
    public string Type { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public bool Keep { get; init; }
    /// <summary>pitr (with all WAL after it), consistent (with the WAL from its start to its stop), kept (logical) or remove.</summary>
    public string Mode { get; init; } = "";
    public IReadOnlyList<string> Reasons { get; init; } = [];
}

/// <summary>
/// WAL that must stay: segments from <see cref="From"/> to <see cref="To"/> (inclusive; null: to
/// the end of the archive) on any timeline. Positions are the 16 hex digits (log, segment) of a
/// segment name, which sort like LSNs whatever the segment size.
/// </summary>
public sealed record WalKeepRange(string From, string? To, string Reason)
{
    public bool Contains(string position) =>
        string.CompareOrdinal(position, From) >= 0 && (To is null || string.CompareOrdinal(position, To) <= 0);
}

/// <summary>A backup being written while retention runs: its reference chain stays, and WAL from a safe bound on.</summary>
public sealed record RunningBackup(string Id, IReadOnlyList<string> Chain, string? KeepWalFrom);

/// <summary>The decisions for every backup of one repository and the WAL that must stay.</summary>
public sealed record RetentionPlan
{
    public IReadOnlyList<BackupDecision> Decisions { get; init; } = [];
    public IReadOnlyList<WalKeepRange> WalKeep { get; init; } = [];
    /// <summary>The oldest backup from which every later moment is recoverable (null: no physical backup).</summary>
    public string? PitrAnchor { get; init; }
    /// <summary>Where the PITR window starts: the anchor's stop time (a restore to an earlier time has no WAL).</summary>
    public DateTimeOffset? RecoverableFrom { get; init; }
    /// <summary>False when the WAL archive is left alone (no physical rule in the policy).</summary>
    public bool ManagesWal { get; init; }

    [JsonIgnore]
    public IEnumerable<BackupDecision> Removed => Decisions.Where(d => !d.Keep);

    /// <summary>Whether a WAL file (segment, partial segment or backup history file) must stay; timeline history files always stay.</summary>
    public bool KeepsWal(string fileName)
    {
        if (!ManagesWal || fileName.EndsWith(".history", StringComparison.Ordinal) || fileName.Length < 24) return true;
        string position = fileName[8..24];
        return WalKeep.Any(r => r.Contains(position));
    }
}
