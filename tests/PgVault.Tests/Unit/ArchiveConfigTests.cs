using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class ArchiveConfigTests
{
    private const string File = "/etc/pgvault/archive.yaml";

    private static ClusterConfig Cluster(string settings) =>
        ConfigLoader.Parse($"clusters:\n  main:\n{settings}", File).Clusters["main"];

    [Fact]
    public void Archive_settings_parse_and_default()
    {
        Assert.Null(Cluster("    parallel: 2\n").Archive);
        var archive = Cluster("    wal_compression: zstd:5\n    archive_async: true\n    spool_path: /var/spool/x\n    archive_async_processes: 4\n    archive_timeout: 120\n").Archive!;
        Assert.Equal(new CompressionSpec(CompressionType.Zstd, 5), archive.Compression);
        Assert.True(archive.Async);
        Assert.Equal("/var/spool/x", archive.SpoolFor("main"));
        Assert.Equal(4, archive.AsyncProcesses);
        Assert.Equal(120, archive.TimeoutSeconds);
        Assert.Equal(CompressionType.Lz4, ArchiveConfig.Default.Compression.Type);
        Assert.Equal("/var/spool/pgvault/main", ArchiveConfig.Default.SpoolFor("main"));
    }

    [Theory]
    [InlineData("archive_async: maybe", "clusters.main.archive_async")]
    [InlineData("archive_async_processes: 0", "clusters.main.archive_async_processes")]
    [InlineData("archive_timeout: soon", "clusters.main.archive_timeout")]
    [InlineData("wal_compression: brotli", "clusters.main.wal_compression")]
    public void Bad_archive_values_name_the_key(string line, string key)
    {
        var e = Assert.Throws<PgVaultException>(() => Cluster($"    {line}\n"));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains($"config {File}: '{key}'", e.Message, StringComparison.Ordinal);
    }
}
