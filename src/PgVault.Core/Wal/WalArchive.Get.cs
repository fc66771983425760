using System.Buffers;
using System.Security.Cryptography;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Wal;

/// <summary>The get half of the WAL archive: archive-get and the restore-time check of every needed segment.</summary>
public sealed partial class WalArchive
{
    /// <summary>
    /// Fetches <paramref name="fileName"/> into <paramref name="destination"/> (atomically, its
    /// checksum and, for a segment, its header verified) from the first repository holding an
    /// intact copy; a repository that fails is reported and the next one is tried.
    /// </summary>
    public Task<WalGetResult> GetAsync(string fileName, string destination, CancellationToken ct) =>
        GetOrCheckAsync(fileName, destination, durable: true, ct);

    /// <summary>
    /// <see cref="GetAsync(string, string, CancellationToken)"/> for a private scratch copy that is read
    /// at once and deleted (the WAL block map of an incremental): not flushed to disk.
    /// </summary>
    internal Task<WalGetResult> GetScratchCopyAsync(string fileName, string destination, CancellationToken ct) =>
        GetOrCheckAsync(fileName, destination, durable: false, ct);

    /// <summary>Reads <paramref name="fileName"/> whole from the first repository holding an intact copy, writing nothing.</summary>
    public Task<WalGetResult> CheckAsync(string fileName, CancellationToken ct) => GetOrCheckAsync(fileName, null, durable: false, ct);

    private async Task<WalGetResult> GetOrCheckAsync(string fileName, string? destination, bool durable, CancellationToken ct)
    {
        var wal = WalFileName.TryParse(fileName)
            ?? throw PgVaultException.Usage($"'{fileName}' is not the name of a WAL file", "use restore_command = 'pgvault archive-get %f %p'");
        var damaged = new List<string>();
        var unlisted = new List<string>();
        for (int i = 0; i < repositories.Count; i++)
        {
            var repository = repositories[i];
            List<StoredWal> stored;
            try
            {
                stored = await FindAsync(repository, fileName, ct).ConfigureAwait(false);
            }
            catch (PgVaultException e) when (e.RepositoryFault)
            {
                unlisted.Add($"repository '{repository.Name}' could not be listed: {e.Message}");
                progress.Warn($"repository '{repository.Name}' failed: {e.Message}");
                continue;
            }
            foreach (var copy in stored)
            {
                try
                {
                    await FetchAsync(repository, copy, wal, destination, durable, ct).ConfigureAwait(false);
                    return new WalGetResult(WalGetStatus.Intact, damaged);
                }
                catch (PgVaultException e) when (e.RepositoryFault)
                {
                    damaged.Add($"{e.Message} (repository '{repository.Name}')");
                    progress.Warn(i + 1 < repositories.Count
                        ? $"repository '{repository.Name}' failed: {e.Message}; trying repository '{repositories[i + 1].Name}'"
                        : $"repository '{repository.Name}' failed: {e.Message}");
                }
            }
        }
        if (damaged.Count > 0) return new WalGetResult(WalGetStatus.Damaged, [.. damaged, .. unlisted]);
        if (unlisted.Count > 0) return new WalGetResult(WalGetStatus.Unknown, unlisted);
        return new WalGetResult(WalGetStatus.Absent, []);
    }

    /// <summary>
    /// Reads one stored copy whole: decrypted, decompressed, its SHA-256 checked against the name
    /// it is stored under and, for a segment, its page header against the file name (a segment
    /// stored under another's name is damaged). Written to <paramref name="destination"/> only
    /// once all of that holds (and flushed to disk first when <paramref name="durable"/>); with no
    /// destination the bytes are discarded.
    /// </summary>
    private static async Task FetchAsync(Repository.Repository repository, StoredWal stored, WalFileName wal, string? destination, bool durable, CancellationToken ct)
    {
        string? full = destination is null ? null : Path.GetFullPath(destination);
        string? temp = full is null ? null : Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".pgvault-" + Environment.ProcessId);
        try
        {
            string sha;
            long length = 0;
            byte[] head = new byte[WalSegmentHeader.Size];
            int headLength = 0;
            await using (var input = await repository.OpenObjectAsync(stored.Key, stored.Compression, ct).ConfigureAwait(false))
            await using (var output = temp is null ? Stream.Null : new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    int read;
                    while ((read = await input.ReadAsync(buffer.AsMemory(0, BufferSize), ct).ConfigureAwait(false)) > 0)
                    {
                        hash.AppendData(buffer, 0, read);
                        int take = Math.Min(read, head.Length - headLength);
                        buffer.AsSpan(0, take).CopyTo(head.AsSpan(headLength));
                        headLength += take;
                        length += read;
                        await output.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                sha = Convert.ToHexStringLower(hash.GetHashAndReset());
                if (output is FileStream file) file.Flush(flushToDisk: durable);
            }
            if (repository.WalTag(sha) != stored.Sha16)
                throw PgVaultException.Corrupt(stored.Key, $"checksum mismatch (the content's tag is {repository.WalTag(sha)}, not the {stored.Sha16} of its name)");
            if (wal.HasPageHeader) CheckHeader(stored.Key, wal, head.AsSpan(0, headLength), length);
            if (temp is not null) File.Move(temp, full!, overwrite: true);
        }
        finally
        {
            if (temp is not null && File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>The segment's long page header must name the timeline and segment its file name does, and its size must match.</summary>
    internal static void CheckHeader(string key, WalFileName wal, ReadOnlySpan<byte> head, long length)
    {
        WalSegmentHeader header;
        try
        {
            header = WalSegmentHeader.Parse(head, key);
        }
        catch (PgVaultException e)
        {
            throw PgVaultException.Corrupt(key, $"not a WAL segment ({e.Message})");
        }
        if (HeaderProblem(header, wal, length) is { } problem) throw PgVaultException.Corrupt(key, problem + " (a segment stored under another's name)");
    }

    /// <summary>What is wrong with a segment whose header is <paramref name="header"/> for the name <paramref name="wal"/>, or null.</summary>
    internal static string? HeaderProblem(WalSegmentHeader header, WalFileName wal, long length)
    {
        var (timeline, segment) = WalSegments.Parse(wal.Name, header.SegmentSize);
        ulong expected = segment * header.SegmentSize;
        // The first segment of a timeline that began inside it starts with its parent's pages (PostgreSQL
        // copies the old segment up to the switch point), so its header may name an older timeline, never a newer one.
        if (header.Timeline > timeline || header.PageAddress != expected)
            return $"its header is of timeline {header.Timeline} at {PostgreSql.Lsn.FormatLsn(header.PageAddress)}, but {wal.Name} is timeline {timeline} at {PostgreSql.Lsn.FormatLsn(expected)}";
        if (wal.Kind == WalFileKind.Segment && length != header.SegmentSize)
            return $"{length} bytes, but its header says segments are {header.SegmentSize} bytes";
        return null;
    }
}
