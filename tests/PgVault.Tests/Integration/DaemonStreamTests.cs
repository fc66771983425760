using System.Diagnostics;
using System.Text.Json;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

public sealed class DaemonStreamFixture : WalStreamFixture;

/// <summary>
/// `{task: wal-stream}` in the daemon (issues 13 and 14): the daemon runs the same streamer as
/// `pgvault wal-stream`, as the postgres OS user; a streamer that cannot start (no slot) is a failed
/// wal-stream run with an alert and is started again; once the slot exists it streams (the recovery
/// alert), pushes complete segments into the archive, shows in /metrics, and stops cleanly on SIGTERM.
/// </summary>
public sealed class DaemonStreamTests(DaemonStreamFixture db) : IClassFixture<DaemonStreamFixture>
{
    [Fact]
    public async Task The_daemon_streams_wal_restarts_a_streamer_that_failed_and_alerts_on_failure_and_recovery()
    {
        using var hook = new WebhookReceiver();
        int port = WebhookReceiver.FreePort();
        string config = Path.Combine(db.Root, "daemon-stream.yaml");
        File.WriteAllText(config, File.ReadAllText(db.ConfigFile).TrimEnd('\n')
            + "\n    schedules:\n      - {task: wal-stream}\n"
            + $"daemon:\n  listen: 127.0.0.1:{port}\n  state_file: {Path.Combine(db.SpoolPath, "daemon-state.json")}\n  check_interval: 1h\n"
            + $"alerts:\n  channels:\n    - {{name: hook, type: webhook, url: \"{hook.Url}\", retries: 0}}\n");
        File.SetUnixFileMode(config, (UnixFileMode)0b110_100_100);

        var check = await PgVaultCli.RunAsync(["--config", config, "daemon", "--check-config"]);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("from start to stop", check.Stdout, StringComparison.Ordinal);

        // No slot yet: the streamer's start fails, the daemon says so and alerts, then tries again.
        await using var daemon = Streamer.Start(config, "daemon");
        var failed = await AlertAsync(hook, "problem", daemon);
        Assert.Equal("critical", failed.GetProperty("severity").GetString());
        Assert.Equal("replication-slot-missing", failed.GetProperty("error_code").GetString());
        Assert.Contains("wal-stream failed", daemon.Stderr, StringComparison.Ordinal);

        var noSlot = await db.RunAsync("check");
        Assert.NotEqual(0, noSlot.ExitCode);
        Assert.Contains("replication slot pgvault_main does not exist", noSlot.ToString(), StringComparison.Ordinal);

        var created = await db.RunAsPostgresAsync("wal-stream", "--create-slot");
        Assert.True(created.ExitCode == 0, created.ToString());
        await db.WaitStreamingAsync(seconds: 90);
        var recovered = await AlertAsync(hook, "recovery", daemon);
        Assert.Equal("ok", recovered.GetProperty("severity").GetString());

        await db.ExecAsync("postgres", "CREATE TABLE daemon_streamed AS SELECT g AS i FROM generate_series(1, 1000) g");
        string segment = await db.ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
        await db.ExecAsync("postgres", "SELECT pg_switch_wal()");
        await db.WaitInArchiveAsync(segment);

        // check: archive_command is /bin/true here, the streamer is the archiver, and its switched segment arrives.
        var healthy = await db.RunAsync("check", "--output", "json");
        Assert.True(healthy.ExitCode == 0, healthy.ToString());

        using var http = new HttpClient();
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
        Assert.Contains("pgvault_wal_stream_up{cluster=\"main\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("pgvault_task_runs_total{cluster=\"main\",task=\"wal-stream\",result=\"failure\"}", metrics, StringComparison.Ordinal);

        var stopped = await daemon.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Contains("wal-stream stopped", stopped.Stderr, StringComparison.Ordinal);
        // The replication connection is closed with the daemon (the walsender goes soon after).
        var clock = Stopwatch.StartNew();
        while (await db.ScalarAsync<long>("postgres", "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgvault_main'") > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the daemon's replication connection outlived it");
            await Task.Delay(200);
        }
    }

    private static async Task<JsonElement> AlertAsync(WebhookReceiver hook, string kind, Streamer daemon)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            foreach (var request in hook.Requests)
            {
                var alert = JsonDocument.Parse(request.Body).RootElement;
                if (alert.GetProperty("condition").GetString() == "task:wal-stream" && alert.GetProperty("kind").GetString() == kind) return alert.Clone();
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"no '{kind}' alert for task:wal-stream; daemon log:\n{daemon.Stderr}");
            await Task.Delay(200);
        }
    }
}
