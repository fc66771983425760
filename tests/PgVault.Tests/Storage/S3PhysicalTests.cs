using PgVault.Core.Sandbox;
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
