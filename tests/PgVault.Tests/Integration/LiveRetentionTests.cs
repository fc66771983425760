using System.Diagnostics;
using PgVault.Tests.Infrastructure;
using Xunit;
using static PgVault.Tests.Integration.Retention;

namespace PgVault.Tests.Integration;

/// <summary>
/// Retention in the fixture's own repository while the cluster archives into it: expire beside a
/// running incremental backup, and the expire a backup runs itself (issue 11).
/// </summary>
public sealed class LiveRetentionTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    /// <summary>A copy of the fixture's config (same repository) with a retention policy.</summary>
    private string Config(params string[] policy)
    {
        string config = Path.Combine(fixture.Root, $"retention-{Guid.NewGuid():N}.yaml");
        File.Copy(fixture.ConfigFile, config);
        return WithPolicy(config, policy);
    }

    private async Task<long> RowsAsync()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS ticks (id bigint PRIMARY KEY)");
        await fixture.ExecAsync("postgres", "INSERT INTO ticks SELECT coalesce(max(id), 0) + 1 FROM ticks");
        return await fixture.ScalarAsync<long>("postgres", "SELECT count(*) FROM ticks");
    }

    [Fact]
    public async Task Expire_beside_a_running_incremental_keeps_its_reference_chain_and_both_succeed()
    {
        string config = Config("full: 1");
        string full = await fixture.BackupAsync("full", "--no-expire");
        long rows = await RowsAsync();
        // Hold the incremental in its WAL wait: nothing is archived until archiving is given back.
        await fixture.ExecAsync("postgres", "ALTER SYSTEM SET archive_command = '/bin/false'");
        await fixture.ExecAsync("postgres", "SELECT pg_reload_conf()");
        Process? backup = null;
        try
        {
            backup = PgVaultCli.Start(["--config", config, "backup", "--type", "incr", "--no-expire", "--output", "json"]);
            var stdout = backup.StandardOutput.ReadToEndAsync();
            var stderr = backup.StandardError.ReadToEndAsync();
            string backups = Path.Combine(fixture.RepoPath, "clusters/main/backups");
            string? running = null;
            var clock = Stopwatch.StartNew();
            while (running is null)
            {
                Assert.False(backup.HasExited, "the incremental ended before expire could run beside it");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the incremental never wrote its in-progress marker");
                running = Directory.GetDirectories(backups).Select(Path.GetFileName)
                    .FirstOrDefault(id => id!.EndsWith("-I", StringComparison.Ordinal) && File.Exists(Path.Combine(backups, id, "backup.lock")) && !File.Exists(Path.Combine(backups, id, "manifest.json")));
                await Task.Delay(20);
            }

            var expire = await OkAsync(config, "expire", "--output", "json");
            var decisions = Decisions(expire);
            Assert.True(decisions[full].Keep);
            Assert.Contains($"referenced by running backup {running}", decisions[full].Reasons, StringComparison.Ordinal);

            var delete = await RunAsync(config, "delete", full, "--with-dependents");
            Assert.Equal(1, delete.ExitCode);
            Assert.Contains($"running backup {running} reads from backup {full}", delete.Stderr, StringComparison.Ordinal);
            Assert.False(backup.HasExited, "the incremental finished while archiving was held: the test proves nothing");

            await fixture.ExecAsync("postgres", "ALTER SYSTEM RESET archive_command");
            await fixture.ExecAsync("postgres", "SELECT pg_reload_conf()");
            await backup.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            Assert.True(backup.ExitCode == 0, $"{await stdout}\n{await stderr}");
            Assert.Contains(running, await stdout, StringComparison.Ordinal);
            Assert.Contains(running, await ListAsync(config));
            Assert.Contains(full, await ListAsync(config));
            await AssertRestoresAsync(fixture, config, running!, rows);
        }
        finally
        {
            await fixture.ExecAsync("postgres", "ALTER SYSTEM RESET archive_command");
            await fixture.ExecAsync("postgres", "SELECT pg_reload_conf()");
            if (backup is { HasExited: false }) backup.Kill(true);
            backup?.Dispose();
        }
    }

    [Fact]
    public async Task Backup_with_a_policy_runs_expire_itself_and_no_expire_skips_it()
    {
        string config = Config("full: 1");
        await fixture.BackupAsync("full", "--no-expire");
        await RowsAsync();

        var first = await OkAsync(config, "backup", "--type", "full");
        Assert.Contains("expire: removed", first.Stdout, StringComparison.Ordinal);
        var list = await ListAsync(config);
        string newest = Assert.Single(list);

        var second = await OkAsync(config, "backup", "--type", "full", "--no-expire");
        Assert.DoesNotContain("expire:", second.Stdout, StringComparison.Ordinal);
        var both = await ListAsync(config);
        Assert.Equal(2, both.Count);
        Assert.Equal(newest, both[0]);

        var quiet = await OkAsync(Config("full: 1", "expire_after_backup: false"), "backup", "--type", "incr");
        Assert.DoesNotContain("expire:", quiet.Stdout, StringComparison.Ordinal);
        Assert.Equal(3, (await ListAsync(config)).Count);
    }
}
