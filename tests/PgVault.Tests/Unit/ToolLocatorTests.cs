using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>Finding pg_dump and friends: a prefetch runs each probe once, and Find still decides.</summary>
public sealed class ToolLocatorTests : IDisposable
{
    private readonly string _bin = Directory.CreateTempSubdirectory("pgvault-tools-").FullName;

    public void Dispose() => Directory.Delete(_bin, recursive: true);

    /// <summary>A fake program that prints a PostgreSQL version and counts its runs in a file.</summary>
    private string Fake(string name, int major)
    {
        string path = Path.Combine(_bin, name);
        File.WriteAllText(path, $"#!/bin/sh\necho x >> '{path}.runs'\necho '{name} (PostgreSQL) {major}.4'\n");
        File.SetUnixFileMode(path, (UnixFileMode)0x1ed); // 0755
        return path;
    }

    private int Runs(string path) => File.Exists(path + ".runs") ? File.ReadAllLines(path + ".runs").Length : 0;

    [Fact]
    public async Task A_prefetched_tool_is_probed_once_and_found_without_another_run()
    {
        string pgDump = Fake("pg_dump", 15);
        var tools = new ToolLocator(_bin);
        tools.Prefetch("pg_dump", "pg_restore"); // pg_restore is missing: the prefetch says nothing
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Runs(pgDump) == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(1, Runs(pgDump)); // probed by the prefetch, before any Find

        var found = tools.Find("pg_dump", 15);

        Assert.Equal(pgDump, found.Path);
        Assert.Equal(15, found.Major);
        Assert.Equal(1, Runs(pgDump));
        Assert.Same(found, tools.Find("pg_dump", 14));
        Assert.Equal(1, Runs(pgDump));
    }

    [Fact]
    public void Find_after_a_prefetch_still_refuses_a_missing_or_too_old_tool()
    {
        Fake("pg_dump", 14);
        var tools = new ToolLocator(_bin);
        tools.Prefetch("pg_dump", "psql");

        var old = Assert.Throws<PgVaultException>(() => tools.Find("pg_dump", 15));
        var missing = Assert.Throws<PgVaultException>(() => tools.Find("psql", 15));

        Assert.Equal(ErrorCode.ToolMissing, old.Code);
        Assert.Equal(ErrorCode.ToolMissing, missing.Code);
        Assert.Contains(_bin, missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_finds_share_one_probe()
    {
        string pgDump = Fake("pg_dump", 15);
        var tools = new ToolLocator(_bin);

        var found = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => tools.Find("pg_dump", 15))));

        Assert.All(found, f => Assert.Same(found[0], f));
        Assert.Equal(1, Runs(pgDump));
    }
}
