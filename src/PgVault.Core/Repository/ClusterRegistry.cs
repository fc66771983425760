using PgVault.Core.Progress;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Repository;

/// <summary>
/// clusters/NAME/cluster.json: the PostgreSQL systems (system identifier, major version) a
/// cluster's backups came from. A change is recorded and reported; physical backups and WAL will
/// refuse to mix systems.
/// </summary>
internal sealed class ClusterRegistry(Catalog catalog)
{
    public async Task<ClusterInfo> RecordAsync(ServerFacts server, IProgressSink progress, CancellationToken ct)
    {
        string key = RepositoryLayout.ClusterInfo(catalog.Cluster);
        var info = await catalog.Repository.ReadMetadataAsync(key, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false)
            ?? new ClusterInfo { Name = catalog.Cluster };
        int major = server.VersionNum / 10000;
        var current = info.History.LastOrDefault();
        if (current != null && current.SystemIdentifier == server.SystemIdentifier && current.MajorVersion == major) return info;
        if (current != null)
            progress.Warn($"cluster '{catalog.Cluster}' now points at system {server.SystemIdentifier} (PostgreSQL {major}); earlier backups came from system {current.SystemIdentifier} (PostgreSQL {current.MajorVersion})");
        info.History.Add(new ClusterSystem { SystemIdentifier = server.SystemIdentifier, MajorVersion = major, FirstSeen = DateTimeOffset.UtcNow });
        await catalog.Repository.WriteMetadataAsync(key, info, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
        return info;
    }
}
