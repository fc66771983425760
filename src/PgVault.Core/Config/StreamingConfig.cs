namespace PgVault.Core.Config;

/// <summary>
/// clusters.NAME.streaming: how `pgvault wal-stream` follows the cluster (slot, application_name,
/// synchronous, status_interval). Null fields take the defaults: slot and application_name
/// <c>pgvault_&lt;cluster&gt;</c>, asynchronous, a status every 10 s.
/// </summary>
public sealed record StreamingConfig(string? Slot = null, string? ApplicationName = null, bool Synchronous = false, int? StatusIntervalSeconds = null)
{
    public const int DefaultStatusIntervalSeconds = 10;

    /// <summary>The default slot and application name of <paramref name="cluster"/> (a valid slot name: lower case, digits, '_').</summary>
    public static string DefaultName(string cluster) =>
        "pgvault_" + new string(cluster.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
}
