using System.Diagnostics;
using System.Text.Json;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// Physical backups end to end on a real archiving cluster: full + incr + diff chains restored and
/// started, delta restores, pg_verifybackup, damaged packs, interrupted backups, bad input.
/// </summary>
public sealed class PhysicalBackupTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    private const string Fingerprint = "SELECT count(*)::text || ':' || coalesce(md5(string_agg(id::text || v, ',' ORDER BY id)), '') FROM chain";

    private async Task<string> FingerprintAsync() => await fixture.ScalarAsync<string>("postgres", Fingerprint);

    [Fact]
    public async Task Full_incr_diff_chain_restores_and_starts_with_the_same_data()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS chain (id int PRIMARY KEY, v text); TRUNCATE chain; " +
            "INSERT INTO chain SELECT g, md5(g::text) FROM generate_series(1, 60000) g");
        string full = await fixture.BackupAsync("full");
        string atFull = await FingerprintAsync();

        await fixture.ExecAsync("postgres", "UPDATE chain SET v = v || 'x' WHERE id % 100 = 0; INSERT INTO chain SELECT g, 'incr' FROM generate_series(60001, 61000) g");
        string incr = await fixture.BackupAsync("incr");
        string atIncr = await FingerprintAsync();

        await fixture.ExecAsync("postgres", "DELETE FROM chain WHERE id % 7 = 0; CREATE TABLE IF NOT EXISTS chain_side AS SELECT 1 AS a");
        string diff = await fixture.BackupAsync("diff");
        string atDiff = await FingerprintAsync();

        await fixture.ExecAsync("postgres", "INSERT INTO chain SELECT g, 'incr2' FROM generate_series(70001, 70500) g");
        string incr2 = await fixture.BackupAsync("incr");
        await fixture.ExecAsync("postgres", "INSERT INTO chain VALUES (80000, 'after every backup')");
        string atEnd = await FingerprintAsync();
        await fixture.ArchiveEverythingAsync();

        var info = await fixture.RunAsync("info", incr2, "--output", "json");
        var physical = info.Json.GetProperty("physical");
        Assert.Equal(diff, physical.GetProperty("reference").GetString());
        var chain = physical.GetProperty("chain").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains(full, chain);
        Assert.DoesNotContain(incr, chain); // a diff replaces the incrementals before it
        var diffInfo = (await fixture.RunAsync("info", diff, "--output", "json")).Json.GetProperty("physical");
        Assert.Equal(full, diffInfo.GetProperty("reference").GetString());
        // The chain table (several MiB) changed in a few pages each time: stored as changed pages.
        string table = await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('chain')");
        var entry = physical.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("path").GetString() == table);
        var deltas = entry.GetProperty("deltas").EnumerateArray().Select(d => d.GetProperty("backup").GetString()).ToList();
        Assert.Equal([diff, incr2], deltas); // on the full's base: the diff's pages, then the incr's
        // The page digest a restore checks from the page hashes of what it writes (no second read).
        Assert.Matches("^[0-9a-f]{32}$", entry.GetProperty("page_digest").GetString());
        Assert.Equal(full, entry.GetProperty("backup").GetString());
        Assert.True(physical.GetProperty("files_as_deltas").GetInt32() >= 1);

        foreach (var (id, expected) in new[] { (full, atFull), (incr, atIncr), (diff, atDiff) })
        {
            string dir = fixture.NewRestoreDir("chain");
            var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
            Assert.True(restore.ExitCode == 0, restore.ToString());
            var (verified, report) = await Run("/usr/lib/postgresql/15/bin/pg_verifybackup", "--no-parse-wal", dir); // SHA-256 and CRC32C entries
            Assert.True(verified, report);
            await using var server = await RestoredServer.StartAsync(dir);
            await server.WaitPromotedAsync();
            Assert.Equal(expected, await server.ScalarAsync<string>(Fingerprint));
        }

        // The newest incremental to the end of the archive: everything, including what came after it.
        string last = fixture.NewRestoreDir("chain-end");
        var toEnd = await fixture.RunAsync("restore", "--pgdata", last, "--archive-mode", "off");
        Assert.True(toEnd.ExitCode == 0, toEnd.ToString());
        Assert.Contains(incr2, toEnd.Stdout);
        await using (var server = await RestoredServer.StartAsync(last))
        {
            await server.WaitPromotedAsync();
            Assert.Equal(atEnd, await server.ScalarAsync<string>(Fingerprint));
        }
    }

    [Fact]
    public async Task An_incremental_of_an_idle_cluster_stores_almost_nothing()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS idle AS SELECT g, md5(g::text) AS v FROM generate_series(1, 50000) g; CHECKPOINT");
        await fixture.BackupAsync("full");
        await Task.Delay(1100); // out of the reference backup's start second
        var result = await fixture.RunAsync("backup", "--type", "incr", "--output", "json");
        Assert.True(result.ExitCode == 0, result.ToString());
        int stored = result.Json.GetProperty("files_stored").GetInt32();
        int unchanged = result.Json.GetProperty("files_referenced").GetInt32();
        Assert.True(unchanged > 500, result.Stdout);
        Assert.True(stored <= (stored + unchanged) / 20, $"{stored} of {stored + unchanged} files stored again:\n{result.Stdout}");
    }

    [Fact]
    public async Task A_restored_directory_passes_pg_verifybackup_and_a_changed_file_does_not()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS verified AS SELECT g FROM generate_series(1, 1000) g");
        string id = await fixture.BackupAsync("full");
        string dir = fixture.NewRestoreDir("verify");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        var (ok, output) = await Run("/usr/lib/postgresql/15/bin/pg_verifybackup", "--no-parse-wal", dir);
        Assert.True(ok, output);

        string relation = Path.Combine(dir, await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('verified')"));
        byte[] bytes = await File.ReadAllBytesAsync(relation);
        bytes[100] ^= 0x10;
        await File.WriteAllBytesAsync(relation, bytes);
        var (bad, badOutput) = await Run("/usr/lib/postgresql/15/bin/pg_verifybackup", "--no-parse-wal", dir);
        Assert.False(bad);
        Assert.Contains("checksum mismatch", badOutput);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Delta_restore_over_a_diverged_copy_brings_back_the_backup()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS delta (id int, v text); INSERT INTO delta SELECT g, 'before' FROM generate_series(1, 5000) g");
        string id = await fixture.BackupAsync("full");
        string expected = await fixture.ScalarAsync<string>("postgres", "SELECT count(*) || ':' || md5(string_agg(id || v, ',' ORDER BY id)) FROM delta");
        await fixture.ArchiveEverythingAsync();
        string dir = fixture.NewRestoreDir("delta");
        string[] restore = ["restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--target-action", "promote", "--archive-mode", "off"];
        Assert.Equal(0, (await fixture.RunAsync(restore)).ExitCode);
        await using (var server = await RestoredServer.StartAsync(dir))
        {
            await server.WaitPromotedAsync();
            await server.ScalarAsync<int>("UPDATE delta SET v = 'diverged' WHERE id < 100 RETURNING 1");
            await server.ScalarAsync<int>("CREATE TABLE only_in_copy AS SELECT 1 AS one; SELECT 1");
            await server.StopAsync();
        }
        File.WriteAllText(Path.Combine(dir, "stray-file"), "not in the backup");

        var refused = await fixture.RunAsync(restore);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("is not empty", refused.Stderr);

        var delta = await fixture.RunAsync([.. restore, "--delta", "--output", "json"]);
        Assert.True(delta.ExitCode == 0, delta.ToString());
        Assert.True(delta.Json.GetProperty("files_unchanged").GetInt32() > 500, delta.Stdout);
        Assert.True(delta.Json.GetProperty("files_written").GetInt32() > 0, delta.Stdout);
        Assert.False(File.Exists(Path.Combine(dir, "stray-file")));
        await using (var server = await RestoredServer.StartAsync(dir))
        {
            await server.WaitPromotedAsync();
            Assert.Equal(expected, await server.ScalarAsync<string>("SELECT count(*) || ':' || md5(string_agg(id || v, ',' ORDER BY id)) FROM delta"));
            Assert.False(await server.ScalarAsync<bool>("SELECT to_regclass('only_in_copy') IS NOT NULL"));
        }
    }

    [Fact]
    public async Task Damaged_page_hashes_of_the_reference_store_changed_files_whole_with_a_warning()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS hashed AS SELECT g, md5(g::text) AS v FROM generate_series(1, 100000) g");
        string full = await fixture.BackupAsync("full");
        string hashes = Path.Combine(fixture.RepoPath, "clusters/main/backups", full, "pagehashes");
        byte[] bytes = File.ReadAllBytes(hashes);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(hashes, bytes);
        await fixture.ExecAsync("postgres", "UPDATE hashed SET v = 'changed' WHERE g % 500 = 0");
        const string sum = "SELECT count(*)::text || ':' || md5(string_agg(g::text || v, ',' ORDER BY g)) FROM hashed";
        string atIncr = await fixture.ScalarAsync<string>("postgres", sum);

        var incr = await fixture.RunAsync("backup", "--type", "incr", "--output", "json");
        Assert.True(incr.ExitCode == 0, incr.ToString());
        Assert.Contains($"page hashes of backup {full} are unreadable", incr.Stderr);
        Assert.Contains("changed files are stored whole", incr.Stderr);
        string id = incr.Json.GetProperty("id").GetString()!;
        var info = await fixture.RunAsync("info", id, "--output", "json");
        Assert.Equal(0, info.Json.GetProperty("physical").GetProperty("files_as_deltas").GetInt32());

        string dir = fixture.NewRestoreDir("hashes");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir,
            "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using (var server = await RestoredServer.StartAsync(dir))
        {
            await server.WaitPromotedAsync();
            Assert.Equal(atIncr, await server.ScalarAsync<string>(sum));
        }
        await fixture.BackupAsync("full"); // the next diff of another test gets a healthy reference
    }

    [Fact]
    public async Task A_damaged_pack_fails_the_restore_naming_the_file()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS damaged AS SELECT g, md5(g::text) AS v FROM generate_series(1, 200000) g");
        string id = await fixture.BackupAsync("full");
        var (config, repo) = fixture.CopyRepository();
        string relation = await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('damaged')");
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(repo, "clusters/main/backups", id, "manifest.json")));
        var file = manifest.RootElement.GetProperty("physical").GetProperty("files").EnumerateArray().Single(f => f.GetProperty("path").GetString() == relation);
        DamageMember(Path.Combine(repo, "clusters/main/backups", id), file);
        string dir = fixture.NewRestoreDir("damaged");
        var result = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", id, "--pgdata", dir, "--archive-mode", "off"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(relation, result.Stderr);
        Assert.Contains("damaged", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public async Task Missing_WAL_between_the_backup_and_the_target_is_refused_before_anything_is_written()
    {
        string id = await fixture.BackupAsync("full");
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS gap AS SELECT 1 AS a");
        await fixture.ArchiveEverythingAsync();
        string after = await fixture.ScalarAsync<string>("postgres", "SELECT pg_current_wal_lsn()::text");
        await fixture.ArchiveEverythingAsync();
        await fixture.ExecAsync("postgres", "INSERT INTO gap VALUES (2)");
        await fixture.ArchiveEverythingAsync();
        string target = await fixture.ScalarAsync<string>("postgres", "SELECT pg_current_wal_lsn()::text");
        await fixture.ArchiveEverythingAsync();

        var (config, repo) = fixture.CopyRepository();
        var info = (await PgVaultCli.RunAsync(["--config", config, "info", id, "--output", "json"])).Json.GetProperty("physical");
        string stopWal = info.GetProperty("stop_wal").GetString()!;
        string afterWal = await fixture.ScalarAsync<string>("postgres", $"SELECT pg_walfile_name('{after}')");
        Assert.True(string.CompareOrdinal(afterWal, stopWal) > 0);
        foreach (var f in Directory.GetFiles(Path.Combine(repo, "clusters/main/wal", afterWal[..16]), afterWal + "-*")) File.Delete(f);

        string dir = fixture.NewRestoreDir("gap");
        var result = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", id, "--pgdata", dir, "--target-lsn", target]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"WAL segment {afterWal} is missing", result.Stderr);
        Assert.False(Directory.Exists(dir));
        var toEnd = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", id, "--pgdata", dir]);
        Assert.Equal(1, toEnd.ExitCode);
        Assert.Contains(afterWal, toEnd.Stderr);
        Assert.False(Directory.Exists(dir));
        // The backup itself is still restorable up to its end.
        var immediate = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--plan"]);
        Assert.True(immediate.ExitCode == 0, immediate.ToString());
    }

    [Fact]
    public async Task Bad_targets_are_clear_errors_and_leave_the_directory_untouched()
    {
        string id = await fixture.BackupAsync("full");
        string dir = fixture.NewRestoreDir("bad");
        Directory.CreateDirectory(dir);
        string[] start = ["restore", "--backup", id, "--pgdata", dir, "--force"];
        File.WriteAllText(Path.Combine(dir, "keep-me"), "x");

        var early = await fixture.RunAsync([.. start, "--target-time", "2000-01-01 00:00:00+00"]);
        Assert.Equal(1, early.ExitCode);
        Assert.Contains("before the end of backup", early.Stderr);

        var timeline = await fixture.RunAsync([.. start, "--target-timeline", "7"]);
        Assert.Equal(1, timeline.ExitCode);
        Assert.Contains("timeline 7 does not exist", timeline.Stderr);

        var name = await fixture.RunAsync([.. start, "--target-name", "never-created"]);
        Assert.Equal(1, name.ExitCode);
        Assert.Contains("no restore point named 'never-created'", name.Stderr);

        var lsn = await fixture.RunAsync([.. start, "--target-lsn", "0/1"]);
        Assert.Equal(1, lsn.ExitCode);
        Assert.Contains("before the end of backup", lsn.Stderr);

        var garbage = await fixture.RunAsync([.. start, "--target-lsn", "nonsense"]);
        Assert.Equal(2, garbage.ExitCode);
        var two = await fixture.RunAsync([.. start, "--target-lsn", "0/1", "--target", "immediate"]);
        Assert.Equal(2, two.ExitCode);
        var standbyTarget = await fixture.RunAsync([.. start, "--type", "standby", "--target", "immediate"]);
        Assert.Equal(2, standbyTarget.ExitCode);
        var password = await fixture.RunAsync([.. start, "--type", "standby", "--primary-conninfo", "host=x password=secret"]);
        Assert.Equal(2, password.ExitCode);
        Assert.DoesNotContain("secret", password.Stderr);
        var logical = await fixture.RunAsync([.. start, "--db", "x"]);
        Assert.Equal(2, logical.ExitCode);

        foreach (var r in new[] { early, timeline, name, lsn, garbage, two, standbyTarget, password, logical })
        {
            Assert.Single(r.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
            Assert.DoesNotContain("   at ", r.Stderr);
        }
        Assert.Equal("keep-me", Path.GetFileName(Assert.Single(Directory.GetFileSystemEntries(dir))));
    }

    [Fact]
    public async Task Plan_prints_the_chain_and_wal_and_touches_nothing()
    {
        string full = await fixture.BackupAsync("full");
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS planned AS SELECT 1 AS a");
        string incr = await fixture.BackupAsync("incr");
        await fixture.ArchiveEverythingAsync();
        string dir = fixture.NewRestoreDir("plan");
        var plan = await fixture.RunAsync("restore", "--backup", incr, "--pgdata", dir, "--plan", "--output", "json");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        var json = plan.Json.GetProperty("plan");
        Assert.False(plan.Json.GetProperty("executed").GetBoolean());
        Assert.Equal(incr, json.GetProperty("backup_id").GetString());
        Assert.Contains(full, json.GetProperty("chain").EnumerateArray().Select(e => e.GetString()));
        Assert.True(json.GetProperty("disk_needed").GetInt64() > 10_000_000);
        Assert.True(json.GetProperty("wal_segments").GetInt32() >= 1);
        Assert.Equal(24, json.GetProperty("wal_from").GetString()!.Length);
        Assert.True(string.CompareOrdinal(json.GetProperty("wal_to").GetString(), json.GetProperty("wal_from").GetString()) >= 0);
        Assert.False(Directory.Exists(dir));
        var text = await fixture.RunAsync("restore", "--backup", incr, "--pgdata", dir, "--plan");
        Assert.Contains("nothing was changed", text.Stdout);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task A_backup_killed_half_way_is_not_listed_and_the_next_backup_works()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS bulky AS SELECT g, md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 1500000) g");
        var before = (await fixture.RunAsync("list", "--output", "json")).Json.EnumerateArray().Select(e => e.GetProperty("id").GetString()).ToList();
        using var process = PgVaultCli.Start(["--config", fixture.ConfigFile, "backup", "--type", "full", "--parallel", "1"]);
        string backups = Path.Combine(fixture.RepoPath, "clusters/main/backups");
        var clock = Stopwatch.StartNew();
        while (!Directory.Exists(backups) || !Directory.EnumerateDirectories(backups).Any(d => !before.Contains(Path.GetFileName(d)) && Directory.Exists(Path.Combine(d, "pg"))
            && Directory.EnumerateFiles(Path.Combine(d, "pg")).Any()))
        {
            Assert.False(process.HasExited, "the backup finished before it could be killed");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60));
            await Task.Delay(20);
        }
        string killed = Directory.EnumerateDirectories(backups).Select(Path.GetFileName).Single(d => !before.Contains(d))!;
        process.Kill();
        await process.WaitForExitAsync();

        var after = (await fixture.RunAsync("list", "--output", "json")).Json.EnumerateArray().Select(e => e.GetProperty("id").GetString()).ToList();
        Assert.Equal(before, after);
        string next = await fixture.BackupAsync("incr");
        Assert.Contains(next, (await fixture.RunAsync("list", "--output", "json")).Json.EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.False(Directory.Exists(Path.Combine(backups, killed)), "the next backup removes what the killed one left");
    }

    [Fact]
    public async Task A_backup_under_load_with_files_growing_and_vanishing_restores_to_a_consistent_cluster()
    {
        await fixture.ExecAsync("postgres", "CREATE EXTENSION IF NOT EXISTS amcheck; CREATE TABLE IF NOT EXISTS growing (id bigserial PRIMARY KEY, v text)");
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            int round = 0;
            while (!stop.IsCancellationRequested)
            {
                // Files grow (inserts), appear and vanish (tables created and dropped) while the backup copies.
                await fixture.ExecAsync("postgres", $"INSERT INTO growing (v) SELECT md5(g::text) FROM generate_series(1, 5000) g");
                await fixture.ExecAsync("postgres", $"CREATE TABLE churn_{round} AS SELECT g FROM generate_series(1, 20000) g");
                if (round > 0) await fixture.ExecAsync("postgres", $"DROP TABLE churn_{round - 1}");
                round++;
            }
            return round;
        });
        await Task.Delay(300);
        string id = await fixture.BackupAsync("full");
        stop.Cancel();
        int rounds = await load;
        Assert.True(rounds > 1, "the load ran during the backup");
        await fixture.ExecAsync("postgres", $"DROP TABLE IF EXISTS churn_{rounds - 1}");
        await fixture.ArchiveEverythingAsync();

        string dir = fixture.NewRestoreDir("under-load");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.True(await server.ScalarAsync<long>("SELECT count(*) FROM growing") > 0);
        // pg_amcheck: every heap and B-tree of the restored database is intact.
        var (code, output) = await RestoredServer.RunAsPostgresAsync("/usr/lib/postgresql/15/bin/pg_amcheck", "-h", server.SocketDir, "-p", server.Port.ToString(),
            "-U", "postgres", "-d", "postgres", "--heapallindexed");
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task An_interrupted_backup_removes_what_it_wrote_at_once()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS bulky AS SELECT g, md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 1500000) g");
        string backups = Path.Combine(fixture.RepoPath, "clusters/main/backups");
        var before = Directory.Exists(backups) ? Directory.GetDirectories(backups).Select(Path.GetFileName).ToList() : [];
        using var process = PgVaultCli.Start(["--config", fixture.ConfigFile, "backup", "--type", "full", "--parallel", "1"]);
        var stderr = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (!Directory.Exists(backups) || !Directory.EnumerateDirectories(backups).Any(d => !before.Contains(Path.GetFileName(d)) && Directory.Exists(Path.Combine(d, "pg"))
            && Directory.EnumerateFiles(Path.Combine(d, "pg")).Any()))
        {
            Assert.False(process.HasExited, "the backup finished before it could be interrupted");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60));
            await Task.Delay(20);
        }
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString()])) await kill.WaitForExitAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {await stderr}");
        Assert.Contains("interrupted", await stderr);
        Assert.Equal(before.Order(), (Directory.Exists(backups) ? Directory.GetDirectories(backups).Select(Path.GetFileName).ToList() : []).Order());
        // The server is not left in backup mode: the next backup starts at once.
        string next = await fixture.BackupAsync("incr");
        Assert.NotEmpty(next);
    }

    [Fact]
    public async Task A_standby_restore_follows_its_primary()
    {
        string id = await fixture.BackupAsync("full");
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS followed (id int)");
        string dir = fixture.NewRestoreDir("standby");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--type", "standby",
            "--primary-conninfo", $"host={fixture.Cluster.SocketDir} port={fixture.Cluster.Port} user=postgres", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.True(File.Exists(Path.Combine(dir, "standby.signal")));
        await using var standby = await RestoredServer.StartAsync(dir);
        Assert.True(await standby.ScalarAsync<bool>("SELECT pg_is_in_recovery()"));
        await fixture.ExecAsync("postgres", "INSERT INTO followed VALUES (42)");
        var clock = Stopwatch.StartNew();
        // The row may arrive through restore_command (archive-get) before the WAL receiver has
        // connected: the standby must end up streaming from its primary as well.
        while (true)
        {
            bool seen = await standby.ScalarAsync<bool>("SELECT to_regclass('followed') IS NOT NULL")
                && await standby.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM followed WHERE id = 42)")
                && await standby.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')");
            if (seen) break;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the standby did not follow by streaming:\n" + standby.Log());
            await Task.Delay(100);
        }

        // A physical backup pointed at the standby is refused with a clear message.
        var fromStandby = await fixture.RunAsync("--connection", $"host={standby.SocketDir} port={standby.Port} user=postgres dbname=postgres", "backup", "--type", "full");
        Assert.Equal(1, fromStandby.ExitCode);
        Assert.Contains("the server is a standby", fromStandby.Stderr);
    }

    [Fact]
    public async Task A_damaged_base_member_is_read_again_from_the_next_repository_and_its_deltas_still_check()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS twice AS SELECT g, md5(g::text) AS v FROM generate_series(1, 200000) g");
        string full = await fixture.BackupAsync("full");
        await fixture.ExecAsync("postgres", "UPDATE twice SET v = 'changed' WHERE g % 1000 = 0");
        string incr = await fixture.BackupAsync("incr");
        const string sum = "SELECT count(*)::text || ':' || md5(string_agg(g::text || v, ',' ORDER BY g)) FROM twice";
        string expected = await fixture.ScalarAsync<string>("postgres", sum);
        await fixture.ArchiveEverythingAsync();

        // A second repository, listed first, holding a copy whose base member of the table is damaged.
        string root = fixture.NewRestoreDir("twice");
        Directory.CreateDirectory(root);
        string config = Path.Combine(root, "pgvault.yaml");
        string second = Path.Combine(root, "repo2");
        File.WriteAllText(config, File.ReadAllText(fixture.ConfigFile).Replace("repositories:\n", $"repositories:\n  - name: second\n    path: {second}\n", StringComparison.Ordinal));
        Assert.Equal(0, (await PgVaultCli.RunAsync(["--config", config, "--repo", "second", "repo", "init"])).ExitCode);
        var sync = await PgVaultCli.RunAsync(["--config", config, "repo", "sync", "--from", "local", "--to", "second"]);
        Assert.True(sync.ExitCode == 0, sync.ToString());
        await ArchivingFixture.Chown("-R", "postgres:postgres", root);
        string relation = await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('twice')");
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(second, "clusters/main/backups", incr, "manifest.json")));
        var file = manifest.RootElement.GetProperty("physical").GetProperty("files").EnumerateArray().Single(f => f.GetProperty("path").GetString() == relation);
        Assert.Equal(full, file.GetProperty("backup").GetString()); // the base member is the full's
        Assert.Equal(incr, Assert.Single(file.GetProperty("deltas").EnumerateArray()).GetProperty("backup").GetString());
        DamageMember(Path.Combine(second, "clusters/main/backups", full), file);

        // The pack is read again from 'local'; the file is written again, its deltas applied and checked.
        string dir = fixture.NewRestoreDir("twice-restored");
        var restore = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", incr, "--pgdata", dir,
            "--target", "immediate", "--target-action", "promote", "--archive-mode", "off"]);
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Contains("repository 'second'", restore.Stderr);
        Assert.Contains($"of backup {full} from 'local'", restore.Stderr);
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(expected, await server.ScalarAsync<string>(sum));
    }

    [Fact]
    public async Task SyncedChain_RestoresToARestorePointFromTheCopyAlone()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS synced (id int); INSERT INTO synced SELECT generate_series(1, 3000)");
        await fixture.BackupAsync("full");
        await fixture.ExecAsync("postgres", "INSERT INTO synced SELECT generate_series(3001, 4000)");
        await fixture.BackupAsync("incr");
        await fixture.ExecAsync("postgres", "INSERT INTO synced SELECT generate_series(4001, 4500)");
        string point = "synced-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, (await fixture.RunAsync("restore-point", point)).ExitCode);
        await fixture.ExecAsync("postgres", "INSERT INTO synced SELECT generate_series(4501, 5000)");
        await fixture.ArchiveEverythingAsync();
        string root = fixture.NewRestoreDir("second");
        Directory.CreateDirectory(root);
        string config = Path.Combine(root, "pgvault.yaml");
        string second = Path.Combine(root, "repo2");
        string both = File.ReadAllText(fixture.ConfigFile);
        File.WriteAllText(config, both.Replace("clusters:", $"  - name: second\n    path: {second}\nclusters:", StringComparison.Ordinal));
        Assert.Equal(0, (await PgVaultCli.RunAsync(["--config", config, "--repo", "second", "repo", "init"])).ExitCode);
        var sync = await PgVaultCli.RunAsync(["--config", config, "repo", "sync", "--from", "local", "--to", "second"]);
        Assert.True(sync.ExitCode == 0, sync.ToString());
        Assert.Contains("WAL file(s)", sync.ToString());
        var again = await PgVaultCli.RunAsync(["--config", config, "repo", "sync", "--from", "local", "--to", "second"]);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("copied", again.ToString()); // idempotent: nothing twice
        await ArchivingFixture.Chown("-R", "postgres:postgres", second);

        // The first repository leaves the configuration: the copy alone must carry the restore.
        string alone = Path.Combine(root, "second-only.yaml");
        File.WriteAllText(alone, both.Replace($"  - name: local\n    path: {fixture.RepoPath}\n", $"  - name: second\n    path: {second}\n", StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.RepoPath, File.ReadAllText(alone));
        string dir = fixture.NewRestoreDir("from-second");
        var restore = await PgVaultCli.RunAsync(["--config", alone, "restore", "--pgdata", dir, "--target-name", point, "--target-action", "promote", "--archive-mode", "off"]);
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(4500L, await server.ScalarAsync<long>("SELECT count(*) FROM synced"));
        Assert.Contains(point, server.Log());
    }

    [Fact]
    public async Task Tablespaces_are_backed_up_and_restored_to_a_mapped_location()
    {
        string location = fixture.NewRestoreDir("tblspc");
        Directory.CreateDirectory(location);
        await ArchivingFixture.Chown("postgres:postgres", location);
        await fixture.ExecAsync("postgres", $"CREATE TABLESPACE spc LOCATION '{location}'");
        try
        {
            await TablespaceRoundTripAsync(location);
        }
        finally
        {
            // Later tests restore newer backups, which must not carry this tablespace.
            await fixture.ExecAsync("postgres", "DROP TABLE IF EXISTS in_spc");
            await fixture.ExecAsync("postgres", "DROP TABLESPACE IF EXISTS spc");
        }
    }

    private async Task TablespaceRoundTripAsync(string location)
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE in_spc (id int, v text) TABLESPACE spc; INSERT INTO in_spc SELECT g, md5(g::text) FROM generate_series(1, 10000) g");
        string id = await fixture.BackupAsync("full");
        await fixture.ArchiveEverythingAsync();
        var info = (await fixture.RunAsync("info", id, "--output", "json")).Json.GetProperty("physical");
        var spc = info.GetProperty("tablespaces").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "spc");
        string oid = spc.GetProperty("oid").GetUInt32().ToString();
        Assert.Contains(info.GetProperty("files").EnumerateArray(), f => f.GetProperty("path").GetString()!.StartsWith($"pg_tblspc/{oid}/PG_15_", StringComparison.Ordinal));

        // The original location is taken: restoring there is refused; a mapped location works.
        string dir = fixture.NewRestoreDir("tblspc-data");
        var refused = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--plan");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("tablespace directory", refused.Stderr);
        string mapped = fixture.NewRestoreDir("tblspc-mapped");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--tablespace-map", $"spc={mapped}",
            "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal(mapped, new FileInfo(Path.Combine(dir, "pg_tblspc", oid)).LinkTarget);
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(10000L, await server.ScalarAsync<long>("SELECT count(*) FROM in_spc"));
        Assert.Equal(mapped, await server.ScalarAsync<string>("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'spc'"));
        await server.StopAsync();

        var bad = await fixture.RunAsync("restore", "--backup", id, "--pgdata", fixture.NewRestoreDir("x"), "--tablespace-map", "nosuch=/tmp/x", "--plan");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("no tablespace 'nosuch'", bad.Stderr);
    }

    [Fact]
    public async Task Bad_pages_are_found_and_recorded_in_the_manifest()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE broken AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g; CHECKPOINT");
        string file = Path.Combine(fixture.Cluster.DataDir, await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('broken')"));
        await fixture.Cluster.StopAsync();
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = 3 * 8192 + 4000; // inside page 3, away from its header
            int b = stream.ReadByte();
            stream.Position = 3 * 8192 + 4000;
            stream.WriteByte((byte)(b ^ 0xFF));
        }
        await fixture.Cluster.StartServerAsync(CancellationToken.None);
        try
        {
            var result = await fixture.RunAsync("backup", "--type", "full", "--output", "json");
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal(1, result.Json.GetProperty("bad_pages").GetInt32());
            Assert.Contains("failed their checksum", result.Stderr);
            string id = result.Json.GetProperty("id").GetString()!;
            var files = (await fixture.RunAsync("info", id, "--output", "json")).Json.GetProperty("physical").GetProperty("files");
            string relative = Path.GetRelativePath(fixture.Cluster.DataDir, file);
            var entry = files.EnumerateArray().Single(f => f.GetProperty("path").GetString() == relative);
            Assert.Equal([3L], entry.GetProperty("bad_pages").EnumerateArray().Select(e => e.GetInt64()).ToArray());
            Assert.Contains("blocks 3", (await fixture.RunAsync("info", id)).Stdout);
        }
        finally
        {
            await fixture.ExecAsync("postgres", "DROP TABLE broken");
        }
    }

    [Fact]
    public async Task A_file_whose_mtime_cannot_be_trusted_is_compared_by_content_and_stored_again_only_when_changed()
    {
        // A file with an mtime in the future: size and mtime say nothing, so an incremental reads it
        // and compares it with the reference's XXH128 (its backup_manifest checksum is CRC-32C).
        string probe = Path.Combine(fixture.Cluster.DataDir, "pgvault_untrusted_mtime");
        var future = DateTime.UtcNow.AddDays(2);
        await File.WriteAllTextAsync(probe, "content one");
        File.SetLastWriteTimeUtc(probe, future);
        try
        {
            string full = await fixture.BackupAsync("full");
            await Task.Delay(1100);
            string same = await fixture.BackupAsync("incr");
            await File.WriteAllTextAsync(probe, "content two"); // same size, same mtime
            File.SetLastWriteTimeUtc(probe, future);
            await Task.Delay(1100);
            string changed = await fixture.BackupAsync("incr");

            async Task<JsonElement> EntryAsync(string id) => (await fixture.RunAsync("info", id, "--output", "json")).Json.GetProperty("physical").GetProperty("files")
                .EnumerateArray().Single(f => f.GetProperty("path").GetString() == "pgvault_untrusted_mtime");
            var (first, second, third) = (await EntryAsync(full), await EntryAsync(same), await EntryAsync(changed));
            Assert.Equal(full, first.GetProperty("backup").GetString());
            Assert.Matches("^[0-9a-f]{8}$", first.GetProperty("crc32c").GetString()!);
            Assert.Equal(full, second.GetProperty("backup").GetString()); // read, found equal, taken over
            Assert.Equal(changed, third.GetProperty("backup").GetString()); // read, found different, stored
            Assert.NotEqual(first.GetProperty("xxh128").GetString(), third.GetProperty("xxh128").GetString());

            await fixture.ArchiveEverythingAsync();
            string dir = fixture.NewRestoreDir("untrusted-mtime");
            var restore = await fixture.RunAsync("restore", "--backup", changed, "--pgdata", dir, "--archive-mode", "off");
            Assert.True(restore.ExitCode == 0, restore.ToString());
            Assert.Equal("content two", await File.ReadAllTextAsync(Path.Combine(dir, "pgvault_untrusted_mtime")));
            var (verified, report) = await Run("/usr/lib/postgresql/15/bin/pg_verifybackup", "--no-parse-wal", dir);
            Assert.True(verified, report);
            await using var server = await RestoredServer.StartAsync(dir);
            await server.WaitPromotedAsync();
            Assert.Equal(1, await server.ScalarAsync<int>("SELECT 1"));
        }
        finally
        {
            File.Delete(probe);
        }
    }

    [Fact]
    public async Task An_incremental_with_no_full_backup_becomes_a_full_one_with_a_warning()
    {
        string root = fixture.NewRestoreDir("fresh");
        Directory.CreateDirectory(root);
        string config = Path.Combine(root, "pgvault.yaml");
        string repo = Path.Combine(root, "repo");
        // The same cluster and a new, empty repository (the server's archive_command does not push into it).
        File.WriteAllText(config, File.ReadAllText(fixture.ConfigFile).Replace(fixture.RepoPath, repo, StringComparison.Ordinal)
            .Replace("archive_timeout: 60", "archive_timeout: 5", StringComparison.Ordinal));
        Assert.Equal(0, (await PgVaultCli.RunAsync(["--config", config, "repo", "init"])).ExitCode);
        var result = await PgVaultCli.RunAsync(["--config", config, "backup", "--type", "incr", "--output", "json"]);
        // The new repository has no WAL: the backup waits for it, fails after archive_timeout and is removed.
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no full backup", result.Stderr);
        Assert.Contains("taking a full backup instead", result.Stderr);
        Assert.Contains("did not reach the archive within 5 s", result.Stderr);
        Assert.Empty((await PgVaultCli.RunAsync(["--config", config, "list", "--output", "json"])).Json.EnumerateArray());
        // backup_manifest and the page hashes are written while the WAL is awaited: removed with the rest.
        string backups = Path.Combine(repo, "clusters/main/backups");
        Assert.True(!Directory.Exists(backups) || !Directory.EnumerateFileSystemEntries(backups).Any(),
            string.Join(", ", Directory.Exists(backups) ? Directory.EnumerateFileSystemEntries(backups, "*", SearchOption.AllDirectories) : []));
    }

    /// <summary>Flips one byte in the middle of a file's stored member (in the pack of <paramref name="backupDir"/> its manifest entry names).</summary>
    private static void DamageMember(string backupDir, JsonElement file)
    {
        string pack = Path.Combine(backupDir, file.GetProperty("pack").GetString()!);
        long at = file.GetProperty("offset").GetInt64() + file.GetProperty("length").GetInt64() / 2;
        using var stream = new FileStream(pack, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = at;
        int b = stream.ReadByte();
        stream.Position = at;
        stream.WriteByte((byte)(b ^ 0x5A));
    }

    private static async Task<(bool Ok, string Output)> Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode == 0, output);
    }
}
