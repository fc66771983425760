using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// The WAL block map falls back to the page-hash scan, and says so, when the WAL it needs is gone
/// (here: the reference backup's start segment removed from the archive and from pg_wal). A
/// fixture of its own: the test damages the archive.
/// </summary>
public sealed class WalBlockMapFallbackTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    private const string Fingerprint = "SELECT count(*)::text || ':' || md5(string_agg(id::text || v, ',' ORDER BY id)) FROM fallback";

    [Fact]
    public async Task An_incremental_whose_WAL_is_missing_scans_the_pages_says_why_and_restores()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE fallback (id int PRIMARY KEY, v text); INSERT INTO fallback SELECT g, md5(g::text) FROM generate_series(1, 60000) g");
        string full = await fixture.BackupAsync("full");
        var info = (await fixture.RunAsync("info", full, "--output", "json")).Json.GetProperty("physical");
        string startWal = info.GetProperty("start_wal").GetString()!;

        await fixture.ExecAsync("postgres", "UPDATE fallback SET v = v || 'x' WHERE id % 200 = 0");
        // Move on two segments and two checkpoints, so PostgreSQL itself no longer needs the start segment.
        for (int i = 0; i < 2; i++)
        {
            await fixture.ArchiveEverythingAsync();
            await fixture.ExecAsync("postgres", "CHECKPOINT");
        }
        File.Delete(Path.Combine(fixture.Cluster.DataDir, "pg_wal", startWal));
        var archived = Directory.EnumerateFiles(fixture.RepoPath, startWal + "-*", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(archived);
        foreach (var f in archived) File.Delete(f);

        var incr = await fixture.RunAsync("backup", "--type", "incr", "--verify-block-map", "--output", "json");
        Assert.True(incr.ExitCode == 0, incr.ToString());
        var map = incr.Json.GetProperty("wal_block_map");
        Assert.False(map.GetProperty("used").GetBoolean());
        Assert.Contains(startWal, map.GetProperty("fallback_reason").GetString());
        Assert.Contains("page-hash scan", incr.Stderr + incr.Stdout);
        Assert.True(incr.Json.GetProperty("files_as_deltas").GetInt32() >= 1, incr.ToString()); // the scan found the changed pages
        string id = incr.Json.GetProperty("id").GetString()!;
        string expected = await fixture.ScalarAsync<string>("postgres", Fingerprint);

        string dir = fixture.NewRestoreDir("fallback");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(expected, await server.ScalarAsync<string>(Fingerprint));
    }
}
