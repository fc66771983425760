using PgVault.Core.Sandbox;
using PgVault.Core.Storage;
using PgVault.Tests.Integration;
using Xunit;

namespace PgVault.Tests.Storage;

/// <summary>
/// Physical backups into a filesystem and an S3 repository at once (WAL archived into both), and
/// a restore read from S3 alone that starts with the data.
/// </summary>
public sealed class S3PhysicalTests(S3PhysicalFixture fixture) : IClassFixture<S3PhysicalFixture>
{
    [Fact]
    public async Task A_full_and_incr_backup_in_s3_restores_and_starts()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE s3data AS SELECT g, md5(g::text) AS v FROM generate_series(1, 30000) g");
        string full = await fixture.BackupAsync("full");
        await fixture.ExecAsync("postgres", "INSERT INTO s3data SELECT g, 'incr' FROM generate_series(30001, 31000) g");
        string incr = await fixture.BackupAsync("incr");
        await fixture.ExecAsync("postgres", "INSERT INTO s3data VALUES (40000, 'after the backups')");
        await fixture.ArchiveEverythingAsync();

        var list = await fixture.RunAsync("list", "--output", "json");
        var holders = list.Json.EnumerateArray().Single(e => e.GetProperty("id").GetString() == incr).GetProperty("repositories").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(["local", "offsite"], holders);

        string dir = fixture.NewRestoreDir("from-s3");
        var restore = await fixture.RunAsync("--repo", "offsite", "restore", "--pgdata", dir, "--archive-mode", "off", "--output", "json");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        var chain = restore.Json.GetProperty("plan").GetProperty("chain").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal([full, incr], chain);
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(31001L, await server.ScalarAsync<long>("SELECT count(*) FROM s3data"));
    }

    [Fact]
    public async Task Verify_checks_both_repositories_and_finds_a_truncated_pack_in_s3()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS s3verify AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g");
        string full = await fixture.BackupAsync("full");
        var clean = await fixture.RunAsync("verify", "--backup", full, "--output", "json");
        Assert.True(clean.ExitCode == 0, clean.ToString());
        var repositories = clean.Json.GetProperty("repositories").EnumerateArray().ToList();
        Assert.Equal(["local", "offsite"], repositories.Select(r => r.GetProperty("repository").GetString()));
        Assert.All(repositories, r => Assert.Equal("valid", r.GetProperty("backups")[0].GetProperty("status").GetString()));

        string pack = VerifyFixture.Manifest(fixture.RepoPath, full).GetProperty("physical").GetProperty("packs")[0].GetProperty("object").GetString()!;
        string key = $"clusters/main/backups/{full}/{pack}";
        await using var store = fixture.OpenOffsiteStore();
        byte[] original = await store.GetBytesAsync(key, CancellationToken.None);
        await store.PutAsync(key, original.AsMemory(0, original.Length / 2), CancellationToken.None);
        try
        {
            var damaged = await fixture.RunAsync("verify", "--backup", full, "--output", "json");
            Assert.True(damaged.ExitCode == 1, damaged.ToString());
            Assert.Contains(damaged.ErrorLines, l => l.Contains($"repository 'offsite': backup {full} invalid", StringComparison.Ordinal) && l.Contains(key, StringComparison.Ordinal));
            Assert.DoesNotContain(damaged.ErrorLines, l => l.Contains("repository 'local'", StringComparison.Ordinal));
            Assert.Equal("valid", damaged.Json.GetProperty("repositories")[0].GetProperty("backups")[0].GetProperty("status").GetString());
        }
        finally
        {
            await store.PutAsync(key, original, CancellationToken.None);
        }
    }
}

/// <summary>
/// An archiving cluster with a local and an S3 repository. The server gets the S3 credential
/// variables explicitly (its archive_command needs them); nothing else of the test's environment passes.
/// </summary>
public sealed class S3PhysicalFixture : PhysicalFixture
{
    protected override SandboxOptions Options => base.Options with { ServerEnvironment = S3ServerFixture.CredentialEnvironment };

    private readonly S3ServerFixture _s3 = new();
    private bool _s3Running;

    /// <summary>The offsite repository's store, to damage an object in it.</summary>
    public S3ObjectStore OpenOffsiteStore() => _s3.OpenStore("offsite", "physical/" + Path.GetFileName(Root));

    protected override string ExtraRepositoriesYaml => _s3Running ? S3Yaml.Repository(_s3, "offsite", "physical/" + Path.GetFileName(Root)) : "";

    public override async Task InitializeAsync()
    {
        await _s3.InitializeAsync();
        _s3Running = true;
        await base.InitializeAsync();
        var init = await RunAsync("--repo", "offsite", "repo", "init");
        if (init.ExitCode != 0) throw new InvalidOperationException(init.ToString());
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _s3.DisposeAsync();
    }
}
