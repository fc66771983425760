using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Wal;

/// <summary>
/// archive-get --partial: the newest piece of the last segment. When a segment is not archived,
/// the streaming spool's SEGMENT (received whole, not pushed yet) or SEGMENT.partial, else the
/// archive's SEGMENT.partial, is served padded with zeros to the segment size: PostgreSQL replays
/// it to its last valid record and ends recovery there, so a PITR to the end replays everything streamed.
/// </summary>
public sealed partial class WalArchive
{
    public async Task<WalGetResult> GetPartialAsync(string fileName, string destination, string? streamSpool, CancellationToken ct)
    {
        if (WalFileName.TryParse(fileName) is not { Kind: WalFileKind.Segment } wal) return new WalGetResult(WalGetStatus.Absent, []);
        if (streamSpool != null)
        {
            foreach (string candidate in new[] { fileName, fileName + ".partial" })
            {
                string path = Path.Combine(streamSpool, candidate);
                byte[] bytes;
                try
                {
                    if (!File.Exists(path)) continue;
                    bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    progress.Warn($"unable to read the streaming spool's {candidate}: {e.Message}");
                    continue;
                }
                WritePadded(path, wal, bytes, destination);
                progress.Info($"served {candidate} from the streaming spool ({bytes.Length} bytes, padded)");
                return new WalGetResult(WalGetStatus.Intact, []);
            }
        }
        string partialName = fileName + ".partial";
        string temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(destination))!, "." + partialName + ".pgvault-" + Environment.ProcessId);
        try
        {
            var got = await GetAsync(partialName, temp, ct).ConfigureAwait(false);
            if (got.Status != WalGetStatus.Intact) return got;
            WritePadded(partialName, wal, await File.ReadAllBytesAsync(temp, ct).ConfigureAwait(false), destination);
            progress.Info($"served {partialName} from the archive (padded)");
            return got;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Checks the partial's header against the segment's name, then writes it padded with zeros to the segment size (temp file, fsync, rename).</summary>
    private static void WritePadded(string source, WalFileName wal, byte[] bytes, string destination)
    {
        WalSegmentHeader header;
        try
        {
            header = WalSegmentHeader.Parse(bytes.AsSpan(0, Math.Min(bytes.Length, WalSegmentHeader.Size)), source);
        }
        catch (PgVaultException e)
        {
            throw PgVaultException.Corrupt(source, $"not a WAL segment ({e.Message})");
        }
        if (HeaderProblem(header, new WalFileName(wal.Name + ".partial", WalFileKind.Partial), bytes.Length) is { } problem)
            throw PgVaultException.Corrupt(source, problem);
        if (bytes.Length > header.SegmentSize) throw PgVaultException.Corrupt(source, $"{bytes.Length} bytes, more than a segment of {header.SegmentSize}");
        string full = Path.GetFullPath(destination);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".pgvault-" + Environment.ProcessId);
        try
        {
            using (var output = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                output.Write(bytes);
                output.SetLength(header.SegmentSize);
                output.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
