using System.Text.Json.Serialization;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Repository;

/// <summary>
/// What every backup has, whatever its kind: the part of a manifest that `list`, status and
/// metrics need, small enough that the catalog index holds one per backup. Built from a manifest
/// (<see cref="From"/>); the manifest stays the commit point and the source of truth.
/// </summary>
public sealed record BackupHeader
{
    public string Id { get; init; } = "";
    /// <summary>logical | full | diff | incr (as in the manifest).</summary>
    public string Type { get; init; } = "";
    public string Cluster { get; init; } = "";
    public string Status { get; init; } = "complete";
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public double DurationSeconds { get; init; }
    public long SizeBytes { get; init; }
    public long StoredBytes { get; init; }
    public string Compression { get; init; } = "";
    public bool Encrypted { get; init; }
    public string PgVaultVersion { get; init; } = "";
    public ServerFacts Server { get; init; } = new();
    /// <summary>Logical: the databases dumped (names only).</summary>
    public List<string> Databases { get; init; } = [];
    /// <summary>Logical: the scope of the globals dumped (all | roles | tablespaces), or null.</summary>
    public string? Globals { get; init; }
    /// <summary>Physical (full, diff, incr): WAL range, reference chain and file counts.</summary>
    public PhysicalHeader? Physical { get; init; }

    [JsonIgnore]
    public BackupKind Kind => BackupManifest.KindOf(Type, Id);

    [JsonIgnore]
    public bool IsPhysical => Kind.IsPhysical();

    public static BackupHeader From(BackupManifest m) => new()
    {
        Id = m.Id, Type = m.Type, Cluster = m.Cluster, Status = m.Status, StartedAt = m.StartedAt, FinishedAt = m.FinishedAt,
        DurationSeconds = m.DurationSeconds, SizeBytes = m.SizeBytes, StoredBytes = m.StoredBytes, Compression = m.Compression,
        Encrypted = m.Encrypted, PgVaultVersion = m.PgVaultVersion, Server = m.Server,
        Databases = m.Databases.Select(d => d.Name).ToList(), Globals = m.Globals?.Scope,
        Physical = m.Physical is { } p ? PhysicalHeader.From(p) : null,
    };
}

/// <summary>The header fields of a physical backup (<see cref="PhysicalBackupInfo"/> without its file list).</summary>
public sealed record PhysicalHeader
{
    public string? Reference { get; init; }
    public List<string> Chain { get; init; } = [];
    public string StartLsn { get; init; } = "";
    public string StopLsn { get; init; } = "";
    public int Timeline { get; init; }
    public string StartWal { get; init; } = "";
    public string StopWal { get; init; } = "";
    public DateTimeOffset StartTime { get; init; }
    public DateTimeOffset StopTime { get; init; }
    public int FilesStored { get; init; }
    public int FilesReferenced { get; init; }
    public long BytesReferenced { get; init; }
    public int FilesAsDeltas { get; init; }
    public int BadPages { get; init; }

    public static PhysicalHeader From(PhysicalBackupInfo p) => new()
    {
        Reference = p.Reference, Chain = p.Chain, StartLsn = p.StartLsn, StopLsn = p.StopLsn, Timeline = p.Timeline,
        StartWal = p.StartWal, StopWal = p.StopWal, StartTime = p.StartTime, StopTime = p.StopTime, FilesStored = p.FilesStored,
        FilesReferenced = p.FilesReferenced, BytesReferenced = p.BytesReferenced, FilesAsDeltas = p.FilesAsDeltas, BadPages = p.BadPages,
    };
}

/// <summary>The typed details of a logical backup: its databases and globals.</summary>
public sealed record LogicalBackupInfo(IReadOnlyList<LogicalDatabase> Databases, LogicalGlobals? Globals);

/// <summary>
/// clusters/C/catalog.json: the header of every complete backup of the cluster in this repository,
/// oldest first, each with the size and time of its manifest as listed when it was indexed (a
/// manifest that changed since is read again), and the manifests that could not be read. See
/// <see cref="CatalogIndex"/> and docs/repository-format.md.
/// </summary>
public sealed record CatalogIndexFile
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;
    public string Cluster { get; init; } = "";
    public DateTimeOffset UpdatedAt { get; init; }
    public List<CatalogIndexEntry> Backups { get; init; } = [];
    /// <summary>Manifests that were damaged or unreadable: skipped with a warning until they change.</summary>
    public List<UnreadableManifest> Unreadable { get; init; } = [];
}

public sealed record CatalogIndexEntry
{
    public BackupHeader Header { get; init; } = new();
    public long ManifestSize { get; init; }
    public DateTimeOffset ManifestModified { get; init; }
}

public sealed record UnreadableManifest
{
    public string Id { get; init; } = "";
    public long ManifestSize { get; init; }
    public DateTimeOffset ManifestModified { get; init; }
    public string Reason { get; init; } = "";
}
