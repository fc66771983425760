using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgVault.Core.Config;

namespace PgVault.Core.Alerts;

/// <summary>
/// POSTs the alert as JSON (<see cref="Alert"/>, snake_case). With <c>secret_file</c>, the header
/// <c>X-PgVault-Signature: sha256=HEX</c> carries HMAC-SHA256(secret, body) so the receiver can
/// check the sender. A network error, a timeout, 429 or a 5xx is retried (<c>retries</c> times, the
/// wait doubling from <c>retry_delay</c>); another status fails at once.
/// </summary>
internal sealed class WebhookChannel(AlertChannelConfig config) : IAlertChannel
{
    public const string SignatureHeader = "X-PgVault-Signature";

    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public string Name => config.Name;

    public string Type => AlertChannelConfig.Webhook;

    public async Task SendAsync(Alert alert, CancellationToken ct)
    {
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(alert, AlertJson.Default.Alert);
        string? signature = config.SecretFile is { } file ? Sign(AlertChannels.ReadSecret(Name, file, null), body) : null;
        var delay = config.RetryDelay;
        for (int attempt = 0; ; attempt++)
        {
            string failure;
            using var request = new HttpRequestMessage(HttpMethod.Post, config.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Headers.UserAgent.Add(new ProductInfoHeaderValue("pgvault", VersionInfo.Version));
            // A connection of its own per alert: alerts are rare, and a pooled connection the receiver
            // closed while idle fails the POST (seen in CI: a recovery alert lost 15 s after the last one).
            request.Headers.ConnectionClose = true;
            if (signature is not null) request.Headers.Add(SignatureHeader, signature);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(config.Timeout);
            try
            {
                using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
                failure = $"{config.Url} answered {(int)response.StatusCode} {response.ReasonPhrase}";
                if ((int)response.StatusCode < 500 && response.StatusCode != HttpStatusCode.TooManyRequests)
                    throw AlertChannels.Failed(Name, failure, null);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                failure = $"{config.Url} did not answer within {Units.Duration(config.Timeout.TotalSeconds)}";
            }
            catch (HttpRequestException e)
            {
                failure = $"POST {config.Url} failed: {e.Message}";
            }
            if (attempt >= config.Retries) throw AlertChannels.Failed(Name, failure + (attempt > 0 ? $" (after {attempt + 1} attempts)" : ""), null);
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay *= 2;
        }
    }

    /// <summary>"sha256=" + the lowercase hex HMAC-SHA256 of <paramref name="body"/> under <paramref name="secret"/>.</summary>
    internal static string Sign(string secret, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
}
