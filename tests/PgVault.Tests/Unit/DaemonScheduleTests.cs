using System.Globalization;
using PgVault.Core.Config;
using PgVault.Core.Daemon;
using PgVault.Core.Errors;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>Schedules of the daemon: parsing, next slots (time zones), catch-up decisions, queue order.</summary>
public sealed class DaemonScheduleTests
{
    private static PgVaultConfig Parse(string yaml) => ConfigLoader.Parse(yaml, "/etc/pgvault/test.yaml");

    private static IReadOnlyList<ScheduleSpec> Schedules(string items) =>
        Parse("clusters:\n  main:\n    schedules:\n" + string.Join("", items.Split('\n').Select(l => "      " + l + "\n")))
            .Clusters["main"].Schedules;

    private static ScheduleSpec One(string item) => Assert.Single(Schedules("- " + item));

    private static DateTimeOffset At(string utc) => DateTimeOffset.Parse(utc, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    [Fact]
    public void The_issue_example_parses_with_every_form()
    {
        var s = Schedules("""
            - {task: backup, type: full, cron: "0 1 * * 0"}
            - {task: backup, type: incr, cron: "0 1 * * 1-6"}
            - {task: backup, type: logical, databases: [shop], every: 6h}
            - {task: verify, daily_at: "05:00"}
            - {task: drill, cron: "0 3 * * 6", target: random}
            - {task: expire, cron: "*/3 * * * * *", time_zone: Europe/Paris}
            """);
        Assert.Equal(6, s.Count);
        Assert.Equal(("backup full", "cron \"0 1 * * 0\""), (s[0].What, s[0].When));
        Assert.Equal(["shop"], s[2].Databases);
        Assert.Equal(TimeSpan.FromHours(6), s[2].Every);
        Assert.Equal("drill random", s[4].What);
        Assert.Equal("Europe/Paris", s[5].TimeZone.Id);
        var daemon = Parse("daemon: {max_concurrent: 3, jitter: 30s, catch_up: 0, shutdown_grace: 2m, log_format: json}").Daemon;
        Assert.Equal((3, TimeSpan.FromSeconds(30), TimeSpan.Zero, TimeSpan.FromMinutes(2), "json", DaemonConfig.DefaultListen),
            (daemon.MaxConcurrent, daemon.Jitter, daemon.CatchUp, daemon.ShutdownGrace, daemon.LogFormat, daemon.Listen));
    }

    [Theory]
    [InlineData("{task: backup, type: full, cron: \"61 1 * * *\"}", "schedules[0].cron' '61 1 * * *' is not a valid cron expression")]
    [InlineData("{task: backup, type: full, cron: \"1 * *\"}", "has 3 fields")]
    [InlineData("{task: backup, type: full}", "needs exactly one of cron:, every: or daily_at:")]
    [InlineData("{task: backup, type: full, every: 1h, daily_at: \"02:00\"}", "needs exactly one of")]
    [InlineData("{task: backup, type: weekly, every: 1h}", "'weekly' is not a backup type")]
    [InlineData("{task: verify, type: full, every: 1h}", "applies to task: backup only")]
    [InlineData("{task: backup, type: full, databases: [x], every: 1h}", "applies to logical backups only")]
    [InlineData("{task: backup, target: random, every: 1h}", "applies to task: drill only")]
    [InlineData("{task: vacuum, every: 1h}", "'vacuum' is not a task")]
    [InlineData("{task: verify, daily_at: \"25:00\"}", "must be a time of day")]
    [InlineData("{task: verify, daily_at: \"02:00\", time_zone: Mars/Olympus}", "not a known time zone")]
    [InlineData("{task: verify, every: 1h, time_zone: UTC}", "applies to cron: and daily_at:")]
    [InlineData("{task: verify, every: 1h, at: 2}", "unknown key 'clusters.main.schedules[0].at'")]
    public void A_bad_schedule_is_refused_with_one_line_naming_the_key(string item, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => Schedules("- " + item));
        Assert.Equal(ErrorCode.ConfigInvalid, e.Code);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("daemon: {listen: 0.0.0.0:9187}", "not a loopback address: set daemon.metrics_token_file")]
    [InlineData("daemon: {listen: example.com:9187}", "must be ADDRESS:PORT")]
    [InlineData("daemon: {listen: 127.0.0.1:99999}", "must be ADDRESS:PORT")]
    [InlineData("daemon: {max_concurrent: 0}", "from 1 to 64")]
    [InlineData("daemon: {log_format: xml}", "must be text or json")]
    [InlineData("daemon: {catch_up: soon}", "must be a span")]
    public void A_bad_daemon_section_is_refused(string yaml, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => Parse(yaml));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_public_listen_address_is_accepted_with_a_token_file()
    {
        var daemon = Parse("daemon: {listen: \"[::]:9187\", metrics_token_file: /etc/pgvault/token}").Daemon;
        Assert.Equal("[::]:9187", daemon.Listen);
    }

    [Fact]
    public void Wal_stream_is_a_continuous_task_without_timing_once_per_cluster()
    {
        var spec = One("{task: wal-stream}");
        Assert.True(spec.Continuous);
        Assert.Equal("wal-stream", spec.TaskName);
        var next = DaemonHost.NextRuns(Parse("clusters:\n  main:\n    schedules:\n      - {task: wal-stream}\n"), At("2026-01-31T10:00:00Z"));
        Assert.Null(Assert.Single(next).NextRun);
        var timed = Assert.Throws<PgVaultException>(() => Schedules("- {task: wal-stream, every: 1h}"));
        Assert.Contains("runs continuously", timed.Message, StringComparison.Ordinal);
        var twice = Assert.Throws<PgVaultException>(() => Schedules("- {task: wal-stream}\n- {task: wal-stream}"));
        Assert.Contains("listed twice", twice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cron_with_seconds_fires_every_three_seconds()
    {
        var spec = One("{task: backup, type: logical, cron: \"*/3 * * * * *\"}");
        Assert.Equal(At("2026-01-31T10:00:03Z"), ScheduleClock.Next(spec, At("2026-01-31T10:00:00Z")));
        Assert.Equal(At("2026-01-31T10:00:03Z"), ScheduleClock.Next(spec, At("2026-01-31T10:00:01.5Z")));
    }

    [Fact]
    public void Daily_at_follows_the_time_zone_across_daylight_saving()
    {
        var spec = One("{task: verify, daily_at: \"02:30\", time_zone: Europe/Paris}");
        // Winter: Paris is UTC+1.
        Assert.Equal(At("2026-01-15T01:30:00Z"), ScheduleClock.Next(spec, At("2026-01-15T00:00:00Z")));
        // Summer: UTC+2.
        Assert.Equal(At("2026-07-15T00:30:00Z"), ScheduleClock.Next(spec, At("2026-07-14T23:00:00Z")));
        // 2026-03-29 02:30 does not exist in Paris (clocks jump 02:00 -> 03:00): Cronos runs it at the jump.
        Assert.Equal(At("2026-03-29T01:00:00Z"), ScheduleClock.Next(spec, At("2026-03-28T23:00:00Z")));
    }

    [Fact]
    public void Cron_is_read_in_its_time_zone_and_defaults_to_utc()
    {
        var utc = One("{task: backup, type: full, cron: \"0 1 * * 0\"}");
        var ny = One("{task: backup, type: full, cron: \"0 1 * * 0\", time_zone: America/New_York}");
        Assert.Equal(At("2026-02-01T01:00:00Z"), ScheduleClock.Next(utc, At("2026-01-31T12:00:00Z")));
        Assert.Equal(At("2026-02-01T06:00:00Z"), ScheduleClock.Next(ny, At("2026-01-31T12:00:00Z")));
    }

    [Fact]
    public void Every_counts_from_the_epoch_so_slots_survive_restarts()
    {
        var spec = One("{task: backup, type: logical, every: 6h}");
        Assert.Equal(At("2026-01-31T12:00:00Z"), ScheduleClock.Next(spec, At("2026-01-31T07:59:59Z")));
        Assert.Equal(At("2026-01-31T18:00:00Z"), ScheduleClock.Next(spec, At("2026-01-31T12:00:00Z")));
    }

    [Fact]
    public void Catch_up_runs_the_newest_slot_missed_by_less_than_the_window_once()
    {
        var spec = One("{task: backup, type: full, cron: \"0 * * * *\"}");
        // Down from 09:10 to 12:20: slots 10:00, 11:00, 12:00 passed; 12:00 is 20 min old.
        var decision = ScheduleClock.CatchUp(spec, At("2026-01-31T09:00:00Z"), At("2026-01-31T12:20:00Z"), TimeSpan.FromHours(1));
        Assert.Equal(At("2026-01-31T12:00:00Z"), decision.RunNow);
        Assert.Equal(2, decision.Missed);
        Assert.Equal(At("2026-01-31T12:00:00Z"), decision.Newest);
    }

    [Fact]
    public void Catch_up_counts_slots_older_than_the_window_as_missed_and_runs_none()
    {
        var spec = One("{task: backup, type: full, cron: \"0 * * * *\"}");
        var decision = ScheduleClock.CatchUp(spec, At("2026-01-31T09:00:00Z"), At("2026-01-31T12:50:00Z"), TimeSpan.FromMinutes(30));
        Assert.Null(decision.RunNow);
        Assert.Equal(3, decision.Missed);
        Assert.Equal(0, ScheduleClock.CatchUp(spec, At("2026-01-31T09:00:00Z"), At("2026-01-31T12:50:00Z"), TimeSpan.Zero).RunNow is null ? 0 : 1);
    }

    [Fact]
    public void Catch_up_does_nothing_for_a_new_schedule_or_when_nothing_passed()
    {
        var spec = One("{task: backup, type: full, cron: \"0 * * * *\"}");
        Assert.Equal(new CatchUpDecision(null, 0, null), ScheduleClock.CatchUp(spec, null, At("2026-01-31T12:50:00Z"), TimeSpan.FromHours(1)));
        Assert.Equal(new CatchUpDecision(null, 0, null), ScheduleClock.CatchUp(spec, At("2026-01-31T12:00:00Z"), At("2026-01-31T12:50:00Z"), TimeSpan.FromHours(1)));
    }

    [Fact]
    public void Queue_runs_backup_verify_drill_expire_in_that_order_and_one_task_per_cluster()
    {
        var specs = Schedules("""
            - {task: expire, every: 1h}
            - {task: drill, every: 1h}
            - {task: verify, every: 1h}
            - {task: backup, type: full, every: 1h}
            """);
        var queue = new TaskQueue();
        var slot = At("2026-01-31T12:00:00Z");
        foreach (var s in specs) Assert.True(queue.Enqueue(new QueuedTask("main", s, s.What, slot)));
        Assert.False(queue.Enqueue(new QueuedTask("main", specs[0], specs[0].What, slot.AddHours(1))));
        var order = new List<string>();
        while (queue.TakeNext(maxConcurrent: 4) is { } task)
        {
            Assert.Null(queue.TakeNext(maxConcurrent: 4)); // the cluster is busy
            order.Add(task.Spec.TaskName);
            queue.Finished("main");
        }
        Assert.Equal(["backup", "verify", "drill", "expire"], order);
    }

    [Fact]
    public void Queue_honours_the_global_cap_across_clusters()
    {
        var spec = One("{task: backup, type: full, every: 1h}");
        var queue = new TaskQueue();
        foreach (var cluster in new[] { "a", "b", "c" }) queue.Enqueue(new QueuedTask(cluster, spec, cluster, At("2026-01-31T12:00:00Z")));
        Assert.NotNull(queue.TakeNext(2));
        Assert.NotNull(queue.TakeNext(2));
        Assert.Null(queue.TakeNext(2));
        queue.Finished("a");
        Assert.Equal("c", queue.TakeNext(2)?.Cluster);
    }

    [Fact]
    public void Task_runs_render_in_the_prometheus_text_format()
    {
        var counter = new TaskRunCounter();
        counter.Add("main", "backup", "success", 2);
        counter.Add("we\"ird", "verify", "failure", 1);
        string text = PgVault.Core.Monitor.PrometheusText.Render([], counter.Snapshot());
        Assert.Contains("# TYPE pgvault_task_runs_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("pgvault_task_runs_total{cluster=\"main\",task=\"backup\",result=\"success\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("pgvault_task_runs_total{cluster=\"we\\\"ird\",task=\"verify\",result=\"failure\"} 1\n", text, StringComparison.Ordinal);
    }
}
