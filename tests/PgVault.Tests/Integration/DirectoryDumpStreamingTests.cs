using System.Diagnostics;
using System.Text.RegularExpressions;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>A database with many tables (one of them large), so a parallel directory dump writes many files over a while.</summary>
public sealed class ManyTablesFixture : ClusterFixture
{
    public const string Database = "many";
    public const int SmallTables = 40;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CreateDatabaseAsync(Database);
        var sql = new System.Text.StringBuilder();
        for (int i = 1; i <= SmallTables; i++)
            sql.Append($"CREATE TABLE t{i:D2} (id int PRIMARY KEY, v text); INSERT INTO t{i:D2} SELECT g, md5((g * {i})::text) FROM generate_series(1, 20000) g;\n");
        sql.Append("CREATE TABLE big (id int PRIMARY KEY, a text, b text); INSERT INTO big SELECT g, md5(g::text), md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 1000000) g;\n");
        sql.Append("SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'));\n");
        await ExecAsync(Database, sql.ToString());
    }

    /// <summary>Row count and a content hash of every table, in one text (to compare a restore with its source).</summary>
    public Task<string> FingerprintAsync(string database)
    {
        var parts = Enumerable.Range(1, SmallTables).Select(i => $"t{i:D2}").Append("big")
            .Select(t => $"SELECT '{t}:' || count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) AS f FROM {t} x");
        return ScalarAsync<string>(database, $"SELECT string_agg(f, ',' ORDER BY f) FROM ({string.Join(" UNION ALL ", parts)}) s");
    }
}

/// <summary>
/// `backup --format directory --jobs N` streams each table file into the repository while pg_dump
/// runs: the staging directory never holds the whole dump, the manifest lists what pg_dump wrote,
/// and a failing or interrupted pg_dump leaves nothing listed and nothing behind.
/// </summary>
public sealed class DirectoryDumpStreamingTests(ManyTablesFixture db) : IClassFixture<ManyTablesFixture>
{
    /// <summary>
    /// pg_dump -j 2 writes at most 2 table files at once; PgVault pauses pg_dump when 2 closed files
    /// wait to be read, and each worker may close one more before the pause, or a few small ones
    /// on a loaded machine (7 was seen under CI load, 11 with other integration tests running
    /// beside it: the small tables take a millisecond each). The whole dump is 42 data files, and
    /// without the pause 25-37 of them were staged at once, so the bound still tells the two apart.
    /// </summary>
    private const int StagingBound = 8 * 2;

    private static string Tmp(Workspace ws)
    {
        string tmp = Path.Combine(ws.Root, "tmp");
        Directory.CreateDirectory(tmp);
        return tmp;
    }

    private static int DataFilesStaged(string tmp)
    {
        try
        {
            return Directory.GetFiles(tmp, "*.dat*", SearchOption.AllDirectories).Count(f => Path.GetFileName(f) is var n && n != "toc.dat" && (n.EndsWith(".dat", StringComparison.Ordinal) || n.EndsWith(".dat.gz", StringComparison.Ordinal)));
        }
        catch (Exception e) when (e is DirectoryNotFoundException or IOException)
        {
            return 0; // the dump directory was removed while listing it
        }
    }

    [Fact]
    public async Task Directory_dump_stages_a_bounded_number_of_files_and_restores_the_same_data()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string tmp = Tmp(ws);
        using var process = PgVaultCli.Start(["--config", ws.ConfigFile, "backup", "--db", ManyTablesFixture.Database, "--format", "directory", "--jobs", "2", "--output", "json"],
            new Dictionary<string, string?> { ["TMPDIR"] = tmp });
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        int mostSeen = 0;
        while (!process.HasExited)
        {
            mostSeen = Math.Max(mostSeen, DataFilesStaged(tmp));
            await Task.Delay(2);
        }
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");
        string log = await stderr;
        var reported = Regex.Match(log, @"at most (\d+) table file\(s\) staged at once");
        Assert.True(reported.Success, log);
        Assert.InRange(int.Parse(reported.Groups[1].Value), 1, StagingBound);
        Assert.InRange(mostSeen, 0, StagingBound);
        Assert.Empty(Directory.GetFileSystemEntries(tmp));

        // The manifest lists exactly the files pg_dump -Fd itself writes, in name order.
        string parent = Directory.CreateTempSubdirectory("pgvault-own-").FullName;
        List<string?> expected;
        try
        {
            File.SetUnixFileMode(parent, (UnixFileMode)0x1ff); // pg_dump runs as the cluster's owner
            string own = Path.Combine(parent, "dump");
            await db.Cluster.RunToolAsync("pg_dump", ["-Fd", "-Z0", "-j", "2", "-f", own, "-h", db.Cluster.SocketDir, "-p", db.Cluster.Port.ToString(), "-U", "postgres", ManyTablesFixture.Database], CancellationToken.None);
            expected = Directory.GetFiles(own).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
        Assert.Contains("toc.dat", expected);
        Assert.True(expected.Count > ManyTablesFixture.SmallTables + 1, string.Join(", ", expected));
        string id = System.Text.Json.JsonDocument.Parse(await stdout).RootElement.GetProperty("id").GetString()!;
        var info = await ws.OkAsync("info", id, "--output", "json");
        var listed = info.Json.GetProperty("databases")[0].GetProperty("files").EnumerateArray().Select(f => f.GetProperty("name").GetString()).ToList();
        Assert.Equal(expected, listed);

        await ws.OkAsync("restore", "--backup", id, "--db", "many_restored", "--jobs", "2");
        Assert.Equal(await db.FingerprintAsync(ManyTablesFixture.Database), await db.FingerprintAsync("many_restored"));
        Assert.Equal(1L, await db.ScalarAsync<long>("many_restored", "SELECT count(*) FROM pg_largeobject_metadata"));
        await ws.OkAsync("verify", "--backup", id);
    }

    [Fact]
    public async Task A_gzip_directory_dump_is_compressed_by_pg_dump_workers_and_restores_both_ways()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string tmp = Tmp(ws);
        var backup = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "backup", "--db", ManyTablesFixture.Database, "--format", "directory", "--jobs", "2", "--compression", "gzip:1", "--output", "json"],
            new Dictionary<string, string?> { ["TMPDIR"] = tmp });
        Assert.True(backup.ExitCode == 0, backup.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(tmp));
        // Streamed while pg_dump ran, as with PgVault's own compression: the staging stayed bounded.
        var reported = Regex.Match(backup.Stderr, @"at most (\d+) table file\(s\) staged at once");
        Assert.True(reported.Success, backup.Stderr);
        Assert.InRange(int.Parse(reported.Groups[1].Value), 1, StagingBound);
        string id = System.Text.Json.JsonDocument.Parse(backup.Stdout).RootElement.GetProperty("id").GetString()!;
        var database = (await ws.OkAsync("info", id, "--output", "json")).Json.GetProperty("databases")[0];
        Assert.Contains("--compress=1", database.GetProperty("options").EnumerateArray().Select(o => o.GetString()));
        var files = database.GetProperty("files").EnumerateArray()
            .Select(f => (Name: f.GetProperty("name").GetString()!, Compression: f.GetProperty("compression").GetString()!)).ToList();
        // pg_dump wrote every table file compressed; PgVault stored them as they are and compressed only the rest.
        // Table data files: NNNN.dat / blob_NNNN.dat; the TOCs are toc.dat and blobs.toc (blobs_NNNN.toc from pg_dump 17).
        var tableFiles = files.Where(f => f.Name != "toc.dat" && !f.Name.EndsWith(".toc", StringComparison.Ordinal)).ToList();
        Assert.True(tableFiles.Count > ManyTablesFixture.SmallTables, string.Join(", ", files));
        Assert.All(tableFiles, f => Assert.EndsWith(".dat.gz", f.Name, StringComparison.Ordinal));
        Assert.All(tableFiles, f => Assert.Equal("none", f.Compression));
        Assert.Equal("gzip", files.Single(f => f.Name == "toc.dat").Compression);
        Assert.All(files.Where(f => f.Name.EndsWith(".toc", StringComparison.Ordinal)), f => Assert.Equal("gzip", f.Compression));
        Assert.Contains(files, f => f.Name.EndsWith(".toc", StringComparison.Ordinal)); // the large object's TOC
        string largest = ws.BackupFiles().Where(f => f.Contains(".dat.gz.", StringComparison.Ordinal)).OrderByDescending(f => new FileInfo(f).Length).First();
        byte[] stored = File.ReadAllBytes(largest);
        Assert.Equal([0x1f, 0x8b], stored[..2]); // gzip, as pg_dump wrote it

        string expected = await db.FingerprintAsync(ManyTablesFixture.Database);
        var piped = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "restore", "--backup", id, "--db", "many_gz_piped", "--jobs", "2"],
            new Dictionary<string, string?> { ["PGVAULT_TRACE_TIMING"] = "1" });
        Assert.True(piped.ExitCode == 0, piped.Stderr);
        Assert.Contains("logical restore: pipes made", piped.Stderr, StringComparison.Ordinal);
        Assert.Equal(expected, await db.FingerprintAsync("many_gz_piped"));
        Assert.Equal(1L, await db.ScalarAsync<long>("many_gz_piped", "SELECT count(*) FROM pg_largeobject_metadata"));
        var written = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "restore", "--backup", id, "--db", "many_gz_written", "--jobs", "2"],
            new Dictionary<string, string?> { ["PGVAULT_LOGICAL_PIPES"] = "0" });
        Assert.True(written.ExitCode == 0, written.Stderr);
        Assert.Equal(expected, await db.FingerprintAsync("many_gz_written"));
        await ws.OkAsync("verify", "--backup", id);

        // The stored gzip bytes are what the checksum covers: one flipped bit is found.
        stored[stored.Length / 2] ^= 0x10;
        File.WriteAllBytes(largest, stored);
        var verify = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "verify", "--backup", id]);
        Assert.NotEqual(0, verify.ExitCode);
        Assert.Contains("corrupt", verify.Stdout + verify.Stderr, StringComparison.Ordinal);
    }

    private static int? ChildPgDump(int parent)
    {
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int close = stat.LastIndexOf(')');
                string comm = stat[(stat.IndexOf('(') + 1)..close];
                int ppid = int.Parse(stat[(close + 2)..].Split(' ')[1]);
                if (comm == "pg_dump" && ppid == parent) return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // the process went away
            }
        }
        return null;
    }

    private static bool AnyPgDumpWriting(string tmp) =>
        Directory.GetDirectories("/proc").Any(dir =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(tmp, StringComparison.Ordinal);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        });

    private static async Task WaitForDataAsync(string tmp, Process process)
    {
        var clock = Stopwatch.StartNew();
        while (DataFilesStaged(tmp) == 0)
        {
            if (process.HasExited) throw new Xunit.Sdk.XunitException($"pgvault exited ({process.ExitCode}) before the dump wrote data: {await process.StandardError.ReadToEndAsync()}");
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("the dump wrote no data");
            await Task.Delay(5);
        }
    }

    /// <summary>Starts a directory backup (zstd:9, so it takes a while) and waits until pg_dump wrote table data.</summary>
    private static async Task<(string Tmp, Process Process, Task<string> Stderr)> StartSlowDumpAsync(Workspace ws)
    {
        await ws.InitAsync();
        string tmp = Tmp(ws);
        var process = PgVaultCli.Start(["--config", ws.ConfigFile, "backup", "--db", ManyTablesFixture.Database, "--format", "directory", "--jobs", "2", "--compression", "zstd:9"],
            new Dictionary<string, string?> { ["TMPDIR"] = tmp });
        var stderr = process.StandardError.ReadToEndAsync();
        await WaitForDataAsync(tmp, process);
        return (tmp, process, stderr);
    }

    [Fact]
    public async Task Pg_dump_killed_mid_dump_fails_in_one_line_and_leaves_nothing()
    {
        using var ws = new Workspace(db);
        var (tmp, process, stderr) = await StartSlowDumpAsync(ws);
        using var dumping = process;
        int pgDump = ChildPgDump(process.Id) ?? throw new Xunit.Sdk.XunitException("no pg_dump child of pgvault found");
        Process.GetProcessById(pgDump).Kill(); // SIGKILL of the pg_dump leader
        await process.WaitForExitAsync();
        string log = await stderr;
        Assert.True(process.ExitCode == 1, $"exit {process.ExitCode}: {log}");
        var error = Assert.Single(log.Split('\n'), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Contains("pg_dump of database \"many\" failed", error, StringComparison.Ordinal);
        Assert.Empty(await ws.ListIdsAsync());
        Assert.Empty(ws.BackupFiles());
        Assert.Empty(Directory.GetFileSystemEntries(tmp));
    }

    [Fact]
    public async Task Interrupted_directory_dump_stops_pg_dump_and_lists_nothing()
    {
        using var ws = new Workspace(db);
        var (tmp, process, stderr) = await StartSlowDumpAsync(ws);
        using var dumping = process;
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString()])) await kill.WaitForExitAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {await stderr}");
        Assert.False(AnyPgDumpWriting(tmp), "a pg_dump still runs after pgvault was interrupted");
        Assert.Empty(await ws.ListIdsAsync());
        Assert.Empty(ws.BackupFiles());
        Assert.Empty(Directory.GetFileSystemEntries(tmp));
    }

    [Fact]
    public async Task Pg_dump_refused_a_table_fails_in_one_line_and_leaves_nothing()
    {
        await db.ExecAsync(ManyTablesFixture.Database, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'weak') THEN CREATE ROLE weak LOGIN; END IF; END $$; " +
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO weak; REVOKE SELECT ON t07 FROM weak");
        using var ws = new Workspace(db);
        string config = File.ReadAllText(ws.ConfigFile);
        File.WriteAllText(ws.ConfigFile, config.Replace("user=postgres", "user=weak", StringComparison.Ordinal));
        Assert.NotEqual(config, File.ReadAllText(ws.ConfigFile));
        await ws.InitAsync();
        string tmp = Tmp(ws);
        var result = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "backup", "--db", ManyTablesFixture.Database, "--format", "directory", "--jobs", "2"],
            new Dictionary<string, string?> { ["TMPDIR"] = tmp });
        Assert.Equal(1, result.ExitCode);
        var error = Assert.Single(result.Stderr.Split('\n'), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Contains("permission denied", error, StringComparison.Ordinal);
        Assert.Empty(await ws.ListIdsAsync());
        Assert.Empty(ws.BackupFiles());
        Assert.Empty(Directory.GetFileSystemEntries(tmp));
    }
}
