using Npgsql;
using PgVault.Core.Sandbox;
using PgVault.Tests.Integration;
using Xunit;
using static PgVault.Tests.Integration.Retention;

namespace PgVault.Tests.Storage;

/// <summary>
/// Retention on an S3 repository (issue 11): a policy of the S3 repository alone
/// (repositories[].retention) removes the older chain and its WAL there and nothing locally; the
/// kept backups restore from S3 and start; a PITR before the window is refused.
/// </summary>
public sealed class S3RetentionTests(S3RetentionFixture fixture) : IClassFixture<S3RetentionFixture>
{
    [Fact]
    public async Task Expire_on_s3_removes_the_older_chain_and_its_WAL_and_the_kept_chain_restores()
    {
        string config = fixture.ConfigFile;
        string[] all = [fixture.F1, fixture.I1, fixture.F2, fixture.I2];
        string anchor = Position(await StartWalAsync(config, fixture.F2, "--repo", "offsite"));
        var objectsBefore = await fixture.S3KeysAsync();

        var expire = await OkAsync(config, "expire", "--output", "json");
        Assert.False(Repository(expire, "local").GetProperty("has_policy").GetBoolean());
        var decisions = Decisions(expire, "offsite");
        Assert.Equal([fixture.F1, fixture.I1], decisions.Where(d => !d.Value.Keep).Select(d => d.Key).Order(StringComparer.Ordinal));
        Assert.Empty(Repository(expire, "offsite").GetProperty("wal_gaps").EnumerateArray());

        Assert.Equal([fixture.F2, fixture.I2], await ListAsync(config, "--repo", "offsite"));
        Assert.Equal(all, await ListAsync(config, "--repo", "local"));
        var keys = await fixture.S3KeysAsync();
        Assert.DoesNotContain(keys, k => k.Contains($"/backups/{fixture.F1}/", StringComparison.Ordinal) || k.Contains($"/backups/{fixture.I1}/", StringComparison.Ordinal));
        var wal = keys.Where(k => k.StartsWith("clusters/main/wal/", StringComparison.Ordinal)).Select(k => k[(k.LastIndexOf('/') + 1)..])
            .Where(n => n.Length > 25 && n[24] == '-').ToList();
        Assert.DoesNotContain(wal, n => string.CompareOrdinal(Position(n), anchor) < 0);
        Assert.True(keys.Count < objectsBefore.Count, "expire removed objects from S3");
        Assert.All(keys.Where(k => k.Contains($"/backups/{fixture.I2}/", StringComparison.Ordinal)), k => Assert.Contains(k, objectsBefore));

        await AssertRestoresAsync(fixture, config, fixture.I2, fixture.RowsAt[fixture.I2], "--repo", "offsite");
        Assert.Equal((fixture.TotalRows, fixture.TotalRows), await RestoreAndCountAsync(fixture, config, "s3-latest", ["--repo", "offsite"]));

        var refused = await RunAsync(config, "--repo", "offsite", "restore", "--pgdata", fixture.NewRestoreDir("s3-before"), "--target-time", fixture.BeforeF2, "--target-action", "promote");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("no physical backup of cluster 'main' finished before", Assert.Single(refused.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal)), StringComparison.Ordinal);
    }
}

/// <summary>
/// A cluster archiving into a local and an S3 repository; only the S3 one has a policy (full: 1).
/// Backups F1, I1, F2, I2 (taken with --no-expire), one row per transaction into ticks between them.
/// </summary>
public sealed class S3RetentionFixture : PhysicalFixture
{
    protected override SandboxOptions Options => base.Options with { ServerEnvironment = S3ServerFixture.CredentialEnvironment };

    private readonly S3ServerFixture _s3 = new();
    private bool _s3Running;
    private long _rows;

    private string Prefix => "retention/" + Path.GetFileName(Root);

    protected override string ExtraRepositoriesYaml => _s3Running ? S3Yaml.Repository(_s3, "offsite", Prefix) + "    retention:\n      full: 1\n" : "";

    public string F1 { get; private set; } = "";
    public string I1 { get; private set; } = "";
    public string F2 { get; private set; } = "";
    public string I2 { get; private set; } = "";
    public Dictionary<string, long> RowsAt { get; } = new(StringComparer.Ordinal);
    public string BeforeF2 { get; private set; } = "";
    public long TotalRows => _rows;

    public override async Task InitializeAsync()
    {
        await _s3.InitializeAsync();
        _s3Running = true;
        await base.InitializeAsync();
        var init = await RunAsync("--repo", "offsite", "repo", "init");
        if (init.ExitCode != 0) throw new InvalidOperationException(init.ToString());
        await ExecAsync("postgres", "CREATE TABLE ticks (id bigint PRIMARY KEY)");
        F1 = await TakeAsync("full");
        await InsertAsync(3);
        I1 = await TakeAsync("incr");
        for (int i = 0; i < 4; i++)
        {
            await InsertAsync(1);
            await SwitchWalAsync();
        }
        BeforeF2 = (await ScalarAsync<DateTime>("postgres", $"SELECT pg_xact_commit_timestamp(xmin) FROM ticks WHERE id = {_rows}")).ToString("yyyy-MM-dd HH:mm:ss.ffffff+00");
        await InsertAsync(3);
        F2 = await TakeAsync("full");
        await InsertAsync(3);
        I2 = await TakeAsync("incr");
        await InsertAsync(3);
        await ArchiveEverythingAsync();
    }

    /// <summary>Every key of the S3 repository.</summary>
    public async Task<List<string>> S3KeysAsync()
    {
        await using var store = _s3.OpenStore("offsite", Prefix);
        var keys = new List<string>();
        await foreach (var info in store.ListAsync("", CancellationToken.None)) keys.Add(info.Key);
        return keys;
    }

    private async Task<string> TakeAsync(string type)
    {
        long rows = _rows;
        string id = await BackupAsync(type, "--no-expire");
        RowsAt[id] = rows;
        return id;
    }

    private async Task InsertAsync(int count)
    {
        await using var connection = Open();
        for (int i = 0; i < count; i++)
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO ticks (id) VALUES ({++_rows})", connection);
            await insert.ExecuteNonQueryAsync();
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _s3.DisposeAsync();
    }
}
