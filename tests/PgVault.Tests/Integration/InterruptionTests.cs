using System.Diagnostics;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>A cluster with a database large enough that a dump takes a noticeable while.</summary>
public sealed class BigDatabaseFixture : ClusterFixture
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CreateDatabaseAsync("big");
        await ExecAsync("big", "CREATE TABLE payload (id int PRIMARY KEY, a text, b text); " +
            "INSERT INTO payload SELECT i, md5(i::text), md5((i * 7)::text) || md5((i * 13)::text) FROM generate_series(1, 1500000) i");
    }
}

/// <summary>Interrupted, killed and failing backups leave nothing listed and nothing behind.</summary>
public sealed class InterruptionTests(BigDatabaseFixture db) : IClassFixture<BigDatabaseFixture>
{
    private static async Task WaitForAsync(Func<bool> condition, Process process, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (process.HasExited) throw new Xunit.Sdk.XunitException($"pgvault exited ({process.ExitCode}) before {what}: {await process.StandardError.ReadToEndAsync()}");
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    private static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString()]);
        kill.WaitForExit();
    }

    [Theory]
    [InlineData("TERM", "custom")]
    [InlineData("INT", "directory")]
    public async Task Signal_during_backup_leaves_nothing_listed_and_no_temporary_files(string signal, string format)
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string tmp = Path.Combine(ws.Root, "tmp");
        Directory.CreateDirectory(tmp);
        using var process = PgVaultCli.Start(["--config", ws.ConfigFile, "backup", "--db", "big", "--format", format, "--compression", "zstd:9"],
            new Dictionary<string, string?> { ["TMPDIR"] = tmp });
        var stderr = process.StandardError.ReadToEndAsync();
        // Wait until data flows: the dump object (custom) or pg_dump's temp dir (directory) exists.
        await WaitForAsync(() => format == "custom"
            ? ws.BackupFiles().Any(f => f.Contains("/db/001/", StringComparison.Ordinal))
            : Directory.GetFiles(tmp, "*.dat", SearchOption.AllDirectories).Length > 0, process, "the dump started");
        Signal(process, signal);
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {await stderr}");
        Assert.Contains("interrupted", await stderr, StringComparison.Ordinal);
        Assert.Empty(await ws.ListIdsAsync());
        Assert.Empty(ws.BackupFiles());
        Assert.Empty(Directory.GetDirectories(tmp, "pgvault-*"));
    }

    [Fact]
    public async Task Killed_backup_is_debris_that_the_next_backup_removes()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        using var process = PgVaultCli.Start(["--config", ws.ConfigFile, "backup", "--db", "big"]);
        await WaitForAsync(() => ws.BackupFiles().Any(f => f.Contains("/db/001/", StringComparison.Ordinal)), process, "the dump started");
        process.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
        await process.WaitForExitAsync();
        Assert.Empty(await ws.ListIdsAsync()); // the half-written backup is not listed
        Assert.NotEmpty(ws.BackupFiles());      // but its debris is there

        string id = await ws.BackupAsync("--db", "postgres");
        Assert.Equal([id], await ws.ListIdsAsync());
        Assert.All(ws.BackupFiles(), f => Assert.Contains($"/backups/{id}/", f, StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(ws.RepoPath, "*.tmp.*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Pg_dump_failing_half_way_commits_nothing()
    {
        string bin = Directory.CreateTempSubdirectory("pgvault-failbin-").FullName;
        try
        {
            string real = db.Cluster.BinDir;
            // A pg_dump that writes part of the dump and then fails, like a dump cut off by an error.
            File.WriteAllText(Path.Combine(bin, "pg_dump"),
                $"#!/bin/bash\nif [ \"$1\" = --version ]; then exec {real}/pg_dump --version; fi\n{real}/pg_dump \"$@\" | head -c 3000000\necho 'pg_dump: error: simulated failure half way' >&2\nexit 1\n");
            File.SetUnixFileMode(Path.Combine(bin, "pg_dump"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var ws = new Workspace(db, extraClusterYaml: $"    bindir: {bin}\n");
            await ws.InitAsync();
            var result = await ws.RunAsync("backup", "--db", "big");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains("pgvault: error: pg_dump of database \"big\" failed (exit code 1): pg_dump: error: simulated failure half way", result.Stderr, StringComparison.Ordinal);
            Assert.Empty(await ws.ListIdsAsync());
            Assert.Empty(ws.BackupFiles());
        }
        finally
        {
            Directory.Delete(bin, true);
        }
    }

    [Fact]
    public async Task Disk_full_while_writing_fails_cleanly()
    {
        using var ws = new Workspace(db);
        using (var mount = Process.Start("mount", ["-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", ws.RepoPath]))
        {
            await mount.WaitForExitAsync();
            Assert.True(mount.ExitCode == 0, "this test mounts a small tmpfs and needs root");
        }
        try
        {
            await ws.InitAsync();
            var result = await ws.RunAsync("backup", "--db", "big", "--compression", "none");
            Assert.Equal(1, result.ExitCode);
            var error = Assert.Single(result.Stderr.Split('\n'), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
            Assert.Contains("unable to write backup", error, StringComparison.Ordinal);
            Assert.Contains("No space left on device", error, StringComparison.Ordinal);
            Assert.Empty(await ws.ListIdsAsync());
            Assert.Empty(ws.BackupFiles());
            // Space is back: a small backup succeeds in the same repository.
            string id = await ws.BackupAsync("--db", "postgres");
            Assert.Equal([id], await ws.ListIdsAsync());
        }
        finally
        {
            using var umount = Process.Start("umount", ["-l", ws.RepoPath]);
            await umount.WaitForExitAsync();
        }
    }
}
