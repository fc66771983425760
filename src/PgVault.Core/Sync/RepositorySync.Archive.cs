using PgVault.Core.Repository;
using System.Security.Cryptography;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Sync;

/// <summary>
/// The archive part of `repo sync`: WAL segments, partial segments, backup and timeline history
/// files, and restore points, so that a synced physical backup restores (to any target) from the
/// copy alone.
/// </summary>
public sealed partial class RepositorySync
{
    private const int BufferSize = 1 << 20;

    /// <summary>
    /// Copies every archived WAL file of <paramref name="cluster"/> that <paramref name="target"/>
    /// lacks. A name present with the same checksum is skipped; a name present with another checksum
    /// is an error (two clusters, or a damaged copy), never an overwrite. Returns how many were copied.
    /// </summary>
    private async Task<int> CopyWalAsync(Repository.Repository source, Repository.Repository target, string cluster, CancellationToken ct)
    {
        var have = await ListWalAsync(target, cluster, ct).ConfigureAwait(false);
        var wanted = await ListWalAsync(source, cluster, ct).ConfigureAwait(false);
        int copied = 0;
        foreach (var (name, versions) in wanted)
        {
            foreach (var wal in versions)
            {
                have.TryGetValue(name, out var present);
                // Tags are keyed per encrypted repository: then the target's tag needs the content's hash (one verified read).
                string tag = source.WalTagsComparableWith(target) ? wal.Sha16 : target.WalTag(await HashAsync(source, wal, ct).ConfigureAwait(false));
                if (present != null)
                {
                    if (present.Any(p => p.Sha16 == tag)) continue;
                    throw new PgVaultException(ErrorCode.WalConflict,
                        $"WAL file {name} of cluster '{cluster}' is in repository '{target.Name}' with different content than in '{source.Name}'",
                        "the repositories hold different clusters under one name, or one copy is damaged: check both with 'pgvault verify'");
                }
                await CopyWalFileAsync(source, target, cluster, name, wal, tag, ct).ConfigureAwait(false);
                have[name] = [wal with { Sha16 = tag }];
                copied++;
            }
        }
        return copied;
    }

    private sealed record ArchivedWal(string Key, string Sha16, string Extension, CompressionType Compression);

    /// <summary>Archived WAL objects by file name (temporaries and foreign names left out).</summary>
    private static async Task<SortedDictionary<string, List<ArchivedWal>>> ListWalAsync(Repository.Repository repository, string cluster, CancellationToken ct)
    {
        var found = new SortedDictionary<string, List<ArchivedWal>>(StringComparer.Ordinal);
        await foreach (var info in repository.Store.ListAsync(RepositoryLayout.WalPrefix(cluster), ct).ConfigureAwait(false))
        {
            string file = info.Key[(info.Key.LastIndexOf('/') + 1)..];
            int dash = file.LastIndexOf('-');
            if (dash <= 0 || WalFileName.TryParse(file[..dash]) is not { } wal) continue;
            if (RepositoryLayout.ParseWalObject(cluster, wal.Name, info.Key) is not { } parsed) continue;
            if (CompressionSpec.TypeFromExtension(parsed.Extension) is not { } compression) continue;
            if (!found.TryGetValue(wal.Name, out var list)) found[wal.Name] = list = [];
            list.Add(new ArchivedWal(info.Key, parsed.Sha16, parsed.Extension, compression));
        }
        return found;
    }

    /// <summary>The SHA-256 of one WAL object's content, read whole and checked against the tag in its name.</summary>
    private static async Task<string> HashAsync(Repository.Repository source, ArchivedWal wal, CancellationToken ct)
    {
        await using var input = await source.OpenObjectAsync(wal.Key, wal.Compression, ct).ConfigureAwait(false);
        return CheckTag(source, wal, Convert.ToHexStringLower(await SHA256.HashDataAsync(input, ct).ConfigureAwait(false)));
    }

    private static string CheckTag(Repository.Repository source, ArchivedWal wal, string sha)
    {
        if (source.WalTag(sha) != wal.Sha16)
            throw PgVaultException.Corrupt(wal.Key, $"checksum mismatch in repository '{source.Name}' (the content's tag is {source.WalTag(sha)}, not the {wal.Sha16} of its name)");
        return sha;
    }

    /// <summary>
    /// Reads one WAL object from the source (decrypted, decompressed) and writes it through the
    /// target's pipeline (its compression type, the target's key) under the target's content tag
    /// <paramref name="tag"/>; the tag in its source name is checked before the target commits the object.
    /// </summary>
    private static async Task CopyWalFileAsync(Repository.Repository source, Repository.Repository target, string cluster, string name, ArchivedWal wal, string tag, CancellationToken ct)
    {
        string key = RepositoryLayout.WalObject(cluster, name, tag, wal.Extension);
        var compression = CompressionSpec.Parse(CompressionSpec.TypeName(wal.Compression));
        await using var input = await source.OpenObjectAsync(wal.Key, wal.Compression, ct).ConfigureAwait(false);
        await target.WriteObjectAsync(key, compression, async (output, c) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[BufferSize];
            int read;
            while ((read = await input.ReadAsync(buffer, c).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), c).ConfigureAwait(false);
            }
            string sha = CheckTag(source, wal, Convert.ToHexStringLower(hash.GetHashAndReset()));
            if (target.WalTag(sha) != tag)
                throw PgVaultException.Corrupt(wal.Key, $"changed while it was copied from repository '{source.Name}'");
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Copies the restore points <paramref name="target"/> lacks (read verified, written with the target's key).</summary>
    private static async Task<int> CopyRestorePointsAsync(Repository.Repository source, Repository.Repository target, string cluster, CancellationToken ct)
    {
        string prefix = RepositoryLayout.RestorePointsPrefix(cluster);
        var have = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var info in target.Store.ListAsync(prefix, ct).ConfigureAwait(false)) have.Add(info.Key);
        var keys = new List<string>();
        await foreach (var info in source.Store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            if (info.Key.EndsWith(".json", StringComparison.Ordinal)) keys.Add(info.Key);
        }
        int copied = 0;
        foreach (var key in keys)
        {
            if (await source.ReadMetadataAsync(key, RepositoryJson.Default.RestorePointRecord, ct).ConfigureAwait(false) is not { } record) continue;
            // Names differ per repository (keyed tags): the target's key is derived with the target's key.
            string targetKey = target.RestorePointKey(cluster, record);
            if (have.Contains(targetKey)) continue;
            await target.WriteMetadataAsync(targetKey, record, RepositoryJson.Default.RestorePointRecord, ct).ConfigureAwait(false);
            copied++;
        }
        return copied;
    }
}
