using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Wal;

/// <summary>What archive-push did with one file.</summary>
public sealed record PushResult(string FileName, string Sha256, long SizeBytes, IReadOnlyList<string> Written, IReadOnlyList<string> AlreadyThere);

/// <summary>What the archive holds of one WAL file, read whole and checked.</summary>
public enum WalGetStatus
{
    /// <summary>An intact copy was found (and written, for a fetch).</summary>
    Intact,
    /// <summary>Every repository answered and none holds the file: the end of the archive.</summary>
    Absent,
    /// <summary>Some repository holds the file but no repository has an intact copy.</summary>
    Damaged,
    /// <summary>No repository that answered holds it, but some repository could not be asked.</summary>
    Unknown,
}

/// <summary>The outcome of fetching or checking one WAL file; <see cref="Problems"/> names each copy that failed and why.</summary>
public sealed record WalGetResult(WalGetStatus Status, IReadOnlyList<string> Problems);

/// <summary>
/// The WAL archive of one cluster across every repository: archive-push stores a file durably in
/// each repository (or finds it already there), archive-get fetches it back with its checksum
/// verified, falling back from one repository to the next.
/// </summary>
public sealed partial class WalArchive(IReadOnlyList<Repository.Repository> repositories, string cluster, IProgressSink progress)
{
    private const int BufferSize = 1 << 20;

    public async Task<PushResult> PushAsync(string path, CompressionSpec compression, CancellationToken ct)
    {
        string name = Path.GetFileName(path);
        var wal = WalFileName.TryParse(name)
            ?? throw PgVaultException.Usage($"'{name}' is not the name of a WAL segment, partial segment, backup history or timeline history file",
                "use archive_command = 'pgvault archive-push %p'");
        FileStream file;
        try
        {
            // Synchronous, unbuffered: a segment is read in one or two large reads, not 4 KiB thread-pool hops.
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.SourceUnreadable, $"unable to open '{path}': {e.Message}");
        }
        await using (file)
        {
            WalSegmentHeader? header = null;
            if (wal.HasPageHeader)
            {
                byte[] head = new byte[WalSegmentHeader.Size];
                int read = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                header = WalSegmentHeader.Parse(head.AsSpan(0, read), path);
                if (file.Length != header.SegmentSize)
                    throw new PgVaultException(ErrorCode.WalDamaged, $"'{path}' is {file.Length} bytes but its header says segments are {header.SegmentSize} bytes",
                        "the file is damaged or not a complete WAL segment");
                if (HeaderProblem(header, wal, file.Length) is { } problem)
                    throw new PgVaultException(ErrorCode.WalDamaged, $"'{path}' is not the WAL file its name says: {problem}",
                        "archive-push takes the %p path PostgreSQL passes to archive_command; the file may be damaged or renamed");
            }
            file.Position = 0;
            TraceTiming.Mark("push: file opened, header checked");
            // A segment (16 MiB by default) is mapped into memory (no copy); its SHA-256 (needed
            // for the object name) and its compression then run on two cores at once, while the
            // repositories are checked. Larger files stream in two passes with bounded memory.
            PreparedFile prepared = file.Length <= InMemoryLimit
                ? await PrepareInMemoryAsync(file, ct).ConfigureAwait(false)
                : await PrepareStreamingAsync(file, ct).ConfigureAwait(false);
            // Compression starts at once, beside the hash: it is the longest step, and only a
            // repeated push (the name already archived) finds it was not needed.
            prepared.StartCompression(compression, ct);
            TraceTiming.Mark("push: file mapped or read, hash and compression started");
            try
            {
                var existing = new List<List<StoredWal>>();
                foreach (var repository in repositories)
                {
                    if (header != null) await CheckIdentityAsync(repository, header, name, ct).ConfigureAwait(false);
                    existing.Add(await FindAsync(repository, name, ct).ConfigureAwait(false));
                }
                TraceTiming.Mark("push: cluster identity checked, name looked up");
                string sha256 = await prepared.Sha256.ConfigureAwait(false);
                TraceTiming.Mark("push: SHA-256 done");

                var already = new List<string>();
                var targets = new List<Repository.Repository>();
                for (int i = 0; i < repositories.Count; i++)
                {
                    var stored = existing[i];
                    string tag = repositories[i].WalTag(sha256);
                    if (stored.Any(s => s.Sha16 == tag))
                    {
                        already.Add(repositories[i].Name);
                    }
                    else if (stored.Count > 0)
                    {
                        throw new PgVaultException(ErrorCode.WalConflict,
                            $"WAL file {name} is already archived in repository '{repositories[i].Name}' with different content (tag {stored[0].Sha16}, this file {tag})",
                            "another cluster may be archiving into the same repository and cluster name; check archive_command on every server");
                    }
                    else
                    {
                        targets.Add(repositories[i]);
                    }
                }
                string KeyOf(Repository.Repository target) => RepositoryLayout.WalObject(cluster, name, target.WalTag(sha256), compression.FileExtension);
                foreach (var target in targets) await ClaimAsync(target, name, KeyOf(target), ct).ConfigureAwait(false);
                TraceTiming.Mark("push: name claimed");
                if (targets.Count > 0)
                {
                    // The SHA-256 of the file is known: the pipeline does not hash again.
                    if (await prepared.Compressed!.ConfigureAwait(false) is { } compressed)
                    {
                        TraceTiming.Mark("push: compressed");
                        // Already compressed: the pipeline only encrypts (per repository) and stores.
                        await FanOutWriter.WriteAsync(targets, KeyOf, new CompressionSpec(CompressionType.None, 0),
                            (output, c) => output.WriteAsync(compressed.GetBuffer().AsMemory(0, (int)compressed.Length), c).AsTask(), hashSource: false, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        file.Position = 0;
                        await FanOutWriter.WriteAsync(targets, KeyOf, compression, (output, c) => file.CopyToAsync(output, BufferSize, c), hashSource: false, ct).ConfigureAwait(false);
                    }
                }
                TraceTiming.Mark("push: stored and committed");
                return new PushResult(name, sha256, file.Length, targets.Select(t => t.Name).ToList(), already);
            }
            finally
            {
                prepared.Release();
            }
        }
    }

    /// <summary>
    /// Claims <paramref name="name"/> in <paramref name="repository"/> for the content named by
    /// <paramref name="key"/> (create-if-absent, before the object is written): of concurrent pushes of
    /// one name with different contents exactly one gets the claim; the others fail here. A claim for
    /// the same content is fine (a retried or concurrent identical push). Also removes temporaries that
    /// killed pushes left in the file's WAL directory.
    /// </summary>
    private async Task ClaimAsync(Repository.Repository repository, string name, string key, CancellationToken ct)
    {
        string sha16 = RepositoryLayout.ParseWalObject(cluster, name, key)!.Value.Sha16;
        string claimKey = RepositoryLayout.WalClaim(cluster, name);
        try
        {
            if (repository.Store is FileSystemObjectStore fs)
                fs.RemoveDebrisTemporaries(RepositoryLayout.WalDirectory(cluster, name), Catalog.DebrisSafeAge, recursive: false);
            if (await repository.Store.TryCreateAsync(claimKey, System.Text.Encoding.ASCII.GetBytes(sha16 + "\n"), ct).ConfigureAwait(false)) return;
            string claimed = System.Text.Encoding.ASCII.GetString(await repository.Store.GetBytesAsync(claimKey, ct).ConfigureAwait(false)).Trim();
            if (claimed == sha16) return;
            throw new PgVaultException(ErrorCode.WalConflict,
                $"WAL file {name} is already claimed in repository '{repository.Name}' by another push with different content (checksum {claimed}, this file {sha16})",
                "another cluster may be archiving into the same repository and cluster name; check archive_command on every server");
        }
        catch (Exception e) when (e is not PgVaultException && FaultMarkingStream.IsStoreFailure(e))
        {
            throw FaultMarkingStream.Mark(e, repository.Name, claimKey);
        }
    }

    /// <summary>True when every repository holds <paramref name="fileName"/>.</summary>
    public async Task<bool> InEveryRepositoryAsync(string fileName, CancellationToken ct)
    {
        foreach (var repository in repositories)
        {
            if ((await FindAsync(repository, fileName, ct).ConfigureAwait(false)).Count == 0) return false;
        }
        return true;
    }

    /// <summary>The newest archived segment name in the first repository (null when none).</summary>
    public async Task<string?> NewestSegmentAsync(CancellationToken ct)
    {
        string? newest = null;
        await foreach (var info in repositories[0].Store.ListAsync(RepositoryLayout.WalPrefix(cluster), ct).ConfigureAwait(false))
        {
            string file = info.Key[(info.Key.LastIndexOf('/') + 1)..];
            if (file.Length > WalFileName.SegmentNameLength && file[WalFileName.SegmentNameLength] == '-'
                && WalFileName.TryParse(file[..WalFileName.SegmentNameLength]) is { Kind: WalFileKind.Segment } segment
                && (newest is null || string.CompareOrdinal(segment.Name, newest) > 0))
                newest = segment.Name;
        }
        return newest;
    }

    internal sealed record StoredWal(string Key, string Sha16, CompressionType Compression);

    internal async Task<List<StoredWal>> FindAsync(Repository.Repository repository, string fileName, CancellationToken ct)
    {
        var found = new List<StoredWal>();
        try
        {
            await foreach (var info in repository.Store.ListAsync(RepositoryLayout.WalSearchPrefix(cluster, fileName), ct).ConfigureAwait(false))
            {
                if (RepositoryLayout.ParseWalObject(cluster, fileName, info.Key) is { } parsed && CompressionSpec.TypeFromExtension(parsed.Extension) is { } type)
                    found.Add(new StoredWal(info.Key, parsed.Sha16, type));
            }
        }
        catch (Exception e) when (e is not PgVaultException { RepositoryFault: true } && FaultMarkingStream.IsStoreFailure(e))
        {
            throw FaultMarkingStream.Mark(e, repository.Name, RepositoryLayout.WalSearchPrefix(cluster, fileName));
        }
        return found;
    }

    private async Task CheckIdentityAsync(Repository.Repository repository, WalSegmentHeader header, string name, CancellationToken ct)
    {
        string key = RepositoryLayout.ClusterInfo(cluster);
        var info = await repository.ReadMetadataAsync(key, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
        string system = header.SystemIdentifier.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (info?.History.LastOrDefault() is { } current)
        {
            if (current.SystemIdentifier != system)
                throw new PgVaultException(ErrorCode.WalConflict,
                    $"WAL file {name} belongs to database system {system}, but cluster '{cluster}' in repository '{repository.Name}' archives system {current.SystemIdentifier}",
                    "archive_command of this server points at another cluster's archive: give each server its own cluster name");
            return;
        }
        info = new ClusterInfo { Name = cluster, History = [new ClusterSystem { SystemIdentifier = system, MajorVersion = header.MajorVersion, FirstSeen = DateTimeOffset.UtcNow }] };
        await repository.WriteMetadataAsync(key, info, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
    }
}
