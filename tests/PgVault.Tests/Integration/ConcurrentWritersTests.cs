using System.Text.Json;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>Concurrent writers of one cluster in separate processes, and a damaged manifest among intact ones (issue 9, items 8, 9, 11).</summary>
public sealed class ConcurrentWritersTests(ArchivingFixture db) : IClassFixture<ArchivingFixture>
{
    [Fact]
    public async Task ConcurrentPushesOfOneNameWithDifferentContent_AcceptExactlyOne()
    {
        string segment = await db.SwitchWalAsync();
        await db.WaitArchivedAsync(segment);
        string dir = Directory.CreateTempSubdirectory("pgvault-race-").FullName;
        try
        {
            string a = Path.Combine(dir, "a", segment), b = Path.Combine(dir, "b", segment);
            Directory.CreateDirectory(Path.GetDirectoryName(a)!);
            Directory.CreateDirectory(Path.GetDirectoryName(b)!);
            Assert.Equal(0, (await db.RunAsync("archive-get", segment, a)).ExitCode);
            byte[] other = File.ReadAllBytes(a);
            other[10_000] ^= 0xFF; // same header (same name, same system), different content
            File.WriteAllBytes(b, other);
            string repo = Path.Combine(dir, "repo");
            Directory.CreateDirectory(repo);
            Assert.Equal(0, (await PgVaultCli.RunAsync(["--repo-path", repo, "repo", "init"])).ExitCode);
            for (int round = 0; round < 3; round++)
            {
                string cluster = $"race{round}";
                var results = await Task.WhenAll(
                    PgVaultCli.RunAsync(["--repo-path", repo, "--cluster", cluster, "archive-push", a]),
                    PgVaultCli.RunAsync(["--repo-path", repo, "--cluster", cluster, "archive-push", b]));

                Assert.True(results.Count(r => r.ExitCode == 0) == 1, string.Join("\n", results.Select(r => r.ToString())));
                var refused = results.Single(r => r.ExitCode != 0);
                Assert.Equal(1, refused.ExitCode);
                Assert.Contains($"WAL file {segment} is already", refused.Stderr, StringComparison.Ordinal);
                Assert.Contains("different content", refused.Stderr, StringComparison.Ordinal);
                var stored = Directory.GetFiles(Path.Combine(repo, "clusters", cluster, "wal"), $"{segment}-*", SearchOption.AllDirectories);
                Assert.Single(stored);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ConcurrentBackupsOfOneCluster_AllCompleteWithDistinctIdsAndRestore()
    {
        const int Backups = 4;
        var before = ListIds(await db.RunAsync("list", "--output", "json"));

        var results = await Task.WhenAll(Enumerable.Range(0, Backups).Select(_ => db.RunAsync("backup", "--type", "logical", "--db", "postgres")));

        foreach (var r in results) Assert.True(r.ExitCode == 0, r.ToString());
        var created = ListIds(await db.RunAsync("list", "--output", "json")).Except(before).ToList();
        Assert.Equal(Backups, created.Count);
        Assert.Equal(Backups, created.Distinct().Count());
        foreach (var id in created.Take(2))
        {
            var restore = await db.RunAsync("restore", "--backup", id, "--db", $"conc_{id[..15].ToLowerInvariant()}");
            Assert.True(restore.ExitCode == 0, restore.ToString());
        }
    }

    private static List<string> ListIds(CliResult list)
    {
        Assert.True(list.ExitCode == 0, list.ToString());
        return JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
    }

    [Fact]
    public async Task DamagedOldestManifest_DoesNotHideTheOtherBackups()
    {
        var first = await db.RunAsync("backup", "--type", "logical", "--db", "postgres", "--output", "json");
        Assert.True(first.ExitCode == 0, first.ToString());
        var second = await db.RunAsync("backup", "--type", "logical", "--db", "postgres", "--output", "json");
        Assert.True(second.ExitCode == 0, second.ToString());
        var list = await db.RunAsync("list", "--output", "json");
        var ids = JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
        string oldest = ids[0], newest = ids[^1];
        string manifest = Path.Combine(db.RepoPath, "clusters", "main", "backups", oldest, "manifest.json");
        byte[] original = File.ReadAllBytes(manifest);
        try
        {
            byte[] damaged = (byte[])original.Clone();
            damaged[damaged.Length / 2] ^= 0x01;
            File.WriteAllBytes(manifest, damaged);

            var after = await db.RunAsync("list", "--output", "json");
            Assert.True(after.ExitCode == 0, after.ToString());
            var listed = JsonDocument.Parse(after.Stdout).RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
            Assert.DoesNotContain(oldest, listed);
            Assert.Contains(newest, listed);
            Assert.Contains($"skipping backup {oldest}", after.Stderr, StringComparison.Ordinal);

            var info = await db.RunAsync("info", "latest", "--output", "json");
            Assert.True(info.ExitCode == 0, info.ToString());
            Assert.Contains(newest, info.Stdout, StringComparison.Ordinal);
            Assert.Contains($"skipping backup {oldest}", info.Stderr, StringComparison.Ordinal);

            var restore = await db.RunAsync("restore", "--backup", "latest", "--db", $"restored_latest_{Guid.NewGuid():N}"[..30]);
            Assert.True(restore.ExitCode == 0, restore.ToString());
            Assert.Contains($"skipping backup {oldest}", restore.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.WriteAllBytes(manifest, original);
        }
    }
}
