using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgVault.Core.Alerts;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// The channels against real receivers: an HTTP server (HttpListener), an SMTP sink (aiosmtpd writing
/// a Maildir), a program run by the command channel.
/// </summary>
public sealed class AlertChannelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-alertch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Alert Sample() => new("main", "task:backup", "critical", "backup failed (server-unreachable)", new DateTimeOffset(2026, 3, 1, 2, 0, 5, TimeSpan.Zero))
    {
        ErrorCode = "server-unreachable",
        Details = "unable to connect to 127.0.0.1:5432: connection refused",
    };

    private string SecretFile(string secret)
    {
        string file = Path.Combine(_dir, "hook.secret");
        File.WriteAllText(file, secret + "\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return file;
    }

    [Fact]
    public async Task Webhook_posts_the_alert_as_json_signed_with_hmac_and_retries_after_a_500()
    {
        using var receiver = new WebhookReceiver(500);
        var channel = AlertChannels.Create(new AlertChannelConfig("hook", AlertChannelConfig.Webhook)
        {
            Url = new Uri(receiver.Url),
            SecretFile = SecretFile("s3cr3t-key"),
            RetryDelay = TimeSpan.FromMilliseconds(100),
        });
        await channel.SendAsync(Sample(), CancellationToken.None);

        var requests = receiver.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Equal(requests[0].Body, requests[1].Body);
        var last = requests[1];
        Assert.Equal("POST", last.Method);
        Assert.StartsWith("application/json", last.Headers["Content-Type"]);
        var json = JsonDocument.Parse(last.Body).RootElement;
        Assert.Equal("main", json.GetProperty("cluster").GetString());
        Assert.Equal("task:backup", json.GetProperty("condition").GetString());
        Assert.Equal("critical", json.GetProperty("severity").GetString());
        Assert.Equal("server-unreachable", json.GetProperty("error_code").GetString());
        Assert.Equal("problem", json.GetProperty("kind").GetString());
        Assert.Equal("2026-03-01T02:00:05+00:00", json.GetProperty("time").GetString());
        string expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData("s3cr3t-key"u8.ToArray(), Encoding.UTF8.GetBytes(last.Body)));
        Assert.Equal(expected, last.Headers["X-PgVault-Signature"]);
    }

    [Fact]
    public async Task Webhook_gives_up_after_its_retries_and_names_the_status()
    {
        using var receiver = new WebhookReceiver(503, 503, 503);
        var channel = AlertChannels.Create(new AlertChannelConfig("hook", AlertChannelConfig.Webhook)
        {
            Url = new Uri(receiver.Url), Retries = 2, RetryDelay = TimeSpan.FromMilliseconds(50),
        });
        var e = await Assert.ThrowsAsync<PgVaultException>(() => channel.SendAsync(Sample(), CancellationToken.None));
        Assert.Equal(ErrorCode.AlertFailed, e.Code);
        Assert.Contains("answered 503", e.Message);
        Assert.Contains("after 3 attempts", e.Message);
        Assert.Equal(3, receiver.Requests.Count);
        Assert.False(receiver.Requests.First().Headers.ContainsKey("X-PgVault-Signature"));
    }

    [Fact]
    public async Task Webhook_does_not_retry_a_4xx()
    {
        using var receiver = new WebhookReceiver(404);
        var channel = AlertChannels.Create(new AlertChannelConfig("hook", AlertChannelConfig.Webhook) { Url = new Uri(receiver.Url), RetryDelay = TimeSpan.FromMilliseconds(50) });
        var e = await Assert.ThrowsAsync<PgVaultException>(() => channel.SendAsync(Sample(), CancellationToken.None));
        Assert.Contains("answered 404", e.Message);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task Smtp_delivers_a_readable_mail_to_a_real_smtp_sink()
    {
        int port = WebhookReceiver.FreePort();
        string maildir = Path.Combine(_dir, "mail");
        var psi = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", maildir }) psi.ArgumentList.Add(a);
        using var sink = Process.Start(psi)!;
        try
        {
            await WaitForPortAsync(port);
            var channel = AlertChannels.Create(new AlertChannelConfig("mail", AlertChannelConfig.Smtp)
            {
                Host = "127.0.0.1", Port = port, From = "pgvault@example.com", To = ["dba@example.com", "ops@example.com"],
            });
            await channel.SendAsync(Sample(), CancellationToken.None);

            string mail = await ReadSingleMailAsync(Path.Combine(maildir, "new"));
            Assert.Contains("Subject: [pgvault] CRITICAL main: backup failed (server-unreachable)", mail);
            Assert.Contains("From: pgvault@example.com", mail);
            Assert.Contains("To: dba@example.com, ops@example.com", mail);
            Assert.Contains("X-PgVault-Condition: task:backup", mail);
            Assert.Contains("error code:    server-unreachable", mail);
            Assert.Contains("time:          2026-03-01 02:00:05Z", mail);
            Assert.Contains("unable to connect to 127.0.0.1:5432: connection refused", mail);
        }
        finally
        {
            sink.Kill();
            await sink.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Smtp_that_requires_starttls_from_a_server_without_it_fails_clearly()
    {
        int port = WebhookReceiver.FreePort();
        var psi = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink" }) psi.ArgumentList.Add(a);
        using var sink = Process.Start(psi)!;
        try
        {
            await WaitForPortAsync(port);
            var channel = AlertChannels.Create(new AlertChannelConfig("mail", AlertChannelConfig.Smtp)
            {
                Host = "127.0.0.1", Port = port, StartTls = true, From = "pgvault@example.com", To = ["dba@example.com"], Retries = 0,
            });
            var e = await Assert.ThrowsAsync<PgVaultException>(() => channel.SendAsync(Sample(), CancellationToken.None));
            Assert.Equal(ErrorCode.AlertFailed, e.Code);
            Assert.Contains("alert channel 'mail'", e.Message);
        }
        finally
        {
            sink.Kill();
            await sink.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Command_gets_the_alert_in_its_environment_and_as_json_on_stdin_and_no_secret()
    {
        string script = Path.Combine(_dir, "hook.sh");
        File.WriteAllText(script, "#!/bin/sh\nenv > \"$1/env\"\ncat > \"$1/stdin\"\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Environment.SetEnvironmentVariable("PGVAULT_TEST_ALERT_SECRET", "do-not-leak");
        var channel = AlertChannels.Create(new AlertChannelConfig("page", AlertChannelConfig.Command) { Path = script, Args = [_dir] });
        await channel.SendAsync(Sample(), CancellationToken.None);

        var env = File.ReadAllLines(Path.Combine(_dir, "env"));
        Assert.Contains("PGVAULT_ALERT_CLUSTER=main", env);
        Assert.Contains("PGVAULT_ALERT_CONDITION=task:backup", env);
        Assert.Contains("PGVAULT_ALERT_SEVERITY=critical", env);
        Assert.Contains("PGVAULT_ALERT_ERROR_CODE=server-unreachable", env);
        Assert.Contains("PGVAULT_ALERT_TIME=2026-03-01T02:00:05Z", env);
        Assert.DoesNotContain(env, l => l.Contains("do-not-leak", StringComparison.Ordinal));
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "stdin"))).RootElement;
        Assert.Equal("backup failed (server-unreachable)", json.GetProperty("summary").GetString());
    }

    [Fact]
    public async Task Command_that_fails_or_hangs_is_reported_and_killed()
    {
        string script = Path.Combine(_dir, "bad.sh");
        File.WriteAllText(script, "#!/bin/sh\nif [ \"$1\" = hang ]; then exec sleep 30; fi\necho 'pager service down' >&2\nexit 4\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var failing = AlertChannels.Create(new AlertChannelConfig("page", AlertChannelConfig.Command) { Path = script });
        var e = await Assert.ThrowsAsync<PgVaultException>(() => failing.SendAsync(Sample(), CancellationToken.None));
        Assert.Contains("exit code 4): pager service down", e.Message);
        var hanging = AlertChannels.Create(new AlertChannelConfig("page", AlertChannelConfig.Command) { Path = script, Args = ["hang"], Timeout = TimeSpan.FromSeconds(1) });
        e = await Assert.ThrowsAsync<PgVaultException>(() => hanging.SendAsync(Sample(), CancellationToken.None));
        Assert.Contains("did not finish within", e.Message);
    }

    private static async Task WaitForPortAsync(int port)
    {
        for (int i = 0; i < 100; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new InvalidOperationException($"nothing listens on 127.0.0.1:{port}");
    }

    private static async Task<string> ReadSingleMailAsync(string dir)
    {
        for (int i = 0; i < 50; i++)
        {
            if (Directory.Exists(dir) && Directory.GetFiles(dir) is [var file]) return await File.ReadAllTextAsync(file);
            await Task.Delay(100);
        }
        throw new InvalidOperationException($"no mail arrived in {dir}");
    }
}
