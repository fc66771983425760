using PgVault.Tests.Infrastructure;
using PgVault.Tests.Integration;
using Xunit;

namespace PgVault.Tests.Storage;

/// <summary>
/// backup -> restore -> query through an S3 repository (s3rver): the CLI, the repository layout and
/// the pipeline work unchanged on object storage, and the restored database dumps to its source.
/// </summary>
public sealed class S3RoundTripTests(AllObjectsFixture db, S3ServerFixture s3) : IClassFixture<AllObjectsFixture>, IClassFixture<S3ServerFixture>
{
    [Theory]
    [InlineData("custom", false)]
    [InlineData("directory", true)]
    public async Task Backup_to_s3_restores_to_the_same_database(string format, bool encrypted)
    {
        string prefix = $"roundtrip/{format}-{Guid.NewGuid():N}";
        using var ws = new Workspace(db, encrypted, extraRepositoriesYaml: S3Yaml.Repository(s3, "offsite", prefix));

        await ws.OkAsync("--repo", "offsite", "repo", "init");
        var backup = await ws.OkAsync(["--repo", "offsite", "backup", "--db", AllObjectsFixture.Source, "--format", format, "--output", "json"]);
        string id = backup.Json.GetProperty("id").GetString()!;
        var list = await ws.OkAsync("--repo", "offsite", "list", "--output", "json");
        Assert.Contains(id, list.Stdout, StringComparison.Ordinal);

        string target = $"s3rt_{format}";
        await ws.OkAsync("--repo", "offsite", "restore", "--backup", id, "--db", target);

        Assert.Equal(db.SourceDump, await db.DumpTextAsync(target));
        Assert.Empty(ws.BackupFiles()); // nothing went to the filesystem repository
        await using var store = s3.OpenStore("check", prefix);
        var keys = new List<string>();
        await foreach (var info in store.ListAsync("clusters/", CancellationToken.None)) keys.Add(info.Key);
        Assert.Contains(keys, k => k.Contains(id, StringComparison.Ordinal));
        Assert.Empty(await store.ListUnfinishedUploadsAsync(CancellationToken.None));
    }
}
