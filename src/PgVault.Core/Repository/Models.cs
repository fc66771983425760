using System.Text.Json.Serialization;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Repository;

/// <summary>pgvault.repo.json: what a repository is. See docs/repository-format.md.</summary>
public sealed record RepositoryDescriptor
{
    /// <summary>2: encrypted objects bound to their names, authenticated descriptor (see docs/repository-format.md).</summary>
    public const int CurrentFormat = 2;

    public int Format { get; init; } = CurrentFormat;
    public DateTimeOffset CreatedAt { get; init; }
    public string CreatedBy { get; init; } = "";
    public RepositoryEncryption? Encryption { get; init; }
}

/// <summary>How the data key is protected. The data key never changes; a new passphrase re-wraps it.</summary>
public sealed record RepositoryEncryption
{
    public string Cipher { get; init; } = "aes-256-gcm-framed-v1";
    public string Kdf { get; init; } = "pbkdf2-sha256";
    public int Iterations { get; init; }
    public string Salt { get; init; } = "";
    /// <summary>base64 of nonce(12) | ciphertext(32) | tag(16) of the data key under the passphrase key.</summary>
    public string WrappedKey { get; init; } = "";
}

/// <summary>clusters/NAME/cluster.json: which PostgreSQL system the cluster's backups come from.</summary>
public sealed record ClusterInfo
{
    public string Name { get; init; } = "";
    public List<ClusterSystem> History { get; init; } = [];
}

public sealed record ClusterSystem
{
    public string SystemIdentifier { get; init; } = "";
    public int MajorVersion { get; init; }
    public DateTimeOffset FirstSeen { get; init; }
}

/// <summary>One stored object of a backup and how to read it back.</summary>
public sealed record StoredFile
{
    /// <summary>Name inside the backup's dump (e.g. "toc.dat" for a directory dump, or "dump").</summary>
    public string Name { get; init; } = "";
    /// <summary>Key relative to the backup's prefix.</summary>
    public string Object { get; init; } = "";
    public long SizeBytes { get; init; }
    public long StoredBytes { get; init; }
    public string Sha256 { get; init; } = "";
    public string Compression { get; init; } = "none";
    public bool Encrypted { get; init; }
}

/// <summary>One database of a logical backup.</summary>
public sealed record LogicalDatabase
{
    public string Name { get; init; } = "";
    public string Format { get; init; } = "custom";
    /// <summary>The pg_dump options that shaped the content (never connection settings or secrets).</summary>
    public List<string> Options { get; init; } = [];
    public string PgDumpVersion { get; init; } = "";
    public string Encoding { get; init; } = "";
    public string Collate { get; init; } = "";
    public string Ctype { get; init; } = "";
    public long SizeBytes { get; init; }
    public long StoredBytes { get; init; }
    public List<StoredFile> Files { get; init; } = [];
}

/// <summary>Cluster-wide objects from pg_dumpall (roles and/or tablespaces).</summary>
public sealed record LogicalGlobals
{
    /// <summary>all | roles | tablespaces.</summary>
    public string Scope { get; init; } = "all";
    public string PgDumpallVersion { get; init; } = "";
    public StoredFile File { get; init; } = new();
}

/// <summary>manifest.json: written last; its presence is what makes a backup exist.</summary>
public sealed record BackupManifest
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;
    public string Id { get; init; } = "";
    /// <summary>logical | full | diff | incr.</summary>
    public string Type { get; init; } = "logical";
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
    public List<LogicalDatabase> Databases { get; init; } = [];
    public LogicalGlobals? Globals { get; init; }
    /// <summary>Set for full, diff and incr backups.</summary>
    public PhysicalBackupInfo? Physical { get; init; }
    /// <summary>
    /// Per database, its tables and their row estimates (pg_class.reltuples) when the backup was
    /// taken: what a restore drill compares with. Absent in manifests written before it existed.
    /// </summary>
    public List<DatabaseTables>? Tables { get; init; }

    [JsonIgnore]
    public bool IsPhysical => Kind.IsPhysical();

    /// <summary>The kind, from <see cref="Type"/> (or, for a manifest without one, the id's letter).</summary>
    [JsonIgnore]
    public BackupKind Kind => KindOf(Type, Id);

    /// <summary>The fields every backup has: what the catalog index stores.</summary>
    [JsonIgnore]
    public BackupHeader Header => BackupHeader.From(this);

    /// <summary>Logical details (databases, globals), or null for a physical backup.</summary>
    [JsonIgnore]
    public LogicalBackupInfo? Logical => IsPhysical ? null : new LogicalBackupInfo(Databases, Globals);

    internal static BackupKind KindOf(string type, string id) =>
        BackupKinds.TryFromName(type, out var kind) ? kind : BackupId.KindOf(id) ?? BackupKind.Logical;
}

/// <summary>A named restore point created with pg_create_restore_point, usable as a recovery target.</summary>
public sealed record RestorePointRecord
{
    public string Name { get; init; } = "";
    public string Cluster { get; init; } = "";
    public string Lsn { get; init; } = "";
    public DateTimeOffset Time { get; init; }
    public int Timeline { get; init; }
}

/// <summary>Present while a backup is being written (who, where, since when).</summary>
public sealed record BackupLock
{
    public string Host { get; init; } = "";
    public int Pid { get; init; }
    public DateTimeOffset StartedAt { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NewLine = "\n",
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(RepositoryDescriptor))]
[JsonSerializable(typeof(ClusterInfo))]
[JsonSerializable(typeof(BackupManifest))]
[JsonSerializable(typeof(BackupLock))]
[JsonSerializable(typeof(RestorePointRecord))]
[JsonSerializable(typeof(List<RestorePointRecord>))]
[JsonSerializable(typeof(BackupHeader))]
[JsonSerializable(typeof(CatalogIndexFile))]
[JsonSerializable(typeof(ExpiringMarker))]
[JsonSerializable(typeof(PinFile))]
public sealed partial class RepositoryJson : JsonSerializerContext;
