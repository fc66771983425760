using PgVault.Core.Config;
using PgVault.Core.Errors;

namespace PgVault.Core.Alerts;

/// <summary>Builds the channels of <c>alerts.channels</c>, and reads their secrets when they send.</summary>
public static class AlertChannels
{
    public static IReadOnlyList<IAlertChannel> Create(AlertDeliveryConfig config) =>
        config.Channels.Select(Create).ToList();

    public static IAlertChannel Create(AlertChannelConfig config) => config.Type switch
    {
        AlertChannelConfig.Webhook => new WebhookChannel(config),
        AlertChannelConfig.Smtp => new SmtpChannel(config),
        AlertChannelConfig.Command => new CommandChannel(config),
        _ => throw new PgVaultException(ErrorCode.ConfigInvalid, $"alert channel '{config.Name}': type '{config.Type}' is not supported"),
    };

    /// <summary>
    /// A secret from a file (read at each send, so a rotated secret needs no restart; the file must
    /// be private like the passphrase file) or an environment variable (never passed to a child).
    /// </summary>
    internal static string ReadSecret(string channel, string? file, string? env)
    {
        if (file is not null)
        {
            try
            {
                string value = File.ReadAllText(file).TrimEnd('\r', '\n');
                FilePermissions.CheckPassphraseFile(file);
                if (value.Length == 0) throw Failed(channel, $"secret file '{file}' is empty", null);
                return value;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Failed(channel, $"unable to read secret file '{file}': {e.Message}", null);
            }
        }
        PostgreSql.ChildEnvironment.MarkSecret(env);
        return Environment.GetEnvironmentVariable(env!) is { Length: > 0 } fromEnv
            ? fromEnv
            : throw Failed(channel, $"environment variable '{env}' is not set", null);
    }

    internal static PgVaultException Failed(string channel, string what, Exception? inner) =>
        new(ErrorCode.AlertFailed, $"alert channel '{channel}': {what}", "check alerts.channels in the configuration, then run 'pgvault alert test'", inner: inner);
}
