using System.Diagnostics;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>contrib/prometheus/pgvault-alerts.yml checked and unit-tested by the real promtool (Debian's prometheus package).</summary>
public sealed class PrometheusRulesTests
{
    private const string Promtool = "/usr/bin/promtool";

    private static readonly string Dir = Path.Combine(FindRoot(), "contrib", "prometheus");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "PgVault.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PgVault.sln not found above the test binaries");
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(Promtool) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Shipped_rules_pass_promtool_check_rules()
    {
        var (code, output) = await RunAsync("check", "rules", "pgvault-alerts.yml");
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 10 rules found", output);
    }

    [Fact]
    public async Task Each_shipped_alert_fires_and_stays_quiet_in_promtool_test_rules()
    {
        var (code, output) = await RunAsync("test", "rules", "pgvault-alerts.test.yml");
        Assert.True(code == 0, output);
        // Every alert of the rules file is exercised by the test file.
        string tests = await File.ReadAllTextAsync(Path.Combine(Dir, "pgvault-alerts.test.yml"));
        foreach (var line in File.ReadLines(Path.Combine(Dir, "pgvault-alerts.yml")).Where(l => l.TrimStart().StartsWith("- alert: ", StringComparison.Ordinal)))
        {
            string name = line.Trim()["- alert: ".Length..];
            Assert.Contains($"alertname: {name}\n        exp_alerts:\n          - exp_labels", tests);
            Assert.Contains($"alertname: {name}\n        exp_alerts: []", tests);
        }
    }
}
