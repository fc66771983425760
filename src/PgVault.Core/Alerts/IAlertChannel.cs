namespace PgVault.Core.Alerts;

/// <summary>
/// Where alerts go. <see cref="SendAsync"/> delivers one alert or throws a
/// <see cref="Errors.PgVaultException"/> (<see cref="Errors.ErrorCode.AlertFailed"/>) that names the
/// channel and the cause; a channel retries on its own where that makes sense, never forever.
/// </summary>
public interface IAlertChannel
{
    /// <summary>The channel's name in the configuration (alerts.channels[i].name).</summary>
    string Name { get; }

    /// <summary>webhook, smtp or command.</summary>
    string Type { get; }

    Task SendAsync(Alert alert, CancellationToken ct);
}
