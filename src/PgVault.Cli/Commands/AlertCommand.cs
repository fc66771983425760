using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Alerts;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault alert test`: one test alert through every channel of alerts.channels; exit 1 when any failed.</summary>
internal static class AlertCommand
{
    public static Command Build()
    {
        var test = new Command("test", "Send a test alert through every channel in alerts.channels (webhook, smtp, command) and show what each did; exit 1 if any failed");
        CommandRunner.SetAction(test, TestAsync);
        return new Command("alert", "Alert channels (the daemon sends alerts on failed tasks, crossed thresholds and recoveries)") { test };
    }

    private static async Task<int> TestAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var tested = await new AlertTest(vault, NullProgress.Instance).RunAsync(new AlertTestOptions(), ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(tested, AlertTestJson.Default.AlertTestResult);
        else
            renderer.Table(["channel", "type", "result"], tested.Channels.Select(c => new[] { c.Channel, c.Type, c.Error is { } e ? "FAILED: " + e : "ok" }));
        if (tested.Ok) return 0;
        foreach (var c in tested.Channels.Where(c => !c.Ok)) renderer.Error(c.Error!, null);
        return (int)ErrorCode.AlertFailed.Kind();
    }
}
