using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>`pgvault demo` is the README's first command: it must run the whole job and verify it.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_runs_the_whole_job_on_a_sandbox_and_verifies_both_restores()
    {
        var result = await PgVaultCli.RunAsync(["demo", "--rows", "2000"], timeoutSeconds: 240);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("pg_dump of the restore is identical to pg_dump of the original", result.Stdout);
        Assert.Contains("physical full backup", result.Stdout);
        Assert.Contains("has all 2100 orders: the mistake is undone", result.Stdout);
    }
}
