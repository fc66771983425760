using PgVault.Tests.Infrastructure;
using PgVault.Tests.Integration;
using Xunit;

namespace PgVault.Tests.Storage;

internal static class S3Yaml
{
    public static string Repository(S3ServerFixture s3, string name, string prefix) => $"""
          - name: {name}
            type: s3
            endpoint: {s3.Endpoint}
            bucket: {S3ServerFixture.Bucket}
            prefix: {prefix}
            path_style: true
            access_key_id_env: {S3ServerFixture.AccessKeyVariable}
            secret_access_key_env: {S3ServerFixture.SecretKeyVariable}
            part_size_mb: 5

        """;
}

/// <summary>A filesystem + S3 pair: both receive the backup; losing the filesystem one loses nothing.</summary>
public sealed class S3PairTests(AllObjectsFixture db, S3ServerFixture s3) : IClassFixture<AllObjectsFixture>, IClassFixture<S3ServerFixture>
{
    [Fact]
    public async Task Filesystem_and_s3_pair_restores_from_s3_after_the_filesystem_repository_is_deleted()
    {
        using var ws = new Workspace(db, encrypted: true, extraRepositoriesYaml: S3Yaml.Repository(s3, "offsite", $"pair/{Guid.NewGuid():N}"));
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", AllObjectsFixture.Source);
        var list = await ws.OkAsync("list", "--output", "json");
        Assert.Equal(["local", "offsite"], list.Json[0].GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!).ToArray());

        Directory.Delete(ws.RepoPath, recursive: true);
        var restore = await ws.OkAsync("restore", "--backup", id, "--db", "from_offsite");
        Assert.Contains("repository 'local' is not usable", restore.Stderr, StringComparison.Ordinal);
        Assert.Equal(db.SourceDump, await db.DumpTextAsync("from_offsite"));

        // The filesystem repository is recreated and filled again from S3.
        Directory.CreateDirectory(ws.RepoPath);
        await ws.OkAsync("--repo", "local", "repo", "init");
        var sync = await ws.OkAsync("repo", "sync", "--to", "local", "--output", "json");
        Assert.Equal(id, sync.Json[0].GetProperty("id").GetString());
        await ws.OkAsync("restore", "--backup", id, "--db", "from_local_again", "--repo", "local");
        Assert.Equal(db.SourceDump, await db.DumpTextAsync("from_local_again"));
    }

    [Fact]
    public async Task Wal_is_archived_into_both_and_read_back_from_s3_when_the_filesystem_copy_is_damaged()
    {
        using var ws = new Workspace(db, extraRepositoriesYaml: S3Yaml.Repository(s3, "offsite", $"walpair/{Guid.NewGuid():N}"));
        await ws.InitAsync();
        string segment = await db.ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
        string copy = Path.Combine(ws.Root, segment);
        File.Copy(Path.Combine(db.Cluster.DataDir, "pg_wal", segment), copy);
        await ws.OkAsync("archive-push", copy);

        string stored = Directory.GetFiles(Path.Combine(ws.RepoPath, "clusters"), $"{segment}-*", SearchOption.AllDirectories).Single();
        byte[] bytes = File.ReadAllBytes(stored);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(stored, bytes);

        string fetched = Path.Combine(ws.Root, "fetched");
        var get = await ws.OkAsync("archive-get", segment, fetched);
        Assert.Contains("repository 'local' failed", get.Stderr, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(copy), File.ReadAllBytes(fetched));
    }
}

/// <summary>The S3 server dies in the middle of a backup upload: the backup fails cleanly, nothing is listed, a rerun succeeds.</summary>
public sealed class S3KilledDuringBackupTests(BigDatabaseFixture db, S3ServerFixture s3) : IClassFixture<BigDatabaseFixture>, IClassFixture<S3ServerFixture>
{
    [Fact]
    public async Task Backup_fails_cleanly_when_the_s3_server_dies_and_a_rerun_succeeds()
    {
        using var ws = new Workspace(db, extraRepositoriesYaml: S3Yaml.Repository(s3, "offsite", $"killed/{Guid.NewGuid():N}"));
        await ws.OkAsync("--repo", "offsite", "repo", "init");
        using var backup = PgVaultCli.Start(["--config", ws.ConfigFile, "--repo", "offsite", "backup", "--db", "big", "--compression", "none"]);
        var stderr = backup.StandardError.ReadToEndAsync();
        await Task.Delay(1500); // the dump streams: 150 MB in 5 MB parts
        Assert.False(backup.HasExited, "the backup should still be uploading");
        await s3.StopAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120))) await backup.WaitForExitAsync(timeout.Token);
        string error = await stderr;
        Assert.Equal(1, backup.ExitCode);
        Assert.Single(error.Split('\n'), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Contains("S3 repository 'offsite'", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);

        await s3.StartAsync();
        Assert.Empty(await ws.ListIdsAsync("--repo", "offsite"));
        string id = await ws.BackupAsync("--repo", "offsite", "--db", "big");
        Assert.Equal([id], await ws.ListIdsAsync("--repo", "offsite"));
        await ws.OkAsync("--repo", "offsite", "restore", "--backup", id, "--db", "big_from_s3");
        Assert.Equal(1_500_000L, await db.ScalarAsync<long>("big_from_s3", "SELECT count(*) FROM payload"));
    }
}
