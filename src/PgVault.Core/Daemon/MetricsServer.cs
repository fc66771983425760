using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PgVault.Core.Errors;

namespace PgVault.Core.Daemon;

/// <summary>
/// The daemon's HTTP side (Kestrel, slim builder, no routing tables: AOT-safe): <c>GET /healthz</c>
/// answers 200 "ok" while the scheduler takes tasks (503 otherwise), <c>GET /metrics</c> the
/// Prometheus text the given function renders, behind a Bearer token when one is configured.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    public const string MetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly WebApplication _app;

    private MetricsServer(WebApplication app) => _app = app;

    /// <param name="token">The Bearer token /metrics requires, or null for none.</param>
    public static async Task<MetricsServer> StartAsync(IPEndPoint endpoint, string? token, Func<bool> healthy, Func<CancellationToken, Task<string>> metrics, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Listen(endpoint);
        });
        var app = builder.Build();
        byte[]? expected = token is null ? null : Encoding.UTF8.GetBytes("Bearer " + token);
        app.Run(async context =>
        {
            var request = context.Request;
            var response = context.Response;
            if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
            {
                response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                return;
            }
            switch (request.Path.Value)
            {
                case "/healthz":
                    bool ok = healthy();
                    response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                    response.ContentType = "text/plain; charset=utf-8";
                    await response.WriteAsync(ok ? "ok\n" : "stopping\n", context.RequestAborted).ConfigureAwait(false);
                    return;
                case "/metrics":
                    if (expected != null && !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(request.Headers.Authorization.ToString()), expected))
                    {
                        response.StatusCode = StatusCodes.Status401Unauthorized;
                        response.Headers.WWWAuthenticate = "Bearer";
                        return;
                    }
                    string body = await metrics(context.RequestAborted).ConfigureAwait(false);
                    response.ContentType = MetricsContentType;
                    await response.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
                    return;
                default:
                    response.StatusCode = StatusCodes.Status404NotFound;
                    return;
            }
        });
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"unable to listen on {endpoint}: {e.Message}", "set daemon.listen to a free address:port");
        }
        return new MetricsServer(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
