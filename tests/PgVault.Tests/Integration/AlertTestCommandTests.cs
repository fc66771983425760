using System.Text.Json;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>`pgvault alert test` end to end: the CLI as a child process, a real HTTP receiver.</summary>
public sealed class AlertTestCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-alerttest-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(string channels)
    {
        string file = Path.Combine(_dir, "pgvault.yaml");
        File.WriteAllText(file, $"clusters:\n  prod: {{}}\nalerts:\n  repeat_interval: 1h\n  channels:\n{channels}");
        return file;
    }

    [Fact]
    public async Task Alert_test_sends_a_test_alert_through_every_channel_and_reports_each()
    {
        using var good = new WebhookReceiver();
        string config = Config($"    - {{name: ops, type: webhook, url: \"{good.Url}\"}}\n");
        var run = await PgVaultCli.RunAsync(["--config", config, "alert", "test", "--output", "json"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        var channel = Assert.Single(run.Json.GetProperty("channels").EnumerateArray().ToList());
        Assert.Equal(("ops", "webhook", true), (channel.GetProperty("channel").GetString(), channel.GetProperty("type").GetString(), channel.GetProperty("ok").GetBoolean()));
        var alert = JsonDocument.Parse(Assert.Single(good.Requests).Body).RootElement;
        Assert.Equal(("prod", "test", "test"), (alert.GetProperty("cluster").GetString(), alert.GetProperty("condition").GetString(), alert.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task Alert_test_exits_non_zero_when_one_channel_fails_and_still_tries_the_others()
    {
        using var good = new WebhookReceiver();
        using var bad = new WebhookReceiver(403);
        string config = Config($"    - {{name: broken, type: webhook, url: \"{bad.Url}\"}}\n    - {{name: ops, type: webhook, url: \"{good.Url}\"}}\n");
        var run = await PgVaultCli.RunAsync(["--config", config, "alert", "test"]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("FAILED: alert channel 'broken'", run.Stdout);
        Assert.Contains("answered 403", run.Stdout);
        Assert.Contains("pgvault: error: alert channel 'broken'", run.Stderr);
        Assert.Single(good.Requests);
    }

    [Fact]
    public async Task Alert_test_without_channels_says_how_to_add_them()
    {
        string file = Path.Combine(_dir, "empty.yaml");
        File.WriteAllText(file, "clusters:\n  prod: {}\n");
        var run = await PgVaultCli.RunAsync(["--config", file, "alert", "test"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no alert channels are configured", run.Stderr);
        Assert.Contains("alerts.channels", run.Stderr);
    }
}
