using Npgsql;
using Xunit;

namespace PgVault.Tests.Integration;

public sealed class WalStreamSyncFixture : WalStreamFixture;

/// <summary>
/// wal-stream --synchronous named in synchronous_standby_names: a commit returns only once its WAL
/// is fsynced in the spool, so a kill -9 of the postmaster right after the last commit loses nothing.
/// </summary>
public sealed class WalStreamSyncTests(WalStreamSyncFixture db) : IClassFixture<WalStreamSyncFixture>
{
    [Fact]
    public async Task Synchronous_streaming_then_kill_9_of_the_postmaster_restores_every_committed_row()
    {
        var created = await db.RunAsPostgresAsync("wal-stream", "--create-slot");
        Assert.True(created.ExitCode == 0, created.ToString());
        await using var streamer = Streamer.Start(db.ConfigFile, "wal-stream", "--synchronous", "--application-name", "vault_sync");
        await db.WaitStreamingAsync("vault_sync");
        await db.ExecAsync("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'vault_sync'");
        await db.ExecAsync("postgres", "SELECT pg_reload_conf()");
        await db.WaitStreamingAsync("vault_sync", syncState: "sync");
        await db.BackupAsync("full");

        await db.ExecAsync("postgres", "CREATE TABLE committed (i int PRIMARY KEY, at timestamptz DEFAULT now())");
        int committed = 0;
        await using (var conn = db.Open())
        {
            for (int i = 1; i <= 300; i++)
            {
                await using var insert = new NpgsqlCommand($"INSERT INTO committed (i) VALUES ({i})", conn);
                await insert.ExecuteNonQueryAsync();
                committed = i;
            }
        }
        await db.KillPostmasterAsync(); // right after the last commit returned

        var stopped = await streamer.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        string dir = db.NewRestoreDir("stream-sync");
        var restored = await db.RunAsync("restore", "--pgdata", dir, "--archive-mode", "off");
        Assert.True(restored.ExitCode == 0, restored.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(committed, await server.ScalarAsync<long>("SELECT count(*) FROM committed"));
        Assert.Equal(committed, await server.ScalarAsync<int>("SELECT max(i) FROM committed"));
    }
}
