using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PgVault.Core.Config;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Alerts;

/// <summary>
/// Runs a program for each alert: <c>path</c> with <c>args</c> as an argument list (no shell), the
/// alert in PGVAULT_ALERT_* environment variables and as JSON on stdin. The environment is
/// <see cref="ChildEnvironment"/>'s allow-list (no passphrase, no PGPASSWORD, no S3 or SMTP secret)
/// plus those variables. Exit 0 is delivered; another exit or running past <c>timeout</c> (the
/// program is then killed) fails with the program's last line on stderr.
/// </summary>
internal sealed class CommandChannel(AlertChannelConfig config) : IAlertChannel
{
    public string Name => config.Name;

    public string Type => AlertChannelConfig.Command;

    public async Task SendAsync(Alert alert, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(config.Path!)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        foreach (var arg in config.Args) psi.ArgumentList.Add(arg);
        ChildEnvironment.Apply(psi, Variables(alert));
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw AlertChannels.Failed(Name, $"unable to start {config.Path}", null);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw AlertChannels.Failed(Name, $"unable to start {config.Path}: {e.Message}", e);
        }
        using (process)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(config.Timeout);
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                try
                {
                    await JsonSerializer.SerializeAsync(process.StandardInput.BaseStream, alert, AlertJson.Default.Alert, timeout.Token).ConfigureAwait(false);
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                    // The program need not read its stdin: its exit status decides.
                }
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                if (ct.IsCancellationRequested) throw;
                throw AlertChannels.Failed(Name, $"{config.Path} did not finish within {Units.Duration(config.Timeout.TotalSeconds)} and was killed", null);
            }
            if (process.ExitCode != 0)
            {
                string last = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no message";
                throw AlertChannels.Failed(Name, $"{config.Path} failed (exit code {process.ExitCode}): {last}", null);
            }
        }
    }

    /// <summary>PGVAULT_ALERT_CLUSTER, _CONDITION, _SEVERITY, _PREVIOUS_SEVERITY, _KIND, _ERROR_CODE, _SUMMARY, _DETAILS, _TIME, _HOST.</summary>
    internal static Dictionary<string, string> Variables(Alert alert)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PGVAULT_ALERT_CLUSTER"] = alert.Cluster,
            ["PGVAULT_ALERT_CONDITION"] = alert.Condition,
            ["PGVAULT_ALERT_SEVERITY"] = alert.Severity,
            ["PGVAULT_ALERT_KIND"] = alert.Kind,
            ["PGVAULT_ALERT_SUMMARY"] = alert.Summary,
            ["PGVAULT_ALERT_TIME"] = alert.Time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["PGVAULT_ALERT_HOST"] = alert.Host,
        };
        if (alert.PreviousSeverity is { } previous) env["PGVAULT_ALERT_PREVIOUS_SEVERITY"] = previous;
        if (alert.ErrorCode is { } code) env["PGVAULT_ALERT_ERROR_CODE"] = code;
        if (alert.Details is { } details) env["PGVAULT_ALERT_DETAILS"] = details;
        return env;
    }
}
