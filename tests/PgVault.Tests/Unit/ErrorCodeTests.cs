using PgVault.Core.Errors;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>The error codes are a public contract: documented, unique, and printed as JSON.</summary>
public sealed class ErrorCodeTests
{
    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PgVault.sln"))) return dir.FullName;
        throw new InvalidOperationException("PgVault.sln not found above the test binaries");
    }

    [Fact]
    public void EveryCode_IsDocumentedWithItsExitCode()
    {
        string doc = File.ReadAllText(Path.Combine(Root(), "docs", "errors.md"));
        foreach (var code in Enum.GetValues<ErrorCode>())
            Assert.Contains($"| `{code.WireName()}` | {(int)code.Kind()} |", doc, StringComparison.Ordinal);
    }

    [Fact]
    public void WireNames_AreUniqueKebabCase()
    {
        var names = Enum.GetValues<ErrorCode>().Select(c => c.WireName()).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.All(names, n => Assert.Matches("^[a-z]+(-[a-z]+)*$", n));
    }

    [Fact]
    public void ExitCode_DerivesFromTheCode()
    {
        Assert.Equal(2, PgVaultException.Usage("bad flag").ExitCode);
        Assert.Equal(ErrorCode.ObjectCorrupt, PgVaultException.Corrupt("k", "bad").Code);
        Assert.Equal(1, new PgVaultException(ErrorCode.ServerRefused, "standby").ExitCode);
        Assert.Equal(2, new PgVaultException(ErrorCode.ConfigInvalid, "bad key").ExitCode);
    }

    [Fact]
    public async Task JsonOutput_PrintsTheErrorObjectOnStdout()
    {
        var result = await PgVaultCli.RunAsync(["--config", "/nonexistent/pgvault.yaml", "list", "--output", "json"]);
        Assert.True(result.ExitCode == 2, result.ToString());
        var error = result.Json.GetProperty("error");
        Assert.Equal("config-invalid", error.GetProperty("code").GetString());
        Assert.StartsWith("unable to read config '/nonexistent/pgvault.yaml'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("pass --config FILE or set PGVAULT_CONFIG", error.GetProperty("hint").GetString());
        Assert.Contains("pgvault: error: unable to read config", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonOutput_ParserErrorIsUsageAndTextModeLeavesStdoutEmpty()
    {
        var parser = await PgVaultCli.RunAsync(["list", "--output", "json", "--no-such-flag"]);
        Assert.True(parser.ExitCode == 2, parser.ToString());
        Assert.Equal("usage", parser.Json.GetProperty("error").GetProperty("code").GetString());

        var missing = Path.Combine(Path.GetTempPath(), "pgvault-no-repo-" + Guid.NewGuid().ToString("N"));
        var json = await PgVaultCli.RunAsync(["--repo-path", missing, "list", "--output", "json"]);
        Assert.True(json.ExitCode == 1, json.ToString());
        Assert.Equal("repository-unreachable", json.Json.GetProperty("error").GetProperty("code").GetString());

        var text = await PgVaultCli.RunAsync(["--repo-path", missing, "list"]);
        Assert.True(text.ExitCode == 1, text.ToString());
        Assert.Equal("", text.Stdout.Trim());
    }
}
