using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// `pgvault daemon` as a child process on a real archiving cluster (issue 13): second-granularity
/// schedules, no overlap, SIGTERM mid-backup, SIGHUP reloads, /healthz, a real Prometheus scraping
/// /metrics, and --check-config.
/// </summary>
public sealed class DaemonTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    /// <summary>The fixture's config (same cluster and repository) with schedules and a daemon: section.</summary>
    private string Config(int port, string schedules, string daemon = "", string? path = null)
    {
        path ??= Path.Combine(fixture.Root, $"daemon-{Guid.NewGuid():N}.yaml");
        string state = Path.Combine(fixture.Root, $"state-{Path.GetFileNameWithoutExtension(path)}.json");
        string text = File.ReadAllText(fixture.ConfigFile).TrimEnd('\n') + "\n    schedules:\n"
            + string.Join("", schedules.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "      " + l.Trim() + "\n"))
            + $"daemon:\n  listen: 127.0.0.1:{port}\n  state_file: {state}\n" + string.Join("", daemon.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "  " + l.Trim() + "\n"));
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        return path;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<JsonElement[]> ListAsync(string config)
    {
        var list = await PgVaultCli.RunAsync(["--config", config, "list", "--output", "json"]);
        Assert.True(list.ExitCode == 0, list.ToString());
        return list.Json.EnumerateArray().ToArray();
    }

    [Fact]
    public async Task Logical_backups_every_two_seconds_run_on_time_never_overlap_and_healthz_answers()
    {
        int port = FreePort();
        string config = Config(port, "- {task: backup, type: logical, databases: [postgres], cron: \"*/2 * * * * *\"}", "max_concurrent: 1");
        var before = (await ListAsync(config)).Select(b => b.GetProperty("id").GetString()).ToHashSet();
        await using var daemon = DaemonProcess.Start(config);
        await daemon.WaitForLogAsync(l => Count(l, "backup logical postgres") >= 1 && l.Contains("complete", StringComparison.Ordinal), 60);
        using (var http = new HttpClient())
        {
            var health = await http.GetAsync($"http://127.0.0.1:{port}/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("ok", (await health.Content.ReadAsStringAsync()).Trim());
        }
        await daemon.WaitForLogAsync(l => Count(l, "result=success") >= 4, 60);
        Assert.Equal(0, await daemon.StopAsync());

        var backups = (await ListAsync(config)).Where(b => !before.Contains(b.GetProperty("id").GetString())).ToList();
        var ids = backups.Select(b => b.GetProperty("id").GetString()!).ToList();
        Assert.True(ids.Count >= 4, daemon.Log);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(Count(daemon.Log, "result=success"), ids.Count);
        // Never two at once: each backup starts after the previous one finished.
        var spans = backups.Select(b => (Start: b.GetProperty("started_at").GetDateTimeOffset(), End: b.GetProperty("finished_at").GetDateTimeOffset())).OrderBy(s => s.Start).ToList();
        for (int i = 1; i < spans.Count; i++) Assert.True(spans[i].Start >= spans[i - 1].End, $"backups overlap: {spans[i - 1]} and {spans[i]}");
        // On time: each run started on its 2-second slot (the slot is logged with it).
        var started = Lines(daemon.Log, "task started").Select(l => Field(l, "slot")).ToList();
        Assert.All(started, s => Assert.Equal(0, DateTimeOffset.Parse(s!, System.Globalization.CultureInfo.InvariantCulture).Second % 2));
        Assert.Contains("stopping: no new tasks", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_in_the_middle_of_a_physical_backup_leaves_nothing_listed_half_done_and_exits_0()
    {
        string config = Config(FreePort(), "- {task: backup, type: full, cron: \"*/2 * * * * *\"}", "shutdown_grace: 1s");
        var before = (await ListAsync(config)).Select(b => b.GetProperty("id").GetString()).ToHashSet();
        string backups = Path.Combine(fixture.RepoPath, "clusters/main/backups");
        // Hold the backup in its WAL wait: nothing is archived until archiving is given back.
        await fixture.ExecAsync("postgres", "ALTER SYSTEM SET archive_command = '/bin/false'");
        await fixture.ExecAsync("postgres", "SELECT pg_reload_conf()");
        try
        {
            await using var daemon = DaemonProcess.Start(config);
            string? running = null;
            var clock = Stopwatch.StartNew();
            while (running is null)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the scheduled full backup never started\n" + daemon.Log);
                running = Directory.Exists(backups)
                    ? Directory.GetDirectories(backups).Select(Path.GetFileName).FirstOrDefault(id => id!.EndsWith("-F", StringComparison.Ordinal) && !before.Contains(id) && !File.Exists(Path.Combine(backups, id, "manifest.json")))
                    : null;
                await Task.Delay(50);
            }
            Assert.Equal(0, await daemon.StopAsync());
            Assert.Contains("shutdown grace of 1.0s over: cancelling", daemon.Log, StringComparison.Ordinal);
            Assert.Contains("result=cancelled", daemon.Log, StringComparison.Ordinal);
            Assert.DoesNotContain(running, (await ListAsync(config)).Select(b => b.GetProperty("id").GetString()));
            Assert.False(Directory.Exists(Path.Combine(backups, running)), $"backup {running} left debris in the repository");
        }
        finally
        {
            await fixture.ExecAsync("postgres", "ALTER SYSTEM RESET archive_command");
            await fixture.ExecAsync("postgres", "SELECT pg_reload_conf()");
        }
    }

    [Fact]
    public async Task Sighup_reloads_a_changed_schedule_and_keeps_the_old_one_when_the_new_is_broken()
    {
        int port = FreePort();
        string config = Config(port, "- {task: expire, cron: \"0 0 1 1 *\"}");
        await using var daemon = DaemonProcess.Start(config);
        await daemon.WaitForLogAsync(l => l.Contains("daemon started", StringComparison.Ordinal), 30);

        Config(port, "- {task: backup, type: logical, databases: [postgres], cron: \"*/2 * * * * *\"}", path: config);
        await daemon.HangUpAsync();
        await daemon.WaitForLogAsync(l => l.Contains("configuration reloaded", StringComparison.Ordinal) && Count(l, "result=success") >= 1, 60);
        Assert.Contains("task=backup what=\"backup logical postgres\"", daemon.Log, StringComparison.Ordinal);

        File.WriteAllText(config, File.ReadAllText(config).Replace("*/2 * * * * *", "*/2 * 99 * * *", StringComparison.Ordinal));
        await daemon.HangUpAsync();
        await daemon.WaitForLogAsync(l => l.Contains("configuration not reloaded, keeping the previous one", StringComparison.Ordinal), 30);
        int after = Count(daemon.Log, "result=success");
        await daemon.WaitForLogAsync(l => Count(l, "result=success") > after, 60); // the old schedule goes on
        Assert.Contains("is not a valid cron expression", daemon.Log, StringComparison.Ordinal);
        Assert.Equal(0, await daemon.StopAsync());
    }

    [Fact]
    public async Task A_daemon_whose_parent_blocked_or_ignored_SIGHUP_still_reloads()
    {
        // A blocked signal mask and an ignored disposition both survive fork and exec: started with
        // SIGHUP blocked and ignored (python3 does both, as a wrapper or `nohup` would, then execs
        // pgvault), a daemon that kept either would never see a SIGHUP.
        int port = FreePort();
        string config = Config(port, "- {task: expire, cron: \"0 0 1 1 *\"}");
        const string blockThenExec = "import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP}); os.execv(sys.argv[1], sys.argv[1:])";
        await using var daemon = DaemonProcess.Start(config, ["python3", "-c", blockThenExec, .. PgVaultCli.Command]);
        await daemon.WaitForLogAsync(l => l.Contains("daemon started", StringComparison.Ordinal), 30);
        File.WriteAllText(config, File.ReadAllText(config).Replace("0 0 1 1 *", "0 0 2 1 *", StringComparison.Ordinal));
        await daemon.HangUpAsync();
        await daemon.WaitForLogAsync(l => l.Contains("configuration reloaded", StringComparison.Ordinal), 30);
        Assert.Equal(0, await daemon.StopAsync());
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_the_daemon_and_its_api_returns_task_runs_for_the_cluster()
    {
        int port = FreePort();
        string config = Config(port, "- {task: backup, type: logical, databases: [postgres], cron: \"*/3 * * * * *\"}", "log_format: json");
        await using var daemon = DaemonProcess.Start(config);
        await daemon.WaitForLogAsync(l => l.Contains("\"result\":\"success\"", StringComparison.Ordinal), 60);
        Assert.All(daemon.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => JsonDocument.Parse(l).Dispose());

        string dir = Directory.CreateTempSubdirectory("pgvault-prometheus-").FullName;
        int promPort = FreePort();
        File.WriteAllText(Path.Combine(dir, "prometheus.yml"),
            $"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: pgvault\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n");
        var psi = new ProcessStartInfo("/usr/bin/prometheus") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--config.file=" + Path.Combine(dir, "prometheus.yml"), "--storage.tsdb.path=" + Path.Combine(dir, "data"), $"--web.listen-address=127.0.0.1:{promPort}" })
            psi.ArgumentList.Add(a);
        using var prometheus = Process.Start(psi)!;
        var promLog = prometheus.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient();
            string url = $"http://127.0.0.1:{promPort}/api/v1/query?query=" + Uri.EscapeDataString("pgvault_task_runs_total{cluster=\"main\",task=\"backup\",result=\"success\"}");
            var clock = Stopwatch.StartNew();
            JsonElement result = default;
            while (true)
            {
                try
                {
                    using var doc = JsonDocument.Parse(await http.GetStringAsync(url));
                    result = doc.RootElement.GetProperty("data").GetProperty("result").Clone();
                    if (result.GetArrayLength() > 0) break;
                }
                catch (HttpRequestException) { } // not listening yet
                if (prometheus.HasExited) Assert.Fail("prometheus exited: " + await promLog);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "prometheus never returned a sample");
                await Task.Delay(500);
            }
            var sample = result[0];
            Assert.Equal("pgvault", sample.GetProperty("metric").GetProperty("job").GetString());
            Assert.True(double.Parse(sample.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= 1);
            // The monitor's metrics come from the same endpoint: the logical backup's end time.
            string last = $"http://127.0.0.1:{promPort}/api/v1/query?query=" + Uri.EscapeDataString("pgvault_backup_last_success_timestamp_seconds{cluster=\"main\",type=\"logical\"}");
            using var lastDoc = JsonDocument.Parse(await http.GetStringAsync(last));
            var lastResult = lastDoc.RootElement.GetProperty("data").GetProperty("result");
            Assert.True(lastResult.GetArrayLength() > 0, lastDoc.RootElement.ToString());
            double end = double.Parse(lastResult[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(end, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        }
        finally
        {
            prometheus.Kill(true);
            await prometheus.WaitForExitAsync();
            Directory.Delete(dir, recursive: true);
        }
        Assert.Equal(0, await daemon.StopAsync());
    }

    [Fact]
    public async Task A_failing_scheduled_backup_and_a_critical_check_reach_a_real_webhook_as_alerts()
    {
        using var hook = new WebhookReceiver();
        string config = Config(FreePort(), "- {task: backup, type: logical, databases: [no_such_database], cron: \"*/2 * * * * *\"}", "check_interval: 5s");
        // Every backup is "too old" after a second: the backup_age check goes CRITICAL at once.
        File.AppendAllText(config, $"alerts:\n  thresholds:\n    backup_max_age: {{warning: 1s, critical: 2s}}\n  channels:\n    - {{name: hook, type: webhook, url: \"{hook.Url}\", retries: 0}}\n");
        await using var daemon = DaemonProcess.Start(config);
        var clock = Stopwatch.StartNew();
        List<JsonElement> alerts;
        while (true)
        {
            alerts = hook.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement.Clone()).ToList();
            bool task = alerts.Any(a => a.GetProperty("condition").GetString() == "task:backup");
            // The first evaluation may see the newest backup between 1 and 2 s old (WARNING); the next one is CRITICAL.
            bool check = alerts.Any(a => a.GetProperty("condition").GetString() == "check:backup_age" && a.GetProperty("severity").GetString() == "critical");
            if (task && check) break;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "alerts never arrived; received:\n" + string.Join("\n", hook.Requests.Select(r => r.Body)) + "\nlog:\n" + daemon.Log);
            await Task.Delay(200);
        }
        var failed = alerts.First(a => a.GetProperty("condition").GetString() == "task:backup");
        Assert.Equal("critical", failed.GetProperty("severity").GetString());
        Assert.Equal("problem", failed.GetProperty("kind").GetString());
        Assert.Equal("main", failed.GetProperty("cluster").GetString());
        Assert.False(string.IsNullOrEmpty(failed.GetProperty("error_code").GetString()));
        Assert.Contains("no_such_database", failed.GetProperty("details").GetString(), StringComparison.Ordinal);
        var age = alerts.First(a => a.GetProperty("condition").GetString() == "check:backup_age" && a.GetProperty("severity").GetString() == "critical");
        Assert.Equal("problem", age.GetProperty("kind").GetString());
        // The same failure every 2 seconds is one problem, not a flood (repeat_interval defaults to 4h).
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Single(hook.Requests, r => r.Body.Contains("\"condition\":\"task:backup\"", StringComparison.Ordinal));
        Assert.Equal(0, await daemon.StopAsync());
    }

    [Fact]
    public async Task Check_config_prints_the_next_runs_and_rejects_a_bad_cron_with_one_clear_line()
    {
        string config = Config(FreePort(), """
            - {task: backup, type: full, cron: "0 1 * * 0"}
            - {task: verify, daily_at: "05:00", time_zone: Europe/Paris}
            - {task: backup, type: logical, databases: [postgres], every: 6h}
            """);
        var ok = await PgVaultCli.RunAsync(["--config", config, "daemon", "--check-config"]);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("OK, 3 schedule(s)", ok.Stdout, StringComparison.Ordinal);
        var json = await PgVaultCli.RunAsync(["--config", config, "daemon", "--check-config", "--output", "json"]);
        var runs = json.Json.EnumerateArray().ToList();
        Assert.Equal(3, runs.Count);
        var verify = runs.Single(r => r.GetProperty("task").GetString() == "verify");
        var next = verify.GetProperty("next_run").GetDateTimeOffset();
        Assert.True(next > DateTimeOffset.UtcNow && next < DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal(TimeZoneInfo.ConvertTime(next, TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris")).TimeOfDay, new TimeSpan(5, 0, 0));

        File.WriteAllText(config, File.ReadAllText(config).Replace("0 1 * * 0", "0 25 * * 0", StringComparison.Ordinal));
        var bad = await PgVaultCli.RunAsync(["--config", config, "daemon", "--check-config"]);
        Assert.Equal(2, bad.ExitCode);
        var line = Assert.Single(bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("pgvault: error: config ", line, StringComparison.Ordinal);
        Assert.Contains("'clusters.main.schedules[0].cron' '0 25 * * 0' is not a valid cron expression", line, StringComparison.Ordinal);
    }

    private static int Count(string log, string text) => Lines(log, text).Count();

    private static IEnumerable<string> Lines(string log, string text) => log.Split('\n').Where(l => l.Contains(text, StringComparison.Ordinal));

    private static string? Field(string line, string key)
    {
        int at = line.IndexOf(" " + key + "=", StringComparison.Ordinal);
        if (at < 0) return null;
        string rest = line[(at + key.Length + 2)..];
        return rest.Split(' ')[0];
    }

    /// <summary>A running `pgvault daemon` with its stderr collected.</summary>
    private sealed class DaemonProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();
        private readonly Lock _lock = new();

        private DaemonProcess(string config, IReadOnlyList<string>? program)
        {
            _process = PgVaultCli.Start(["--config", config, "daemon"], program: program);
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (_lock) _log.Append(e.Data).Append('\n');
            };
            _process.BeginErrorReadLine();
        }

        public static DaemonProcess Start(string config, IReadOnlyList<string>? program = null) => new(config, program);

        public string Log
        {
            get { lock (_lock) return _log.ToString(); }
        }

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }

        /// <summary>
        /// SIGHUP, then the daemon's "SIGHUP: reloading" line. Without it after 30 s the failure shows
        /// the daemon's signal state from /proc (CI runs under nohup lost every SIGHUP: see
        /// <see cref="A_daemon_whose_parent_blocked_or_ignored_SIGHUP_still_reloads"/>).
        /// </summary>
        public async Task HangUpAsync()
        {
            int before = Count(Log, "SIGHUP: reloading");
            Signal("HUP");
            var clock = Stopwatch.StartNew();
            while (Count(Log, "SIGHUP: reloading") == before)
            {
                Assert.False(_process.HasExited, $"the daemon exited ({(_process.HasExited ? _process.ExitCode : 0)}):\n{Log}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"no reload after SIGHUP; the daemon's signal state: {SignalState()}\n{Log}");
                await Task.Delay(100);
            }
        }

        private string SignalState()
        {
            try
            {
                return string.Join(' ', File.ReadAllLines($"/proc/{_process.Id}/status").Where(l => l.StartsWith("Sig", StringComparison.Ordinal) || l.StartsWith("ShdPnd", StringComparison.Ordinal)));
            }
            catch (IOException e)
            {
                return e.Message;
            }
        }

        public async Task WaitForLogAsync(Func<string, bool> condition, int seconds)
        {
            var clock = Stopwatch.StartNew();
            while (!condition(Log))
            {
                Assert.False(_process.HasExited, $"the daemon exited ({(_process.HasExited ? _process.ExitCode : 0)}):\n{Log}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), "timed out waiting for the daemon's log:\n" + Log);
                await Task.Delay(100);
            }
        }

        /// <summary>SIGTERM, then the exit code.</summary>
        public async Task<int> StopAsync()
        {
            Signal("TERM");
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            _process.WaitForExit(); // flush the stderr reader
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(true);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }
    }
}
