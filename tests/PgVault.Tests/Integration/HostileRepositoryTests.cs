using System.Text.Json.Nodes;
using PgVault.Core.Repository;
using PgVault.Tests.Infrastructure;
using PgVault.Tests.Unit;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// Attacks by someone who can write to the repository's storage, run through the real CLI against
/// a real cluster (issue 9 items 3 and 4): no downgrade to plaintext, no swapped objects accepted.
/// </summary>
public sealed class HostileRepositoryTests(PasswordClusterFixture db) : IClassFixture<PasswordClusterFixture>
{
    private static void TamperDescriptor(Workspace ws, Action<JsonObject> edit)
    {
        string path = Path.Combine(ws.RepoPath, RepositoryLayout.Descriptor);
        var (body, _) = ChecksummedJson.Split(File.ReadAllBytes(path), RepositoryLayout.Descriptor);
        var json = JsonNode.Parse(body)!.AsObject();
        edit(json);
        File.WriteAllBytes(path, ChecksummedJson.Serialize(json, TamperJson.Default.JsonObject));
    }

    [Fact]
    public async Task EncryptionDowngrade_TamperedDescriptor_RefusesToWritePlaintext()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        await ws.BackupAsync("--db", "app");
        var before = ws.BackupFiles();
        TamperDescriptor(ws, json => json.Remove("encryption"));

        var backup = await ws.RunAsync("backup", "--db", "app");
        var list = await ws.RunAsync("list");

        Assert.True(backup.ExitCode == 1, backup.ToString());
        Assert.Contains("is not encrypted, but the configuration has a passphrase", backup.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", backup.Stderr, StringComparison.Ordinal);
        Assert.Equal(before.Order(), ws.BackupFiles().Order());
        Assert.NotEqual(0, list.ExitCode);
    }

    [Fact]
    public async Task SwappedEncryptedObjects_OfTwoBackups_RestoreFailsNamingTheObject()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        string first = await ws.BackupAsync("--db", "app");
        string second = await ws.BackupAsync("--db", "app", "--table", "t");
        string dirA = Path.Combine(ws.RepoPath, "clusters", "main", "backups", first);
        string dirB = Path.Combine(ws.RepoPath, "clusters", "main", "backups", second);
        string name = Directory.GetFiles(dirA, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dirA, f))
            .First(f => f != "manifest.json" && File.Exists(Path.Combine(dirB, f)));
        // The attacker puts the second backup's (encrypted, authentic) dump in place of the first's.
        File.Copy(Path.Combine(dirB, name), Path.Combine(dirA, name), overwrite: true);

        var restore = await ws.RunAsync("restore", "--backup", first, "--source-db", "app", "--db", "app_swapped");

        Assert.True(restore.ExitCode == 1, restore.ToString());
        Assert.Contains($"corrupt object 'clusters/main/backups/{first}/{name}'", restore.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", restore.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnencryptedRepository_NextToAnEncryptedOne_NeedsAnExplicitOptOut()
    {
        using var ws = new Workspace(db, encrypted: true, extraRepositoriesYaml: "  - name: plain\n    path: $ROOT/plain\n    encrypted: false\n");
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "app");

        var info = await ws.OkAsync("info", id, "--repo", "plain", "--output", "json");
        Assert.False(info.Json.GetProperty("encrypted").GetBoolean());
        Assert.Contains("\"encryption\"", File.ReadAllText(Path.Combine(ws.RepoPath, RepositoryLayout.Descriptor)), StringComparison.Ordinal);
        Assert.DoesNotContain("\"encryption\"", File.ReadAllText(Path.Combine(ws.Root, "plain", RepositoryLayout.Descriptor)), StringComparison.Ordinal);
        await ws.OkAsync("restore", "--backup", id, "--repo", "plain", "--source-db", "app", "--db", "app_from_plain");
        Assert.Equal(5000L, await db.ScalarAsync<long>("app_from_plain", "SELECT count(*) FROM t"));
    }
}
