using System.Diagnostics;
using Xunit;

namespace PgVault.Tests.Integration;

public sealed class WalStreamPromotionFixture : WalStreamFixture;

/// <summary>
/// The streamer follows a standby (restored from a backup with --type standby) that is then
/// promoted: the history file and the old timeline's last segment (SEGMENT.partial) are archived,
/// streaming continues on the new timeline, and a PITR to the end crosses the switch.
/// </summary>
public sealed class WalStreamPromotionTests(WalStreamPromotionFixture db) : IClassFixture<WalStreamPromotionFixture>
{
    [Fact]
    public async Task Promotion_of_the_followed_standby_archives_the_history_and_a_pitr_crosses_the_new_timeline()
    {
        // The backup's WAL comes from a streamer on the primary (the only archiver).
        Assert.Equal(0, (await db.RunAsPostgresAsync("wal-stream", "--create-slot")).ExitCode);
        var onPrimary = Streamer.Start(db.ConfigFile, "wal-stream");
        await db.WaitStreamingAsync();
        await db.BackupAsync("full");
        Assert.Equal(0, (await onPrimary.StopAsync()).ExitCode);
        await onPrimary.DisposeAsync();
        Assert.Equal(0, (await db.RunAsPostgresAsync("wal-stream", "--drop-slot")).ExitCode);

        string standbyDir = db.NewRestoreDir("standby");
        var restored = await db.RunAsync("restore", "--pgdata", standbyDir, "--type", "standby", "--archive-mode", "off",
            "--primary-conninfo", $"host={db.Cluster.SocketDir} port={db.Cluster.Port} user=postgres application_name=standby");
        Assert.True(restored.ExitCode == 0, restored.ToString());
        await using var standby = await RestoredServer.StartAsync(standbyDir);

        // A configuration for the same cluster and repository whose connection is the standby.
        string standbyConfig = Path.Combine(db.Root, "standby.yaml");
        File.WriteAllText(standbyConfig, File.ReadAllText(db.ConfigFile)
            .Replace(db.ConnectionString, $"host={standby.SocketDir} port={standby.Port} user=postgres dbname=postgres", StringComparison.Ordinal));
        File.SetUnixFileMode(standbyConfig, (UnixFileMode)0b110_100_100);
        await using (var create = Streamer.Start(standbyConfig, "wal-stream", "--create-slot"))
            Assert.Equal(0, (await create.WaitAsync(TimeSpan.FromSeconds(60))).ExitCode);
        await using var streamer = Streamer.Start(standbyConfig, "wal-stream");
        await streamer.WaitForAsync("START_REPLICATION");

        await db.ExecAsync("postgres", "CREATE TABLE across (i int PRIMARY KEY, tli int)");
        await db.ExecAsync("postgres", "INSERT INTO across SELECT g, 1 FROM generate_series(1, 100) g");
        string primaryLsn = await db.ScalarAsync<string>("postgres", "SELECT pg_current_wal_lsn()::text");
        await WaitAsync(async () => await standby.ScalarAsync<bool>($"SELECT pg_last_wal_replay_lsn() >= '{primaryLsn}'"), "the standby replays the primary");
        // Promoted while the old primary still runs: the switch falls inside a segment (a shutdown with
        // archive_mode on would switch to a segment boundary first), so timeline 1 ends in a partial segment.
        Assert.True(await standby.ScalarAsync<bool>("SELECT pg_promote()"));
        await standby.WaitPromotedAsync();
        await db.Cluster.StopAsync("fast");
        Assert.Equal("00000002", await standby.ScalarAsync<string>("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"));

        await streamer.WaitForAsync("following timeline 2");
        await using (var conn = standby.Open())
        await using (var insert = new Npgsql.NpgsqlCommand("INSERT INTO across SELECT g, 2 FROM generate_series(101, 200) g", conn))
            await insert.ExecuteNonQueryAsync();
        string last = await standby.ScalarAsync<string>("SELECT pg_walfile_name(pg_switch_wal())");
        Assert.StartsWith("00000002", last);
        try
        {
            await db.WaitInArchiveAsync(last);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\n" + streamer.Stderr);
        }
        var stopped = await streamer.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());

        string wal = Path.Combine(db.RepoPath, "clusters", "main", "wal");
        var names = Directory.GetFiles(wal, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.Contains(names, n => n!.StartsWith("00000002.history-", StringComparison.Ordinal));
        Assert.True(names.Any(n => n!.StartsWith("00000001", StringComparison.Ordinal) && n.Contains(".partial-", StringComparison.Ordinal)), stopped.Stderr);
        await standby.StopAsync();

        string dir = db.NewRestoreDir("across");
        var pitr = await db.RunAsync("restore", "--pgdata", dir, "--archive-mode", "off");
        Assert.True(pitr.ExitCode == 0, pitr.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(200, await server.ScalarAsync<long>("SELECT count(*) FROM across"));
        Assert.Equal(100, await server.ScalarAsync<long>("SELECT count(*) FROM across WHERE tli = 2"));
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException(what);
            await Task.Delay(100);
        }
    }
}
