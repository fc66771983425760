using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>`pgvault report` on the drill cluster: objectives met after a drill and a verify, and missed when they are tighter than what was measured.</summary>
public sealed partial class DrillTests
{
    private string ConfigWithObjectives(string objectives)
    {
        string path = Path.Combine(fixture.Root, $"objectives-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, File.ReadAllText(fixture.ConfigFile) + $"    objectives: {objectives}\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        return path;
    }

    [Fact]
    public async Task Report_measures_rpo_and_rto_and_judges_each_objective()
    {
        var drill = await fixture.RunAsync("drill", "--backup", fixture.LogicalBackup, "--output", "json");
        Assert.True(drill.ExitCode == 0, drill.ToString());
        var verify = await fixture.RunAsync("verify", "--output", "json");
        output.WriteLine(verify.ToString());

        string met = ConfigWithObjectives("{rpo: 1d, rto: 1h, drill_max_age: 1d}");
        var report = await PgVaultCli.RunAsync(["--config", met, "report", "--output", "json"]);
        output.WriteLine(report.ToString());
        Assert.True(report.ExitCode == 0, report.ToString());
        var json = report.Json;
        Assert.True(json.GetProperty("current_rpo_seconds").GetDouble() >= 0);
        Assert.StartsWith("00000001", json.GetProperty("newest_wal").GetString());
        Assert.True(json.GetProperty("rto_estimate_seconds").GetDouble() > 0);
        Assert.NotEqual(System.Text.Json.JsonValueKind.Null, json.GetProperty("recoverable_from").ValueKind);
        var verdicts = json.GetProperty("objectives").EnumerateArray().ToList();
        Assert.Equal(["rpo", "rto", "drill_max_age"], verdicts.Select(v => v.GetProperty("objective").GetString()));
        Assert.All(verdicts, v => Assert.True(v.GetProperty("pass").GetBoolean(), v.ToString()));
        if (verify.ExitCode == 0) Assert.Equal(System.Text.Json.JsonValueKind.True, json.GetProperty("last_verify").GetProperty("valid").ValueKind);

        // The newest archived segment is older than a second and every drill took longer than one.
        await Task.Delay(1100);
        string missed = ConfigWithObjectives("{rpo: 1s, rto: 1s, drill_max_age: 1d}");
        var failing = await PgVaultCli.RunAsync(["--config", missed, "report"]);
        output.WriteLine(failing.ToString());
        Assert.Equal(1, failing.ExitCode);
        Assert.Contains("FAIL rpo", failing.Stdout);
        Assert.Contains("FAIL rto", failing.Stdout);
        Assert.Contains("PASS drill_max_age", failing.Stdout);
        Assert.Contains("objective rpo (1s) missed", failing.Stderr);
        Assert.Contains("objective rto (1s) missed", failing.Stderr);
    }
}
