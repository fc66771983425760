using System.Globalization;
using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using PgVault.Core.Config;

namespace PgVault.Core.Alerts;

/// <summary>
/// Mails the alert (MailKit): subject "[pgvault] SEVERITY cluster: summary", a plain text body with
/// every field. <c>starttls: true</c> requires STARTTLS before anything else is sent (port 465
/// means TLS from the first byte); the password is read from <c>password_file</c> or
/// <c>password_env</c> at each send. Connection failures are retried like the webhook's.
/// </summary>
internal sealed class SmtpChannel(AlertChannelConfig config) : IAlertChannel
{
    public string Name => config.Name;

    public string Type => AlertChannelConfig.Smtp;

    public async Task SendAsync(Alert alert, CancellationToken ct)
    {
        var message = Compose(alert);
        string? password = config.Username is null ? null : AlertChannels.ReadSecret(Name, config.PasswordFile, config.PasswordEnv);
        var delay = config.RetryDelay;
        for (int attempt = 0; ; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(config.Timeout);
            string failure;
            bool retry = true;
            try
            {
                using var client = new SmtpClient { Timeout = (int)config.Timeout.TotalMilliseconds };
                var security = config.StartTls ? SecureSocketOptions.StartTls
                    : config.Port == 465 ? SecureSocketOptions.SslOnConnect
                    : SecureSocketOptions.None;
                await client.ConnectAsync(config.Host!, config.Port, security, timeout.Token).ConfigureAwait(false);
                if (password is not null) await client.AuthenticateAsync(config.Username!, password, timeout.Token).ConfigureAwait(false);
                await client.SendAsync(message, timeout.Token).ConfigureAwait(false);
                await client.DisconnectAsync(true, timeout.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                failure = $"{config.Host}:{config.Port} did not answer within {Units.Duration(config.Timeout.TotalSeconds)}";
            }
            catch (AuthenticationException e)
            {
                failure = $"{config.Host}:{config.Port} refused the login of '{config.Username}': {e.Message}";
                retry = false;
            }
            catch (SmtpCommandException e)
            {
                failure = $"{config.Host}:{config.Port} refused the mail ({(int)e.StatusCode}): {e.Message}";
                retry = (int)e.StatusCode >= 400 && (int)e.StatusCode < 500;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or SmtpProtocolException or SslHandshakeException or NotSupportedException)
            {
                failure = $"unable to send mail through {config.Host}:{config.Port}: {e.Message}";
                retry = e is not NotSupportedException;
            }
            if (!retry || attempt >= config.Retries) throw AlertChannels.Failed(Name, failure, null);
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay *= 2;
        }
    }

    internal MimeMessage Compose(Alert alert)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(config.From!));
        foreach (var to in config.To) message.To.Add(MailboxAddress.Parse(to));
        message.Subject = alert.Subject;
        message.Date = alert.Time;
        message.Headers.Add("X-PgVault-Condition", alert.Condition);
        message.Body = new TextPart("plain") { Text = Body(alert) };
        return message;
    }

    /// <summary>The readable body: one "field: value" line each, then the details.</summary>
    internal static string Body(Alert alert)
    {
        var sb = new StringBuilder();
        sb.Append(alert.Summary).Append("\n\n");
        void Field(string name, string? value)
        {
            if (value is not null) sb.Append(name.PadRight(15)).Append(value).Append('\n');
        }
        Field("cluster:", alert.Cluster);
        Field("condition:", alert.Condition);
        Field("severity:", alert.Severity);
        Field("previous:", alert.PreviousSeverity);
        Field("kind:", alert.Kind);
        Field("error code:", alert.ErrorCode);
        Field("time:", alert.Time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        Field("host:", alert.Host);
        if (alert.Details is { } details) sb.Append("\ndetails:\n").Append(details).Append('\n');
        sb.Append("\n-- \nsent by pgvault; 'pgvault status' shows the current state\n");
        return sb.ToString();
    }
}
