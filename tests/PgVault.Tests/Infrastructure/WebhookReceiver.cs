using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgVault.Tests.Infrastructure;

/// <summary>One request the receiver got: its body and headers.</summary>
public sealed record ReceivedRequest(string Method, string Body, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// A real HTTP server (HttpListener on 127.0.0.1, a free port) that records every request and answers
/// with the next scripted status (then 200).
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<int> _statuses;
    private readonly Task _loop;

    public WebhookReceiver(params int[] statuses)
    {
        _statuses = new ConcurrentQueue<int>(statuses);
        Port = FreePort();
        Url = $"http://127.0.0.1:{Port}/hook";
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url { get; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            string body = await reader.ReadToEndAsync();
            var headers = context.Request.Headers.AllKeys.Where(k => k != null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            Requests.Enqueue(new ReceivedRequest(context.Request.HttpMethod, body, headers));
            context.Response.StatusCode = _statuses.TryDequeue(out int status) ? status : 200;
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        // Close only: the managed HttpListener's Stop followed by Close removes its endpoint twice, and the
        // second removal binds the port again to find it, which fails with "Address already in use" when
        // another test's server took the freed port in between.
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
