using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// The archived WAL an incremental's block map reads is fetched while the server runs
/// pg_backup_start's checkpoint (docs/physical-backups.md, "Incrementals from WAL"): the map is
/// then built from those copies; a copy that turns out damaged in the archive makes the backup fall
/// back to the page-hash scan and say why. Each test takes its own full backup and pushes the
/// WAL on until PostgreSQL no longer holds the full's start segment in pg_wal. A fixture of its
/// own: a test damages the archive.
/// </summary>
public sealed class WalFetchAheadTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    /// <summary>A full backup of a fresh table, a change, then the WAL moved on so the full's start segment is only in the archive.</summary>
    private async Task<(string Table, string StartWal)> FullThenChangeAsync(string table)
    {
        await fixture.ExecAsync("postgres", $"CREATE TABLE {table} (id int PRIMARY KEY, v text); INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, 60000) g");
        string full = await fixture.BackupAsync("full");
        string startWal = (await fixture.RunAsync("info", full, "--output", "json")).Json.GetProperty("physical").GetProperty("start_wal").GetString()!;
        await fixture.ExecAsync("postgres", $"UPDATE {table} SET v = v || 'x' WHERE id % 150 = 0");
        for (int i = 0; i < 2; i++)
        {
            await fixture.ArchiveEverythingAsync();
            await fixture.ExecAsync("postgres", "CHECKPOINT");
        }
        // Archived and no longer needed by PostgreSQL after two checkpoints: gone from pg_wal as a recycled file would be.
        File.Delete(Path.Combine(fixture.Cluster.DataDir, "pg_wal", startWal));
        return (table, startWal);
    }

    private async Task RestoreAndCompareAsync(string id, string table)
    {
        string fingerprint = $"SELECT count(*)::text || ':' || md5(string_agg(id::text || v, ',' ORDER BY id)) FROM {table}";
        string expected = await fixture.ScalarAsync<string>("postgres", fingerprint);
        string dir = fixture.NewRestoreDir(table);
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(expected, await server.ScalarAsync<string>(fingerprint));
    }

    [Fact]
    public async Task An_incremental_builds_its_block_map_from_archived_WAL_fetched_during_the_start_checkpoint_and_restores()
    {
        var (table, _) = await FullThenChangeAsync("ahead");

        // --verify-block-map: the map is used whatever the WAL's size, and checked against a scan of every vouched file.
        var incr = await fixture.RunAsync("backup", "--type", "incr", "--verify-block-map", "--output", "json");
        Assert.True(incr.ExitCode == 0, incr.ToString());
        var map = incr.Json.GetProperty("wal_block_map");
        Assert.True(map.GetProperty("used").GetBoolean(), incr.ToString());
        Assert.True(map.GetProperty("verified").GetBoolean());
        Assert.True(map.GetProperty("segments_from_archive").GetInt32() >= 1, incr.ToString());
        Assert.True(map.GetProperty("segments_fetched_ahead").GetInt32() >= 1, incr.ToString());
        Assert.True(map.GetProperty("files").GetInt32() >= 1, incr.ToString());

        await RestoreAndCompareAsync(incr.Json.GetProperty("id").GetString()!, table);
    }

    [Fact]
    public async Task A_segment_fetched_ahead_that_is_damaged_in_the_archive_makes_the_incremental_scan_say_so_and_restore()
    {
        var (table, startWal) = await FullThenChangeAsync("ahead_damaged");
        var archived = Directory.EnumerateFiles(fixture.RepoPath, startWal + "-*", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(archived);
        foreach (var file in archived)
        {
            // Someone else's write: one byte in the middle of the stored object.
            byte[] bytes = File.ReadAllBytes(file);
            bytes[bytes.Length / 2] ^= 0x5A;
            File.WriteAllBytes(file, bytes);
        }

        var incr = await fixture.RunAsync("backup", "--type", "incr", "--verify-block-map", "--output", "json");
        Assert.True(incr.ExitCode == 0, incr.ToString());
        var map = incr.Json.GetProperty("wal_block_map");
        Assert.False(map.GetProperty("used").GetBoolean(), incr.ToString());
        string reason = map.GetProperty("fallback_reason").GetString()!;
        Assert.Contains(startWal, reason);
        Assert.Contains("damaged", reason);
        Assert.Contains($"{startWal}-", incr.Stderr); // the damaged object is named, not only worked around
        Assert.True(incr.Json.GetProperty("files_as_deltas").GetInt32() >= 1, incr.ToString()); // the scan found the changed pages

        await RestoreAndCompareAsync(incr.Json.GetProperty("id").GetString()!, table);
    }
}
