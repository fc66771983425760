using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Wal;

/// <summary>What `pgvault restore-point NAME` was asked for.</summary>
public sealed record RestorePointOptions(string Name);

/// <summary>`pgvault restore-point NAME`: pg_create_restore_point on the vault's cluster, recorded in every repository.</summary>
public sealed class CreateRestorePoint(Vault.Vault vault, IProgressSink progress)
{
    public async Task<RestorePointRecord> RunAsync(RestorePointOptions options, CancellationToken ct)
    {
        var repositories = await vault.OpenRepositoriesAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        return await new RestorePoints(repositories, vault.Cluster.Name).CreateAsync(vault.Connection, options.Name, ct).ConfigureAwait(false);
    }
}

/// <summary>Named restore points (pg_create_restore_point), recorded in the catalog of every repository.</summary>
public sealed class RestorePoints(IReadOnlyList<Repository.Repository> repositories, string cluster)
{
    public async Task<RestorePointRecord> CreateAsync(ConnInfo connection, string name, CancellationToken ct)
    {
        if (name.Length is 0 or > 63)
            throw PgVaultException.Usage($"restore point name '{name}' must be 1 to 63 characters long");
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase("postgres"), ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT pg_create_restore_point($1)::text, (SELECT timeline_id FROM pg_control_checkpoint()), now()", conn);
        cmd.Parameters.AddWithValue(name);
        RestorePointRecord record;
        try
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            record = new RestorePointRecord
            {
                Name = name,
                Cluster = cluster,
                Lsn = reader.GetString(0),
                Timeline = reader.GetInt32(1),
                Time = new DateTimeOffset(reader.GetDateTime(2), TimeSpan.Zero),
            };
        }
        catch (PostgresException e)
        {
            throw new PgVaultException(ErrorCode.ServerQueryFailed, $"unable to create restore point '{name}': {e.MessageText}",
                "restore points need wal_level replica or logical and a superuser (or a role granted pg_create_restore_point)");
        }
        // The name is not guessable from the object key: a keyed hash (per repository) in encrypted repositories.
        foreach (var repository in repositories)
            await repository.WriteMetadataAsync(repository.RestorePointKey(cluster, record), record, RepositoryJson.Default.RestorePointRecord, ct).ConfigureAwait(false);
        return record;
    }

    /// <summary>Every restore point recorded in any repository, oldest first.</summary>
    public async Task<List<RestorePointRecord>> ListAsync(CancellationToken ct)
    {
        // Object names differ per repository (keyed hashes): the same point is recognised by its content.
        var seen = new HashSet<(DateTimeOffset, string, string)>();
        var all = new List<RestorePointRecord>();
        foreach (var repository in repositories)
        {
            var keys = new List<string>();
            await foreach (var info in repository.Store.ListAsync(RepositoryLayout.RestorePointsPrefix(cluster), ct).ConfigureAwait(false)) keys.Add(info.Key);
            foreach (var key in keys)
            {
                if (await repository.ReadMetadataAsync(key, RepositoryJson.Default.RestorePointRecord, ct).ConfigureAwait(false) is { } record
                    && seen.Add((record.Time, record.Name, record.Lsn)))
                    all.Add(record);
            }
        }
        return [.. all.OrderBy(r => r.Time).ThenBy(r => r.Name, StringComparer.Ordinal)];
    }
}
