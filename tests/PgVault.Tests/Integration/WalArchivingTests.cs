using System.Diagnostics;
using System.Globalization;
using PgVault.Core.Sandbox;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>archive-push / archive-get on a real cluster with archiving on, and their failure paths.</summary>
public sealed class WalArchivingTests(ArchivingFixture db) : IClassFixture<ArchivingFixture>
{
    private static ulong SegmentNumber(string name) =>
        ulong.Parse(name.AsSpan(8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture) * 256 + ulong.Parse(name.AsSpan(16, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static void AssertNoGap(IReadOnlyList<string> segments, string from, string to)
    {
        var wanted = segments.Where(s => string.CompareOrdinal(s, from) >= 0 && string.CompareOrdinal(s, to) <= 0).ToList();
        Assert.Equal(from, wanted[0]);
        Assert.Equal(to, wanted[^1]);
        for (int i = 1; i < wanted.Count; i++)
            Assert.True(SegmentNumber(wanted[i]) == SegmentNumber(wanted[i - 1]) + 1, $"gap between {wanted[i - 1]} and {wanted[i]}");
    }

    [Fact]
    public async Task Pgbench_wal_arrives_with_no_gap_and_reads_back_identical()
    {
        string first = await db.SwitchWalAsync();
        await db.CreateDatabaseAsync("bench");
        await db.Cluster.RunToolAsync("pgbench", ["-i", "-s", "4", "-q", "-h", db.Cluster.SocketDir, "-p", db.Cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "bench"], CancellationToken.None);
        string last = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(last);
        var archived = db.ArchivedSegments();
        Assert.True(SegmentNumber(last) - SegmentNumber(first) >= 3, $"pgbench should span several segments ({first}..{last})");
        AssertNoGap(archived, first, last);

        // archive-get returns the very bytes PostgreSQL wrote (the segment may still be in pg_wal).
        string inWal = Path.Combine(db.Cluster.DataDir, "pg_wal", last);
        string fetched = Path.Combine(db.Root, "fetched");
        var get = await db.RunAsync("archive-get", last, fetched);
        Assert.True(get.ExitCode == 0, get.ToString());
        if (File.Exists(inWal)) Assert.Equal(File.ReadAllBytes(inWal), File.ReadAllBytes(fetched));
        Assert.Equal(16 * 1024 * 1024, new FileInfo(fetched).Length);
        File.Delete(fetched);
    }

    [Fact]
    public async Task Archive_get_of_a_missing_segment_returns_1_quietly()
    {
        var result = await db.RunAsync("archive-get", "00000001000000FF000000FE", Path.Combine(db.Root, "never"));
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal("", result.Stderr);
        var history = await db.RunAsync("archive-get", "00000009.history", Path.Combine(db.Root, "never"));
        Assert.Equal(1, history.ExitCode);
        Assert.False(File.Exists(Path.Combine(db.Root, "never")));
    }

    [Fact]
    public async Task Duplicate_push_is_fine_and_different_content_under_the_same_name_is_refused()
    {
        string segment = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(segment);
        string copy = Path.Combine(db.Root, segment);
        var get = await db.RunAsync("archive-get", segment, copy);
        Assert.Equal(0, get.ExitCode);
        var again = await db.RunAsync("archive-push", copy);
        Assert.True(again.ExitCode == 0, again.ToString());

        byte[] bytes = File.ReadAllBytes(copy);
        bytes[10_000] ^= 0xFF;
        File.WriteAllBytes(copy, bytes);
        var different = await db.RunAsync("archive-push", copy);
        Assert.Equal(1, different.ExitCode);
        Assert.Contains($"WAL file {segment} is already archived in repository 'local' with different content", different.Stderr, StringComparison.Ordinal);
        File.Delete(copy);
    }

    /// <summary>
    /// archive-push maps a segment and hashes it once (the stored bytes are not hashed again): with
    /// every WAL compression, and pushed twice, the segment still reads back byte for byte.
    /// </summary>
    [Theory]
    [InlineData("none")]
    [InlineData("lz4")]
    [InlineData("zstd")]
    public async Task Mapped_segment_pushed_with_each_wal_compression_reads_back_identical(string compression)
    {
        string segment = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(segment);
        string dir = Path.Combine(db.Root, "each-" + compression);
        Directory.CreateDirectory(dir);
        string copy = Path.Combine(dir, segment);
        Assert.Equal(0, (await db.RunAsync("archive-get", segment, copy)).ExitCode);
        string repo = Path.Combine(dir, "repo");
        string config = Path.Combine(dir, "pgvault.yaml");
        File.WriteAllText(config, $"repositories:\n  - name: local\n    path: {repo}\nclusters:\n  main:\n    wal_compression: {compression}\n");
        Assert.Equal(0, (await PgVaultCli.RunAsync(["--config", config, "repo", "init"])).ExitCode);
        for (int i = 0; i < 2; i++)
        {
            var push = await PgVaultCli.RunAsync(["--config", config, "--cluster", "main", "archive-push", copy]);
            Assert.True(push.ExitCode == 0, push.ToString());
        }
        string fetched = Path.Combine(dir, "fetched");
        var get = await PgVaultCli.RunAsync(["--config", config, "--cluster", "main", "archive-get", segment, fetched]);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(File.ReadAllBytes(copy), File.ReadAllBytes(fetched));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Segment_of_another_cluster_is_refused()
    {
        await using var other = await SandboxCluster.StartAsync(new SandboxOptions { Settings = new Dictionary<string, string> { ["wal_level"] = "replica" } }, CancellationToken.None);
        string segment;
        await using (var conn = new Npgsql.NpgsqlConnection(other.Connection.ToNpgsqlConnectionString()))
        {
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_walfile_name(pg_current_wal_lsn())", conn);
            segment = (string)(await cmd.ExecuteScalarAsync())!;
        }
        string copy = Path.Combine(db.Root, segment);
        File.Copy(Path.Combine(other.DataDir, "pg_wal", segment), copy, overwrite: true);
        var result = await db.RunAsync("archive-push", copy);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("belongs to database system", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("but cluster 'main' in repository 'local' archives system", result.Stderr, StringComparison.Ordinal);
        File.Delete(copy);
    }

    [Fact]
    public async Task Not_a_wal_file_is_a_clear_error()
    {
        string bogus = Path.Combine(db.Root, "000000010000000000000001");
        File.WriteAllBytes(bogus, new byte[16 * 1024 * 1024]);
        var result = await db.RunAsync("archive-push", bogus);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("does not start with a WAL segment header", result.Stderr, StringComparison.Ordinal);
        var name = await db.RunAsync("archive-push", Path.Combine(db.Root, "pgvault.yaml"));
        Assert.Equal(2, name.ExitCode);
        File.Delete(bogus);
    }

    [Fact]
    public async Task Killed_push_leaves_no_partial_object_and_a_retry_succeeds()
    {
        string segment = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(segment);
        string dir = Directory.CreateTempSubdirectory("pgvault-kill-").FullName;
        try
        {
            string copy = Path.Combine(dir, segment);
            Assert.Equal(0, (await db.RunAsync("archive-get", segment, copy)).ExitCode);
            // Push into a cluster name of its own so the fixture's archive is untouched.
            string repo = Path.Combine(dir, "repo");
            Directory.CreateDirectory(repo);
            Assert.Equal(0, (await PgVaultCli.RunAsync(["--repo-path", repo, "repo", "init"])).ExitCode);
            string[] push = ["--repo-path", repo, "--cluster", "killed", "archive-push", copy];
            var random = new Random(42);
            for (int attempt = 0; attempt < 8; attempt++)
            {
                using var process = PgVaultCli.Start(push);
                await Task.Delay(random.Next(40, 400));
                process.Kill();
                await process.WaitForExitAsync();
                // Whatever moment it died, no object is visible unless it is complete.
                var visible = Directory.GetFiles(repo, $"{segment}-*", SearchOption.AllDirectories);
                foreach (var file in visible)
                {
                    string fetched = Path.Combine(dir, "check");
                    var check = await PgVaultCli.RunAsync(["--repo-path", repo, "--cluster", "killed", "archive-get", segment, fetched]);
                    Assert.True(check.ExitCode == 0, check.ToString());
                    Assert.Equal(File.ReadAllBytes(copy), File.ReadAllBytes(fetched));
                    File.Delete(fetched);
                }
            }
            var retry = await PgVaultCli.RunAsync(push);
            Assert.True(retry.ExitCode == 0, retry.ToString());
            string final = Path.Combine(dir, "final");
            Assert.Equal(0, (await PgVaultCli.RunAsync(["--repo-path", repo, "--cluster", "killed", "archive-get", segment, final])).ExitCode);
            Assert.Equal(File.ReadAllBytes(copy), File.ReadAllBytes(final));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Unwritable_repository_keeps_wal_in_postgres_and_archiving_catches_up_with_no_gap()
    {
        string before = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(before);
        long failedBefore = await db.ScalarAsync<long>("postgres", "SELECT failed_count FROM pg_stat_archiver");
        string walDir = Path.Combine(db.RepoPath, "clusters", "main", "wal");
        var dirs = Directory.GetDirectories(walDir, "*", SearchOption.AllDirectories).Append(walDir).ToList();
        var mode = File.GetUnixFileMode(walDir);
        foreach (var dir in dirs) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute); // postgres can no longer write
        string stuck;
        try
        {
            await db.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS filler AS SELECT generate_series(1, 200000) i");
            stuck = await db.SwitchWalAsync();
            var clock = Stopwatch.StartNew();
            while (await db.ScalarAsync<long>("postgres", "SELECT failed_count FROM pg_stat_archiver") <= failedBefore)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("archiving never failed");
                await Task.Delay(200);
            }
            Assert.True(File.Exists(Path.Combine(db.Cluster.DataDir, "pg_wal", stuck)), "PostgreSQL must keep the segment it could not archive");
            Assert.True(File.Exists(Path.Combine(db.Cluster.DataDir, "pg_wal", "archive_status", stuck + ".ready")));
        }
        finally
        {
            foreach (var dir in dirs) File.SetUnixFileMode(dir, mode);
        }
        string after = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(after);
        AssertNoGap(db.ArchivedSegments(), before, after);
    }

    [Fact]
    public async Task Check_passes_and_fails_with_the_reason_when_archive_command_points_elsewhere()
    {
        var ok = await db.RunAsync("check", "--output", "json");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.True(ok.Json.GetProperty("healthy").GetBoolean());
        Assert.NotNull(ok.Json.GetProperty("switched_segment").GetString());
        Assert.True(ok.Json.GetProperty("archiver").GetProperty("archived_count").GetInt64() > 0);

        await db.ExecAsync("postgres", "ALTER SYSTEM SET archive_command = 'cp %p /nonexistent/%f'");
        await db.ExecAsync("postgres", "SELECT pg_reload_conf()");
        await Task.Delay(300);
        try
        {
            var bad = await db.RunAsync("check");
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains("pgvault: error: archive_command does not call pgvault archive-push (it is 'cp %p /nonexistent/%f')", bad.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            await db.ExecAsync("postgres", "ALTER SYSTEM RESET archive_command");
            await db.ExecAsync("postgres", "SELECT pg_reload_conf()");
            await Task.Delay(300);
        }
    }

    [Fact]
    public async Task Restore_points_are_recorded_and_listed()
    {
        var created = await db.RunAsync("restore-point", "before_upgrade", "--output", "json");
        Assert.True(created.ExitCode == 0, created.ToString());
        string lsn = created.Json.GetProperty("lsn").GetString()!;
        var list = await db.RunAsync("list", "--restore-points", "--output", "json");
        var point = Assert.Single(list.Json.EnumerateArray(), p => p.GetProperty("name").GetString() == "before_upgrade");
        Assert.Equal(lsn, point.GetProperty("lsn").GetString());
        Assert.Equal(1, point.GetProperty("timeline").GetInt32());
    }

    [Fact]
    public async Task Setup_archiving_on_a_fresh_cluster_then_check()
    {
        await using var fresh = await SandboxCluster.StartAsync(null, CancellationToken.None);
        using var ws = new Workspace(new ExistingCluster(fresh));
        File.SetUnixFileMode(ws.Root, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(ws.ConfigFile, (UnixFileMode)0b110_100_100);
        await ws.InitAsync();
        await ArchivingFixture.Chown("-R", "postgres:postgres", ws.RepoPath);

        var plan = await ws.OkAsync("setup", "archiving", "--output", "json");
        var statements = plan.Json.GetProperty("statements").EnumerateArray().Select(s => s.GetString()!).ToList();
        Assert.Contains("ALTER SYSTEM SET archive_mode = 'on'", statements);
        Assert.Contains(statements, s => s.StartsWith("ALTER SYSTEM SET archive_command = ", StringComparison.Ordinal) && s.Contains("archive-push %p", StringComparison.Ordinal)
            && s.Contains(PgVaultCli.WalCommand[^1], StringComparison.Ordinal));
        Assert.True(plan.Json.GetProperty("restart_required").GetBoolean());
        Assert.False(plan.Json.GetProperty("applied").GetBoolean());

        var applied = await ws.OkAsync("setup", "archiving", "--apply");
        Assert.Contains("restart PostgreSQL now", applied.Stdout, StringComparison.Ordinal);
        await fresh.StopAsync();
        await fresh.StartServerAsync(CancellationToken.None);
        var check = await ws.RunAsync("check", "--timeout", "60");
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("OK: WAL archiving works", check.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_and_backup_history_files_are_archived_and_fetched()
    {
        string dir = Path.Combine(db.Root, "history-test");
        Directory.CreateDirectory(dir);
        string history = Path.Combine(dir, "00000007.history");
        File.WriteAllText(history, "1\t0/3000000\tno recovery target specified\n");
        string backup = Path.Combine(dir, "000000010000000000000003.00000028.backup");
        File.WriteAllText(backup, "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n");
        foreach (var file in new[] { history, backup })
        {
            var push = await db.RunAsync("archive-push", file);
            Assert.True(push.ExitCode == 0, push.ToString());
            string fetched = Path.Combine(dir, "fetched");
            Assert.Equal(0, (await db.RunAsync("archive-get", Path.GetFileName(file), fetched)).ExitCode);
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(fetched));
            File.Delete(fetched);
        }
        Assert.Single(Directory.GetFiles(Path.Combine(db.RepoPath, "clusters", "main", "wal"), "00000007.history-*"));
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>Lets a Workspace point at a cluster this test started itself.</summary>
    private sealed class ExistingCluster(SandboxCluster cluster) : ClusterFixture
    {
        public override string ConnectionString => cluster.ConnectionString;
    }
}
