using System.Text.Json.Serialization;

namespace PgVault.Core.Alerts;

/// <summary>How bad a condition is. Ordered: a higher value is worse.</summary>
public enum AlertSeverity
{
    Ok,
    Warning,
    Critical,
}

/// <summary>
/// One alert, as every channel sends it (the webhook's JSON body, the command's stdin, the mail's
/// fields). <see cref="Condition"/> is a stable key ("task:backup", "check:backup_age") under which
/// the dispatcher remembers the state; <see cref="Kind"/> says why it was sent: "problem" (a new or
/// changed bad severity), "repeat" (still bad after the repeat interval), "recovery" (back to ok) or
/// "test" (<c>pgvault alert test</c>).
/// </summary>
public sealed record Alert(
    string Cluster,
    string Condition,
    string Severity,
    string Summary,
    DateTimeOffset Time)
{
    public const string Problem = "problem";
    public const string Repeat = "repeat";
    public const string Recovery = "recovery";
    public const string Test = "test";

    public string Kind { get; init; } = Problem;

    /// <summary>The severity sent before this one for the condition (null: none).</summary>
    public string? PreviousSeverity { get; init; }

    /// <summary>The <see cref="Errors.ErrorCode"/> wire name of a failed task (e.g. "server-unreachable").</summary>
    public string? ErrorCode { get; init; }

    public string? Details { get; init; }

    public string Host { get; init; } = Environment.MachineName;

    /// <summary>A one-line subject: "[pgvault] CRITICAL main: backup failed".</summary>
    [JsonIgnore]
    public string Subject => $"[pgvault] {(Kind == Recovery ? "RECOVERED" : Severity.ToUpperInvariant())} {Cluster}: {Summary}";

    public static string Name(AlertSeverity severity) => severity switch
    {
        AlertSeverity.Ok => "ok",
        AlertSeverity.Warning => "warning",
        _ => "critical",
    };
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Alert))]
[JsonSerializable(typeof(AlertState))]
[JsonSerializable(typeof(Dictionary<string, AlertState>))]
internal sealed partial class AlertJson : JsonSerializerContext;
