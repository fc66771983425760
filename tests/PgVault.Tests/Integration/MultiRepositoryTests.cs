using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>Every repository receives each backup; reads fall back; repo sync fills gaps.</summary>
public sealed class MultiRepositoryTests(PasswordClusterFixture db) : IClassFixture<PasswordClusterFixture>
{
    private static Workspace TwoRepositories(ClusterFixture db, bool encrypted = false) =>
        new(db, encrypted, extraRepositoriesYaml: "  - name: second\n    path: $ROOT/second\n");

    private static List<string> Files(string dir) =>
        Directory.Exists(Path.Combine(dir, "clusters")) ? Directory.GetFiles(Path.Combine(dir, "clusters"), "*", SearchOption.AllDirectories).Where(f => f.Contains("/backups/", StringComparison.Ordinal)).ToList() : [];

    [Fact]
    public async Task Backup_goes_to_every_repository_and_restore_falls_back_when_one_is_gone()
    {
        using var ws = TwoRepositories(db, encrypted: true);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app");
        var list = await ws.OkAsync("list", "--output", "json");
        var entry = Assert.Single(list.Json.EnumerateArray());
        Assert.Equal(["local", "second"], entry.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(id, (await ws.OkAsync("list", "--repo", "second", "--output", "json")).Json[0].GetProperty("id").GetString());

        // The first repository disappears: the restore reads the second and says so.
        Directory.Delete(ws.RepoPath, recursive: true);
        var restore = await ws.OkAsync("restore", "--backup", id, "--db", "app_from_second");
        Assert.Contains("repository 'local' is not usable", restore.Stderr, StringComparison.Ordinal);
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_from_second", "SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task Corrupt_object_in_one_repository_restores_from_the_other()
    {
        using var ws = TwoRepositories(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app", "--compression", "lz4");
        string dump = Files(ws.RepoPath).Single(f => f.Contains("/db/001/", StringComparison.Ordinal));
        byte[] bytes = File.ReadAllBytes(dump);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(dump, bytes);

        var restore = await ws.OkAsync("restore", "--backup", id, "--db", "app_fallback");
        Assert.Contains("repository 'local' failed: corrupt object", restore.Stderr, StringComparison.Ordinal);
        Assert.Contains("restoring from repository 'second' instead", restore.Stderr, StringComparison.Ordinal);
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_fallback", "SELECT count(*) FROM t"));

        // Restricted to the damaged repository, the restore fails and leaves no database behind.
        var only = await ws.RunAsync("restore", "--backup", id, "--db", "app_damaged", "--repo", "local");
        Assert.Equal(1, only.ExitCode);
        Assert.Contains("corrupt object", only.Stderr, StringComparison.Ordinal);
        Assert.False(await db.DatabaseExistsAsync("app_damaged"));
    }

    [Fact]
    public async Task A_damaged_table_file_of_a_directory_backup_fed_through_pipes_restores_from_the_other()
    {
        using var ws = TwoRepositories(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app", "--format", "directory", "--jobs", "2", "--compression", "lz4");
        // The table's data file: the largest object of the dump in the first repository.
        string table = Files(ws.RepoPath).Where(f => f.Contains("/db/001/", StringComparison.Ordinal) && !f.Contains("toc.dat", StringComparison.Ordinal))
            .OrderByDescending(f => new FileInfo(f).Length).First();
        byte[] bytes = File.ReadAllBytes(table);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(table, bytes);
        var trace = new Dictionary<string, string?> { ["PGVAULT_TRACE_TIMING"] = "1" };

        var restore = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "restore", "--backup", id, "--db", "app_dir_fallback", "--jobs", "2"], trace);
        Assert.True(restore.ExitCode == 0, restore.Stderr);
        Assert.Contains("logical restore: pipes made", restore.Stderr, StringComparison.Ordinal); // fed while pg_restore ran, not written out first
        Assert.Contains("repository 'local' failed: corrupt object", restore.Stderr, StringComparison.Ordinal);
        Assert.Contains("restoring from repository 'second' instead", restore.Stderr, StringComparison.Ordinal);
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_dir_fallback", "SELECT count(*) FROM t"));
        Assert.Equal("", await CommentAsync("app_dir_fallback")); // complete: the in-progress marker is gone

        // Restricted to the damaged repository, the restore fails, pg_restore never finishes the table, and no database is left.
        var only = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "restore", "--backup", id, "--db", "app_dir_damaged", "--repo", "local", "--jobs", "2"], trace);
        Assert.Equal(1, only.ExitCode);
        Assert.Contains("corrupt object", only.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", only.Stderr, StringComparison.Ordinal);
        Assert.False(await db.DatabaseExistsAsync("app_dir_damaged"));
    }

    private Task<string> CommentAsync(string database) =>
        db.ScalarAsync<string>("postgres", $"SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{database}'");

    [Fact]
    public async Task A_restore_killed_outright_leaves_its_database_marked_incomplete()
    {
        using var ws = TwoRepositories(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app", "--format", "directory", "--jobs", "2");
        using var restore = PgVaultCli.Start(["--config", ws.ConfigFile, "restore", "--backup", id, "--db", "app_killed", "--jobs", "2"]);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!(await db.DatabaseExistsAsync("app_killed") && (await CommentAsync("app_killed")).Length > 0))
            {
                Assert.False(restore.HasExited, "the restore ended before it could be killed");
                Assert.True(DateTime.UtcNow < deadline, "the database never appeared");
                await Task.Delay(5);
            }
            restore.Kill(); // SIGKILL to pgvault alone: no cleanup runs
            await restore.WaitForExitAsync();
        }
        finally
        {
            if (!restore.HasExited) restore.Kill(true);
        }
        await Task.Delay(2000); // pg_restore, orphaned, ends on its own
        Assert.Equal($"PgVault restore of backup {id} in progress: incomplete until this comment is gone", await CommentAsync("app_killed"));
    }

    [Fact]
    public async Task Backup_fails_everywhere_when_one_repository_fails()
    {
        using var ws = TwoRepositories(db);
        await ws.InitAsync();
        // The second repository becomes unwritable: its backups directory is a file.
        Directory.CreateDirectory(Path.Combine(ws.Root, "second", "clusters", "main"));
        File.WriteAllText(Path.Combine(ws.Root, "second", "clusters", "main", "backups"), "in the way");
        var result = await ws.RunAsync("backup", "--db", "app");
        Assert.Equal(1, result.ExitCode);
        Assert.Single(result.Stderr.Split('\n'), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Empty(Files(ws.RepoPath));
        Assert.Empty(await ws.ListIdsAsync("--repo", "local"));
    }

    [Fact]
    public async Task Repo_sync_copies_what_a_repository_lacks_and_reencrypts_it()
    {
        using var ws = TwoRepositories(db, encrypted: true);
        await ws.InitAsync();
        string first = await ws.BackupAsync("--db", "app", "--repo", "local");
        string second = await ws.BackupAsync("--db", "app", "--repo", "second", "--format", "directory");
        Assert.Equal([first], await ws.ListIdsAsync("--repo", "local"));

        var sync = await ws.OkAsync("repo", "sync", "--output", "json");
        var copies = sync.Json.EnumerateArray().Select(e => (e.GetProperty("id").GetString(), e.GetProperty("to").GetString())).ToList();
        Assert.Contains((first, "second"), copies);
        Assert.Contains((second, "local"), copies);
        Assert.Equal([first, second], await ws.ListIdsAsync("--repo", "local"));
        Assert.Equal([first, second], await ws.ListIdsAsync("--repo", "second"));

        await ws.OkAsync("restore", "--backup", second, "--db", "app_synced", "--repo", "local");
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_synced", "SELECT count(*) FROM t"));
        var again = await ws.OkAsync("repo", "sync");
        Assert.Contains("already holds every backup", again.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Archive_push_fails_when_any_repository_fails_and_stores_nothing()
    {
        using var ws = TwoRepositories(db);
        await ws.InitAsync();
        string segment = await db.ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
        string copy = Path.Combine(ws.Root, segment);
        File.Copy(Path.Combine(db.Cluster.DataDir, "pg_wal", segment), copy);
        // The second repository cannot take WAL: its wal directory is a file.
        Directory.CreateDirectory(Path.Combine(ws.Root, "second", "clusters", "main"));
        File.WriteAllText(Path.Combine(ws.Root, "second", "clusters", "main", "wal"), "in the way");
        var push = await ws.RunAsync("archive-push", copy);
        Assert.Equal(1, push.ExitCode);
        Assert.Empty(Directory.GetFiles(ws.RepoPath, $"{segment}-*", SearchOption.AllDirectories));

        File.Delete(Path.Combine(ws.Root, "second", "clusters", "main", "wal"));
        var retry = await ws.RunAsync("archive-push", copy);
        Assert.True(retry.ExitCode == 0, retry.ToString());
        Assert.Single(Directory.GetFiles(ws.RepoPath, $"{segment}-*", SearchOption.AllDirectories));
        Assert.Single(Directory.GetFiles(Path.Combine(ws.Root, "second"), $"{segment}-*", SearchOption.AllDirectories));
    }
}
