using PgVault.Core.Alerts;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>The dispatcher's state machine: one alert per condition and severity, recovery, repeat, retry after no delivery.</summary>
public sealed class AlertDispatcherTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-alerts-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Recorder : IAlertChannel
    {
        public List<Alert> Sent { get; } = [];

        public bool Fail { get; set; }

        public string Name => "rec";

        public string Type => "test";

        public Task SendAsync(Alert alert, CancellationToken ct)
        {
            if (Fail) throw new PgVaultException(ErrorCode.AlertFailed, "down");
            Sent.Add(alert);
            return Task.CompletedTask;
        }
    }

    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Same_failing_condition_twice_sends_once_and_recovery_once()
    {
        var channel = new Recorder();
        var dispatcher = new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance);
        await dispatcher.TaskFinishedAsync("main", "backup", false, "server-unreachable", "connection refused");
        await dispatcher.TaskFinishedAsync("main", "backup", false, "server-unreachable", "connection refused");
        await dispatcher.TaskFinishedAsync("main", "backup", true, null, null);
        await dispatcher.TaskFinishedAsync("main", "backup", true, null, null);
        Assert.Equal(2, channel.Sent.Count);
        Assert.Equal((Alert.Problem, "critical", "task:backup", "server-unreachable"), (channel.Sent[0].Kind, channel.Sent[0].Severity, channel.Sent[0].Condition, channel.Sent[0].ErrorCode));
        Assert.Equal((Alert.Recovery, "ok", "critical"), (channel.Sent[1].Kind, channel.Sent[1].Severity, channel.Sent[1].PreviousSeverity));
    }

    [Fact]
    public async Task Ok_without_an_earlier_problem_sends_nothing()
    {
        var channel = new Recorder();
        var dispatcher = new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance);
        var result = await dispatcher.CheckChangedAsync("main", "backup_age", AlertSeverity.Ok, "12h");
        Assert.Null(result.Alert);
        Assert.Empty(channel.Sent);
    }

    [Fact]
    public async Task Each_severity_change_sends_and_conditions_and_clusters_are_apart()
    {
        var channel = new Recorder();
        var dispatcher = new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance);
        await dispatcher.CheckChangedAsync("main", "backup_age", AlertSeverity.Warning, "27h");
        await dispatcher.CheckChangedAsync("main", "backup_age", AlertSeverity.Critical, "49h");
        await dispatcher.CheckChangedAsync("main", "backup_age", AlertSeverity.Warning, "27h");
        await dispatcher.CheckChangedAsync("main", "wal_age", AlertSeverity.Warning, "20m");
        await dispatcher.CheckChangedAsync("other", "backup_age", AlertSeverity.Warning, "27h");
        Assert.Equal(["warning", "critical", "warning", "warning", "warning"], channel.Sent.Select(a => a.Severity));
        Assert.Equal("critical", channel.Sent[2].PreviousSeverity);
        Assert.All(channel.Sent, a => Assert.Equal(Alert.Problem, a.Kind));
    }

    [Fact]
    public async Task A_condition_still_bad_repeats_after_the_interval_only()
    {
        var channel = new Recorder();
        var clock = new Clock(T0);
        var dispatcher = new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance, time: clock);
        await dispatcher.CheckChangedAsync("main", "wal_age", AlertSeverity.Critical, null);
        clock.Now = T0.AddHours(3).AddMinutes(59);
        await dispatcher.CheckChangedAsync("main", "wal_age", AlertSeverity.Critical, null);
        clock.Now = T0.AddHours(4);
        await dispatcher.CheckChangedAsync("main", "wal_age", AlertSeverity.Critical, null);
        clock.Now = T0.AddHours(5);
        await dispatcher.CheckChangedAsync("main", "wal_age", AlertSeverity.Critical, null);
        Assert.Equal([Alert.Problem, Alert.Repeat], channel.Sent.Select(a => a.Kind));
    }

    [Fact]
    public async Task An_alert_no_channel_delivered_is_tried_again_on_the_next_report()
    {
        var channel = new Recorder { Fail = true };
        var dispatcher = new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance);
        var failed = await dispatcher.TaskFinishedAsync("main", "verify", false, "verify-failed", "gap");
        Assert.False(failed.Channels.Single().Ok);
        channel.Fail = false;
        await dispatcher.TaskFinishedAsync("main", "verify", false, "verify-failed", "gap");
        await dispatcher.TaskFinishedAsync("main", "verify", false, "verify-failed", "gap");
        Assert.Single(channel.Sent);
    }

    [Fact]
    public async Task The_state_file_keeps_a_restarted_dispatcher_from_repeating_itself()
    {
        string file = Path.Combine(_dir, "alerts.state");
        var channel = new Recorder();
        await new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance, file).TaskFinishedAsync("main", "drill", false, "drill-failed", "check failed");
        var restarted = new AlertDispatcher([channel], TimeSpan.FromHours(4), NullProgress.Instance, file);
        await restarted.TaskFinishedAsync("main", "drill", false, "drill-failed", "check failed");
        await restarted.TaskFinishedAsync("main", "drill", true, null, null);
        Assert.Equal([Alert.Problem, Alert.Recovery], channel.Sent.Select(a => a.Kind));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
    }

    [Theory]
    [InlineData(null, AlertSeverity.Ok, 0, null)]
    [InlineData(null, AlertSeverity.Warning, 0, Alert.Problem)]
    [InlineData("warning", AlertSeverity.Warning, 1, null)]
    [InlineData("warning", AlertSeverity.Warning, 4, Alert.Repeat)]
    [InlineData("warning", AlertSeverity.Critical, 1, Alert.Problem)]
    [InlineData("critical", AlertSeverity.Ok, 1, Alert.Recovery)]
    public void Decide(string? prior, AlertSeverity now, int hoursLater, string? expected)
    {
        var state = prior is null ? null : new AlertState(prior, T0);
        Assert.Equal(expected, AlertDispatcher.Decide(state, now, T0.AddHours(hoursLater), TimeSpan.FromHours(4)));
    }
}
