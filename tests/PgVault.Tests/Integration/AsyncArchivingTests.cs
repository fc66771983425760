using System.Diagnostics;
using System.Globalization;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

public sealed class AsyncArchivingFixture : ArchivingFixture
{
    protected override bool Async => true;
}

/// <summary>archive_async: a background worker pushes ahead through the spool; nothing is acknowledged before it is stored.</summary>
public sealed class AsyncArchivingTests(AsyncArchivingFixture db) : IClassFixture<AsyncArchivingFixture>
{
    private static ulong Number(string name) =>
        ulong.Parse(name.AsSpan(8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture) * 256 + ulong.Parse(name.AsSpan(16, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [Fact]
    public async Task Worker_archives_every_segment_and_failures_are_reported_then_recovered()
    {
        string first = await db.SwitchWalAsync();
        await db.CreateDatabaseAsync("bench");
        await db.Cluster.RunToolAsync("pgbench", ["-i", "-s", "4", "-q", "-h", db.Cluster.SocketDir, "-p", db.Cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "bench"], CancellationToken.None);
        string last = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(last);
        var archived = db.ArchivedSegments().Where(s => string.CompareOrdinal(s, first) >= 0 && string.CompareOrdinal(s, last) <= 0).ToList();
        Assert.Equal(first, archived[0]);
        Assert.Equal(last, archived[^1]);
        Assert.Equal((int)(Number(last) - Number(first)) + 1, archived.Count);
        // Every marker the worker wrote was consumed by PostgreSQL's archive-push calls.
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(db.SpoolPath, "out"), "*.ok"), f => string.CompareOrdinal(Path.GetFileName(f), last) <= 0);

        // The repository becomes unwritable: the worker reports an error, PostgreSQL keeps the WAL.
        long failed = await db.ScalarAsync<long>("postgres", "SELECT failed_count FROM pg_stat_archiver");
        string walDir = Path.Combine(db.RepoPath, "clusters", "main", "wal");
        var dirs = Directory.GetDirectories(walDir, "*", SearchOption.AllDirectories).Append(walDir).ToList();
        var mode = File.GetUnixFileMode(walDir);
        foreach (var dir in dirs) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        string stuck;
        try
        {
            await db.ExecAsync("postgres", "CREATE TABLE filler AS SELECT generate_series(1, 100000) i");
            stuck = await db.SwitchWalAsync();
            var clock = Stopwatch.StartNew();
            while (await db.ScalarAsync<long>("postgres", "SELECT failed_count FROM pg_stat_archiver") <= failed)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("archiving never failed");
                await Task.Delay(200);
            }
            Assert.True(File.Exists(Path.Combine(db.Cluster.DataDir, "pg_wal", "archive_status", stuck + ".ready")));
        }
        finally
        {
            foreach (var dir in dirs) File.SetUnixFileMode(dir, mode);
        }
        string after = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(after, seconds: 150); // PostgreSQL waits a minute after three failures
        var all = db.ArchivedSegments();
        for (ulong n = Number(last); n <= Number(after); n++)
            Assert.Contains(all, s => Number(s) == n);
    }
}
