using System.Diagnostics;
using PgVault.Core.Errors;
using PgVault.Core.Wal;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Physical;

public sealed partial class PhysicalBackup
{
    /// <summary>The WAL archive of the cluster across the backup's target repositories.</summary>
    private WalArchive TargetArchive() => new(targets.Catalogs.Select(c => c.Repository).ToList(), targets.Cluster, progress);

    /// <summary>
    /// Waits until every segment from <paramref name="startWal"/> to <paramref name="stopWal"/> is
    /// in every target repository: without them the backup cannot be made consistent, so it is not
    /// committed (the archiver's own failures show in `pgvault check`).
    /// </summary>
    private async Task WaitForWalAsync(string startWal, string stopWal, long segmentSize, int timeoutSeconds, CancellationToken ct)
    {
        var (timeline, first) = WalSegments.Parse(startWal, segmentSize);
        var (stopTimeline, last) = WalSegments.Parse(stopWal, segmentSize);
        if (stopTimeline != timeline) throw new PgVaultException(ErrorCode.TimelineChanged, $"the timeline changed during the backup ({startWal} .. {stopWal}): take the backup again");
        var archive = TargetArchive();
        var clock = Stopwatch.StartNew();
        using var task = progress.Start($"wait for WAL {startWal} .. {stopWal}");
        for (ulong segment = first; segment <= last; segment++)
        {
            string name = WalSegments.Name(timeline, segment, segmentSize);
            while (!await archive.InEveryRepositoryAsync(name, ct).ConfigureAwait(false))
            {
                if (clock.Elapsed.TotalSeconds > timeoutSeconds)
                    throw new PgVaultException(ErrorCode.ArchiveTimeout, $"WAL segment {name} needed by the backup did not reach the archive within {timeoutSeconds} s",
                        "check archive_command and the archiver with 'pgvault check'; raise archive_timeout of the cluster if archiving is slow");
                // The stop segment usually arrives within the archiver's first push (tens of ms):
                // poll closely for the first second, then every 50 ms.
                await Task.Delay(clock.ElapsedMilliseconds < 1000 ? 10 : 50, ct).ConfigureAwait(false);
            }
        }
    }
}
