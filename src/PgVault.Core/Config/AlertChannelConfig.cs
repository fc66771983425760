namespace PgVault.Core.Config;

/// <summary>
/// The delivery half of the top-level <c>alerts:</c> section: <c>channels:</c> and
/// <c>repeat_interval:</c> (the thresholds half is the monitor's).
/// </summary>
public sealed record AlertDeliveryConfig(IReadOnlyList<AlertChannelConfig> Channels, TimeSpan RepeatInterval)
{
    /// <summary>How long a condition that stays bad waits before it is sent again.</summary>
    public static readonly TimeSpan DefaultRepeatInterval = TimeSpan.FromHours(4);

    public static readonly AlertDeliveryConfig None = new([], DefaultRepeatInterval);
}

/// <summary>
/// One alert channel (<c>alerts.channels[i]</c>). <see cref="Type"/> is webhook, smtp or command;
/// only the fields of that type are set. No secret is held here: only where to read it
/// (<see cref="SecretFile"/>, <see cref="PasswordFile"/>, <see cref="PasswordEnv"/>).
/// </summary>
public sealed record AlertChannelConfig(string Name, string Type)
{
    public const string Webhook = "webhook";
    public const string Smtp = "smtp";
    public const string Command = "command";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Per attempt (webhook, smtp) or for the whole run (command).</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    // webhook
    public Uri? Url { get; init; }
    /// <summary>File with the HMAC-SHA256 key; when set, each POST carries X-PgVault-Signature.</summary>
    public string? SecretFile { get; init; }
    /// <summary>Attempts after the first one (webhook, smtp).</summary>
    public int Retries { get; init; } = 3;
    /// <summary>Wait before the first retry; doubled for each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    // smtp
    public string? Host { get; init; }
    public int Port { get; init; } = 25;
    public bool StartTls { get; init; }
    public string? From { get; init; }
    public IReadOnlyList<string> To { get; init; } = [];
    public string? Username { get; init; }
    public string? PasswordFile { get; init; }
    public string? PasswordEnv { get; init; }

    // command
    public string? Path { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
}

/// <summary>
/// <c>clusters.NAME.catalog_table</c>: the seed's backup_log table, written after each backup,
/// verify and drill. <see cref="Schema"/>.<see cref="Table"/> defaults to pgvault.backup_log.
/// </summary>
public sealed record CatalogTableConfig(string Connection, string Schema, string Table)
{
    public string QualifiedName => $"{Schema}.{Table}";
}
