using System.Text.Json.Serialization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;

namespace PgVault.Core.Alerts;

/// <summary>Options of <c>pgvault alert test</c> (none yet: every configured channel is tried).</summary>
public sealed record AlertTestOptions;

/// <summary>What each channel did with the test alert.</summary>
public sealed record AlertTestResult(string Cluster, IReadOnlyList<ChannelOutcome> Channels)
{
    public bool Ok => Channels.All(c => c.Ok);
}

/// <summary>
/// <c>pgvault alert test</c>: sends one alert of kind "test" (severity warning, condition "test")
/// through every channel of <c>alerts.channels</c>, each on its own, and reports each outcome. It
/// does not touch the dispatcher's state.
/// </summary>
public sealed class AlertTest(Vault.Vault vault, IProgressSink progress)
{
    public async Task<AlertTestResult> RunAsync(AlertTestOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var delivery = vault.Config.AlertDelivery;
        if (delivery.Channels.Count == 0)
            throw new PgVaultException(ErrorCode.ConfigInvalid, "no alert channels are configured",
                "add alerts.channels (webhook, smtp or command) to the configuration file; see docs/alerts.md");
        var dispatcher = new AlertDispatcher(delivery, progress);
        var alert = new Alert(vault.Cluster.Name, "test", Alert.Name(AlertSeverity.Warning), "test alert from pgvault alert test", DateTimeOffset.UtcNow)
        {
            Kind = Alert.Test,
            Details = "This is a test. If you read it, this channel delivers PgVault's alerts.",
        };
        var outcomes = await dispatcher.SendAsync(alert, ct).ConfigureAwait(false);
        return new AlertTestResult(vault.Cluster.Name, outcomes);
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NewLine = "\n",
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AlertTestResult))]
public sealed partial class AlertTestJson : JsonSerializerContext;
