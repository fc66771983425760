using Npgsql;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

public sealed class WalStreamAsyncFixture : WalStreamFixture;

/// <summary>
/// Asynchronous streaming is the only archiver: a backup taken while it runs, a load that fills
/// several segments, a crash of the primary one flush interval after the load; a PITR to the end
/// from the archive (and the streamer's spool, through archive-get --partial) has every row.
/// </summary>
public sealed class WalStreamTests(WalStreamAsyncFixture db) : IClassFixture<WalStreamAsyncFixture>
{
    [Fact]
    public async Task Async_streaming_then_a_primary_crash_restores_every_row_committed_before_the_flush_interval()
    {
        var created = await db.RunAsPostgresAsync("wal-stream", "--create-slot", "--output", "json");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Equal("created", created.Json.GetProperty("action").GetString());
        Assert.Equal("pgvault_main", created.Json.GetProperty("slot").GetString());

        await using var streamer = Streamer.Start(db.ConfigFile, "wal-stream");
        await db.WaitStreamingAsync();
        await db.BackupAsync("full");

        await db.ExecAsync("postgres", "CREATE TABLE streamed (i int PRIMARY KEY, pad text)");
        // Several segments in bulk (each pushed when complete), then single-row commits (the last, partial segment).
        await db.ExecAsync("postgres", "INSERT INTO streamed SELECT g, repeat('x', 1000) FROM generate_series(1, 40000) g");
        await using (var conn = db.Open())
        {
            for (int i = 40001; i <= 40300; i++)
            {
                await using var insert = new NpgsqlCommand($"INSERT INTO streamed VALUES ({i}, 'row {i}')", conn);
                await insert.ExecuteNonQueryAsync();
            }
        }
        long committed = await db.ScalarAsync<long>("postgres", "SELECT count(*) FROM streamed");
        string lastSegment = await db.ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
        await Task.Delay(TimeSpan.FromSeconds(3)); // more than the status (and fsync) interval of 1 s
        await db.Cluster.StopAsync("immediate");

        var stopped = await streamer.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Contains("stopped:", stopped.Stdout);
        Assert.True(File.Exists(Path.Combine(db.StreamSpool, lastSegment + ".partial")), "the last segment is in the spool as .partial:\n" + stopped.Stderr);
        Assert.DoesNotContain(db.ArchivedSegments(), s => string.CompareOrdinal(s, lastSegment) >= 0);
        Assert.True(db.ArchivedSegments().Count >= 3, string.Join(", ", db.ArchivedSegments()));

        string dir = db.NewRestoreDir("stream-async");
        var restored = await db.RunAsync("restore", "--pgdata", dir, "--archive-mode", "off");
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Contains("archive-get --partial", File.ReadAllText(Path.Combine(dir, "postgresql.auto.conf")));
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(committed, await server.ScalarAsync<long>("SELECT count(*) FROM streamed"));
        Assert.Equal(40300, await server.ScalarAsync<int>("SELECT max(i) FROM streamed"));
    }
}
