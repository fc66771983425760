using PgVault.Tests.Infrastructure;
using PgVault.Tests.Unit;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// `pgvault status` on a real archiving cluster: the backup and a fresh WAL in the JSON, Nagios
/// states and exit codes as thresholds of seconds age the backup, archive failures after
/// archive_command breaks, and the metrics accepted by promtool.
/// </summary>
public sealed class StatusTests(ArchivingFixture db) : IClassFixture<ArchivingFixture>
{
    /// <summary>The fixture's configuration with more YAML under clusters.main (drills are not part of these tests: drill_max_age off).</summary>
    private string Config(string name, string thresholds)
    {
        string path = Path.Combine(db.Root, name + ".yaml");
        File.WriteAllText(path, File.ReadAllText(db.ConfigFile) + "    thresholds:\n      drill_max_age: off\n" + thresholds);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        return path;
    }

    private static Task<CliResult> Status(string config, params string[] args) => PgVaultCli.RunAsync(["--config", config, "status", .. args]);

    private static string FirstLine(CliResult r) => r.Stdout.Split('\n')[0];

    [Fact]
    public async Task Status_follows_backup_age_archive_failures_and_renders_metrics_promtool_accepts()
    {
        var backup = await db.RunAsync("backup", "--type", "full");
        Assert.True(backup.ExitCode == 0, backup.ToString());
        var verify = await db.RunAsync("verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        await db.WaitArchivedAsync(await db.SwitchWalAsync());

        string plain = Config("plain", "");
        var json = await Status(plain, "--output", "json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var cluster = json.Json.GetProperty("clusters")[0];
        Assert.Equal("OK", json.Json.GetProperty("state").GetString());
        var full = Assert.Single(cluster.GetProperty("backups").EnumerateArray());
        Assert.Equal("full", full.GetProperty("type").GetString());
        Assert.Equal(1, full.GetProperty("count").GetInt32());
        var wal = Assert.Single(cluster.GetProperty("wal").EnumerateArray());
        Assert.True(wal.GetProperty("age_seconds").GetDouble() < 120, wal.ToString());
        Assert.True(cluster.GetProperty("server").GetProperty("reachable").GetBoolean());
        Assert.Equal(0, cluster.GetProperty("server").GetProperty("ready_files").GetInt32());
        Assert.True(cluster.GetProperty("last_verify").GetProperty("valid").GetBoolean());
        Assert.True(cluster.GetProperty("recovery").GetProperty("window_seconds").GetDouble() >= 0);

        var ok = await Status(plain, "--nagios");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.StartsWith("PGVAULT OK - main: ", FirstLine(ok));
        Assert.Contains("backup_age=", FirstLine(ok), StringComparison.Ordinal);

        // The backup is seconds old: a warning of 1s with a critical of an hour is WARNING, a critical of 2s CRITICAL.
        await Task.Delay(2500);
        var warning = await Status(Config("warning", "      backup_max_age: {warning: 1s, critical: 1h}\n"), "--nagios");
        Assert.True(warning.ExitCode == 1, warning.ToString());
        Assert.StartsWith("PGVAULT WARNING - main: newest backup ", FirstLine(warning));
        Assert.Contains(";1;3600", FirstLine(warning), StringComparison.Ordinal);
        var critical = await Status(Config("critical", "      backup_max_age: {warning: 1s, critical: 2s}\n"), "--nagios");
        Assert.True(critical.ExitCode == 2, critical.ToString());
        Assert.StartsWith("PGVAULT CRITICAL - main: newest backup ", FirstLine(critical));

        var metrics = await Status(plain, "--prometheus");
        Assert.True(metrics.ExitCode == 0, metrics.ToString());
        Assert.Contains("pgvault_backup_last_success_timestamp_seconds{cluster=\"main\",repository=\"local\",type=\"full\"} ", metrics.Stdout, StringComparison.Ordinal);
        Assert.Contains("pgvault_wal_archive_failures_total{cluster=\"main\"} 0\n", metrics.Stdout, StringComparison.Ordinal);
        StatusChecksTests.AssertPromtoolAccepts(metrics.Stdout);

        // Archiving breaks: pg_stat_archiver counts failures and the status is no longer OK.
        await db.ExecAsync("postgres", "ALTER SYSTEM SET archive_command = '/bin/false'");
        await db.ExecAsync("postgres", "SELECT pg_reload_conf()");
        try
        {
            await Task.Delay(500);
            await db.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x");
            await db.SwitchWalAsync();
            for (int i = 0; i < 300 && await db.ScalarAsync<long>("postgres", "SELECT failed_count FROM pg_stat_archiver") == 0; i++) await Task.Delay(100);
            var failing = await Status(plain, "--nagios");
            Assert.True(failing.ExitCode is 1 or 2, failing.ToString());
            Assert.Contains("archive_command is failing", failing.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("archive_failures=0;", FirstLine(failing), StringComparison.Ordinal);
            var failingJson = await Status(plain, "--output", "json");
            Assert.Equal(3, failingJson.ExitCode);
            var check = failingJson.Json.GetProperty("clusters")[0].GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "archive_failures");
            Assert.Equal("WARNING", check.GetProperty("state").GetString());
        }
        finally
        {
            await db.ExecAsync("postgres", "ALTER SYSTEM RESET archive_command");
            await db.ExecAsync("postgres", "SELECT pg_reload_conf()");
        }
    }

    [Fact]
    public async Task A_server_that_is_down_makes_its_checks_unknown_not_an_error()
    {
        string down = Path.Combine(db.Root, "down.yaml");
        File.WriteAllText(down, File.ReadAllText(db.ConfigFile).Replace($"connection: {db.ConnectionString}", "connection: host=127.0.0.1 port=1 user=postgres dbname=postgres", StringComparison.Ordinal)
            + "    thresholds: {drill_max_age: off, verify_max_age: off, backup_max_age: off, wal_max_age: off}\n");
        File.SetUnixFileMode(down, (UnixFileMode)0b110_100_100);
        var result = await Status(down, "--nagios");
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.StartsWith("PGVAULT UNKNOWN - main: server not reachable: ", FirstLine(result));
    }
}
