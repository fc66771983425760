using System.Net;
using System.Net.Sockets;
using PgVault.Core.Sandbox;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>A cluster where role pgv_pw must authenticate with a password over TCP.</summary>
public sealed class PasswordClusterFixture : ClusterFixture
{
    public const string Password = "s3cret-Pa55";

    protected override SandboxOptions Options => new() { HbaLines = ["host all pgv_pw 127.0.0.1/32 scram-sha-256"] };

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecAsync("postgres", $"CREATE ROLE pgv_pw LOGIN SUPERUSER PASSWORD '{Password}'");
        await CreateDatabaseAsync("app");
        await ExecAsync("app", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'row ' || i FROM generate_series(1, 5000) i");
    }
}

/// <summary>Each bad input gives one clear line, a non-zero exit, and leaves no listed backup.</summary>
public sealed class BadInputTests(PasswordClusterFixture db) : IClassFixture<PasswordClusterFixture>
{
    private static void AssertOneLineError(CliResult result, int exitCode, string expected)
    {
        Assert.True(result.ExitCode == exitCode, $"expected exit {exitCode}:\n{result}");
        var errors = result.Stderr.Split('\n').Where(l => l.StartsWith("pgvault: error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"expected one error line:\n{result}");
        Assert.Contains(expected, errors[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal); // no stack trace
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
    }

    private static async Task AssertNothingListed(Workspace ws)
    {
        Assert.Empty(await ws.ListIdsAsync());
        Assert.Empty(ws.BackupFiles());
    }

    [Theory]
    [InlineData("--parallel", "2", "--parallel applies to physical backups (--type full, diff or incr)")]
    [InlineData("--archive-timeout", "5", "--archive-timeout applies to physical backups")]
    public async Task Backup_PhysicalOnlyFlagOnALogicalBackup_IsAUsageErrorNotSilentlyIgnored(string flag, string value, string expected)
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        var result = await ws.RunAsync("backup", "--db", "app", flag, value);
        AssertOneLineError(result, 2, expected);
        await AssertNothingListed(ws);
    }

    [Theory]
    [InlineData("--db", "app", "--db applies to logical backups; a full backup copies the whole cluster")]
    [InlineData("--jobs", "2", "--jobs applies to logical backups")]
    public async Task Backup_LogicalOnlyFlagOnAPhysicalBackup_IsAUsageError(string flag, string value, string expected)
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        var result = await ws.RunAsync("backup", "--type", "full", flag, value);
        AssertOneLineError(result, 2, expected);
        await AssertNothingListed(ws);
    }

    [Fact]
    public async Task Restore_FlagsOfTheOtherMode_AreUsageErrors()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        AssertOneLineError(await ws.RunAsync("restore", "--target-xid", "1"), 2, "--target-xid applies to a physical restore: pass --pgdata DIR");
        AssertOneLineError(await ws.RunAsync("restore", "--pgdata", Path.Combine(Path.GetTempPath(), "pgvault-nowhere"), "--clean"), 2,
            "--clean applies to logical restores; --pgdata restores a whole cluster");
    }

    [Fact]
    public async Task Unreachable_server()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        int closed;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            closed = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var result = await ws.RunAsync("backup", "--db", "app", "--connection", $"host=127.0.0.1 port={closed} user=postgres");
        AssertOneLineError(result, 1, $"unable to connect to PostgreSQL at 127.0.0.1:{closed}");
        await AssertNothingListed(ws);
    }

    [Fact]
    public async Task Failed_authentication()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string conn = $"host=127.0.0.1 port={db.Cluster.Port} user=pgv_pw dbname=postgres";
        var result = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "backup", "--db", "app", "--connection", conn], new Dictionary<string, string?> { ["PGPASSWORD"] = "wrong" });
        AssertOneLineError(result, 1, "authentication failed for user \"pgv_pw\"");
        await AssertNothingListed(ws);
    }

    [Fact]
    public async Task Password_from_the_environment_reaches_pg_dump_and_never_the_command_line()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string conn = $"host=127.0.0.1 port={db.Cluster.Port} user=pgv_pw dbname=postgres";
        var env = new Dictionary<string, string?> { ["PGPASSWORD"] = PasswordClusterFixture.Password };
        var result = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "backup", "--db", "app", "--connection", conn, "--verbose"], env);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain(PasswordClusterFixture.Password, result.Stdout + result.Stderr, StringComparison.Ordinal);
        Assert.Single(await ws.ListIdsAsync());
    }

    [Fact]
    public async Task ChildPrograms_GetNeitherThePassphraseNorS3SecretsInTheirEnvironment()
    {
        string bin = Directory.CreateTempSubdirectory("pgvault-envbin-").FullName;
        try
        {
            // pg_dump is a wrapper that records the environment it was given, then runs the real one.
            string seen = Path.Combine(bin, "environment");
            string wrapper = Path.Combine(bin, "pg_dump");
            File.WriteAllText(wrapper, $"#!/bin/sh\nenv >> '{seen}'\necho ---- >> '{seen}'\nexec /usr/lib/postgresql/15/bin/pg_dump \"$@\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
            using var ws = new Workspace(db, extraClusterYaml: $"    bindir: {bin}\n");
            File.WriteAllText(ws.ConfigFile, File.ReadAllText(ws.ConfigFile)
                .Replace("clusters:", "encryption:\n  passphrase_env: PGVAULT_TEST_PASSPHRASE\nclusters:", StringComparison.Ordinal));
            var env = new Dictionary<string, string?>
            {
                ["PGVAULT_TEST_PASSPHRASE"] = "env-passphrase-0xA1",
                ["AWS_ACCESS_KEY_ID"] = "AKIA-FAKE-KEY-ID",
                ["AWS_SECRET_ACCESS_KEY"] = "fake-aws-secret-0xB2",
                ["AWS_SESSION_TOKEN"] = "fake-session-token-0xC3",
                ["PGPASSWORD"] = PasswordClusterFixture.Password,
            };
            Assert.Equal(0, (await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "repo", "init"], env)).ExitCode);
            string conn = $"host=127.0.0.1 port={db.Cluster.Port} user=pgv_pw dbname=postgres";
            var result = await PgVaultCli.RunAsync(["--config", ws.ConfigFile, "backup", "--db", "app", "--connection", conn], env);
            Assert.True(result.ExitCode == 0, result.ToString());

            string environment = File.ReadAllText(seen);
            Assert.Contains($"PGPASSWORD={PasswordClusterFixture.Password}", environment, StringComparison.Ordinal); // what pg_dump needs, it gets
            Assert.Contains("PATH=", environment, StringComparison.Ordinal);
            foreach (string secret in new[] { "PGVAULT_TEST_PASSPHRASE", "env-passphrase-0xA1", "AWS_", "fake-aws-secret-0xB2", "fake-session-token-0xC3", "AKIA-FAKE-KEY-ID" })
                Assert.DoesNotContain(secret, environment, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(bin, true);
        }
    }

    [Fact]
    public async Task PasswordInTheConnectionFlag_IsRefusedWithoutEchoingIt()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string conn = $"host=127.0.0.1 port={db.Cluster.Port} user=pgv_pw password={PasswordClusterFixture.Password} dbname=postgres";
        var result = await ws.RunAsync("backup", "--db", "app", "--connection", conn);
        AssertOneLineError(result, 2, "--connection must not carry a password");
        Assert.DoesNotContain(PasswordClusterFixture.Password, result.Stderr, StringComparison.Ordinal);
        var uri = await ws.RunAsync("backup", "--db", "app", "--connection", $"postgresql://pgv_pw:{PasswordClusterFixture.Password}@127.0.0.1:{db.Cluster.Port}/postgres");
        AssertOneLineError(uri, 2, "--connection must not carry a password");

        var bad = await ws.RunAsync("backup", "--db", "app", "--connection", $"host=127.0.0.1 password='{PasswordClusterFixture.Password}");
        AssertOneLineError(bad, 2, "invalid connection string: unterminated quote in value of 'password'");
        Assert.DoesNotContain(PasswordClusterFixture.Password, bad.Stderr, StringComparison.Ordinal);
        await AssertNothingListed(ws);
    }

    [Fact]
    public async Task PassphraseFileReadableByOthers_IsRefusedWhenRunningAsRoot()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        File.SetUnixFileMode(ws.PassphraseFile, (UnixFileMode)0b110_100_100); // 0644
        var result = await ws.RunAsync("backup", "--db", "app");
        AssertOneLineError(result, 1, $"passphrase file '{ws.PassphraseFile}' is accessible by group or others (mode 0644)");
        Assert.Contains($"chmod 600 {ws.PassphraseFile}", result.Stderr, StringComparison.Ordinal);
        File.SetUnixFileMode(ws.PassphraseFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await AssertNothingListed(ws);
    }

    [Fact]
    public async Task Database_that_does_not_exist()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        var result = await ws.RunAsync("backup", "--db", "app", "--db", "nosuchdb");
        AssertOneLineError(result, 1, "database \"nosuchdb\" does not exist");
        await AssertNothingListed(ws);
    }

    [Fact]
    public async Task No_fitting_pg_dump()
    {
        string bin = Directory.CreateTempSubdirectory("pgvault-oldbin-").FullName;
        try
        {
            string fake = Path.Combine(bin, "pg_dump");
            File.WriteAllText(fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n");
            File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
            using var ws = new Workspace(db, extraClusterYaml: $"    bindir: {bin}\n");
            await ws.InitAsync();
            var result = await ws.RunAsync("backup", "--db", "app");
            AssertOneLineError(result, 1, "no pg_dump of version 15 or newer found");
            await AssertNothingListed(ws);
        }
        finally
        {
            Directory.Delete(bin, true);
        }
    }

    [Fact]
    public async Task Repository_missing_or_not_initialised()
    {
        using var ws = new Workspace(db);
        var notInit = await ws.RunAsync("backup", "--db", "app");
        AssertOneLineError(notInit, 1, "is not initialised");
        Assert.Contains("HINT: run 'pgvault repo init'", notInit.Stderr, StringComparison.Ordinal);

        var missing = await ws.RunAsync("backup", "--db", "app", "--repo-path", Path.Combine(ws.Root, "nope"));
        AssertOneLineError(missing, 1, "does not exist");
        Assert.False(Directory.Exists(Path.Combine(ws.Root, "nope")));
    }

    [Fact]
    public async Task Unknown_backup_id()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        await ws.BackupAsync("--db", "app");
        var unknown = await ws.RunAsync("restore", "--backup", "20200101T000000Z-L", "--db", "never_created");
        AssertOneLineError(unknown, 1, "backup '20200101T000000Z-L' not found");
        Assert.False(await db.DatabaseExistsAsync("never_created"));
        var garbage = await ws.RunAsync("info", "not-an-id");
        AssertOneLineError(garbage, 2, "is not a backup id");
    }

    [Fact]
    public async Task Wrong_passphrase()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        await ws.BackupAsync("--db", "app");
        File.WriteAllText(ws.PassphraseFile, "not the passphrase at all\n");
        var result = await ws.RunAsync("list");
        AssertOneLineError(result, 1, "wrong passphrase for repository 'local'");
    }

    [Fact]
    public async Task Change_passphrase_rewraps_the_key_and_old_backups_still_restore()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app");
        string newFile = Path.Combine(ws.Root, "new-passphrase");
        File.WriteAllText(newFile, "a brand new passphrase\n");
        File.SetUnixFileMode(newFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await ws.OkAsync("repo", "change-passphrase", "--new-passphrase-file", newFile);
        AssertOneLineError(await ws.RunAsync("list"), 1, "wrong passphrase");
        File.Copy(newFile, ws.PassphraseFile, overwrite: true);
        await ws.OkAsync("restore", "--backup", id, "--db", "app_after_rewrap");
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_after_rewrap", "SELECT count(*) FROM t"));
    }

    [Theory]
    [InlineData(false, "flip")]
    [InlineData(true, "flip")]
    [InlineData(false, "truncate")]
    [InlineData(true, "truncate")]
    public async Task Corrupt_or_truncated_object_is_detected_and_the_target_is_not_left_behind(bool encrypted, string damage)
    {
        using var ws = new Workspace(db, encrypted);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app", "--compression", "none");
        string dump = ws.BackupFiles().Single(f => f.Contains("/db/001/", StringComparison.Ordinal));
        byte[] bytes = File.ReadAllBytes(dump);
        if (damage == "flip")
        {
            bytes[bytes.Length / 2] ^= 0x01;
            File.WriteAllBytes(dump, bytes);
        }
        else
        {
            File.WriteAllBytes(dump, bytes[..(bytes.Length - 1000)]);
        }
        string target = $"corrupt_{damage}_{encrypted}".ToLowerInvariant();
        var result = await ws.RunAsync("restore", "--backup", id, "--db", target);
        AssertOneLineError(result, 1, "corrupt object 'clusters/main/backups/" + id + "/db/001/dump.custom.raw'");
        Assert.False(await db.DatabaseExistsAsync(target));
    }

    [Fact]
    public async Task Non_empty_target_needs_clean()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app");
        var into = await ws.RunAsync("restore", "--backup", id, "--db", "app");
        AssertOneLineError(into, 1, "database \"app\" exists and is not empty");
        await db.CreateDatabaseAsync("app_copy");
        await ws.OkAsync("restore", "--backup", id, "--db", "app_copy");
        await db.ExecAsync("app_copy", "DELETE FROM t WHERE id > 10");
        await ws.OkAsync("restore", "--backup", id, "--db", "app_copy", "--clean");
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_copy", "SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task Bad_configuration_and_bad_usage()
    {
        using var ws = new Workspace(db, extraClusterYaml: "    compresion: zstd\n");
        var config = await ws.RunAsync("list");
        AssertOneLineError(config, 2, $"config {ws.ConfigFile}: unknown key 'clusters.main.compresion'");

        var usage = await PgVaultCli.RunAsync(["backup", "--no-such-flag"]);
        Assert.Equal(2, usage.ExitCode);
        var format = await PgVaultCli.RunAsync(["backup", "--format", "zip", "--db", "x"]);
        Assert.Equal(2, format.ExitCode);
        var jobs = await PgVaultCli.RunAsync(["--repo-path", ws.RepoPath, "backup", "--db", "x", "--jobs", "2"]);
        AssertOneLineError(jobs, 2, "--jobs needs --format directory");
    }

    [Fact]
    public async Task Repository_files_are_private()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        await ws.BackupAsync("--db", "app");
        foreach (var file in Directory.GetFiles(ws.RepoPath, "*", SearchOption.AllDirectories))
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        foreach (var dir in Directory.GetDirectories(ws.RepoPath, "*", SearchOption.AllDirectories))
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
    }

    [Fact]
    public async Task Root_writes_into_a_postgres_owned_repository_keep_postgres_as_owner()
    {
        if (Environment.UserName != "root") return; // only meaningful when the tests run as root
        using var ws = new Workspace(db);
        File.SetUnixFileMode(ws.Root, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(ws.ConfigFile, (UnixFileMode)0b110_100_100);
        using (var chown = System.Diagnostics.Process.Start("chown", ["postgres:postgres", ws.RepoPath])) await chown.WaitForExitAsync();
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app");
        var (uid, _) = PgVault.Core.IO.Posix.GetOwner(ws.RepoPath);
        foreach (var entry in Directory.GetFileSystemEntries(ws.RepoPath, "*", SearchOption.AllDirectories))
            Assert.Equal(uid, PgVault.Core.IO.Posix.GetOwner(entry).Uid);

        // The postgres OS user can use what root wrote.
        var psi = new System.Diagnostics.ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-u", "postgres", "--" }.Concat(PgVaultCli.Command).Concat(["--config", ws.ConfigFile, "list", "--output", "json"]))
            psi.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(psi)!;
        string output = await process.StandardOutput.ReadToEndAsync();
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, error);
        Assert.Contains(id, output, StringComparison.Ordinal);
    }
}
