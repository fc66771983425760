using PgVault.Tests.Infrastructure;
using PgVault.Tests.Storage;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// archive-get when its only repository cannot be asked: fatal to a recovery (it must not end
/// early), but not to a standby, which never promotes at the end of the archive and asks again.
/// </summary>
public sealed class ArchiveGetUnreachableTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-unreachable-");

    public void Dispose() => _root.Delete(recursive: true);

    private async Task<CliResult> ArchiveGetAsync(string signal)
    {
        string config = Path.Combine(_root.FullName, "pgvault.yaml");
        File.WriteAllText(config, $"""
            repositories:
              - name: gone
                type: s3
                endpoint: http://127.0.0.1:{S3ServerFixture.FreePort()}
                bucket: nowhere
                path_style: true
                access_key_id_env: TEST_KEY
                secret_access_key_env: TEST_SECRET
            clusters:
              main:
                connection: host=/nonexistent
            """);
        string pgdata = Directory.CreateDirectory(Path.Combine(_root.FullName, signal)).FullName;
        File.WriteAllText(Path.Combine(pgdata, signal), "");
        return await PgVaultCli.RunAsync(["--config", config, "archive-get", "000000010000000000000003", "pg_wal/RECOVERYXLOG"],
            new Dictionary<string, string?> { ["TEST_KEY"] = "k", ["TEST_SECRET"] = "s" }, workingDirectory: pgdata);
    }

    [Fact]
    public async Task UnreachableRepository_DuringRecovery_IsFatalNotTheEndOfTheArchive()
    {
        var result = await ArchiveGetAsync("recovery.signal");

        Assert.True(result.ExitCode == 255, result.ToString());
        Assert.Contains("archive-get 000000010000000000000003: S3 repository 'gone': unable to reach", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreachableRepository_OnAStandby_AnswersNotYetSoItAsksAgain()
    {
        var result = await ArchiveGetAsync("standby.signal");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("the standby will ask again", result.Stderr, StringComparison.Ordinal);
    }
}
