using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Vault;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// Every setting the <see cref="Vault"/> resolves follows one rule: flag &gt; environment (PGVAULT_*)
/// &gt; configuration file &gt; default. The environment is passed in, so the process's is never touched.
/// </summary>
public sealed class VaultSettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pgvault-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    private const string Configured = """
        repositories:
          - name: local
            path: /srv/repo
        clusters:
          main:
            pgdata: /config/pgdata
            bindir: /config/bin
            compression: gzip:4
            parallel: 3
            archive_timeout: 90
        """;

    private Vault Open(string? yaml, params (string Name, string Value)[] environment)
    {
        string config = Path.Combine(_dir.FullName, "pgvault.yaml");
        File.WriteAllText(config, yaml ?? "repositories:\n  - name: local\n    path: /srv/repo\n");
        var env = environment.ToDictionary(e => e.Name, e => e.Value);
        return Vault.Open(new GlobalOptions(ConfigFile: config), name => env.GetValueOrDefault(name));
    }

    [Fact]
    public void Parallel_flag_beats_environment_beats_config_beats_default()
    {
        var env = (VaultSettings.ParallelVariable, "5");
        Assert.Equal(7, Open(Configured, env).Settings.Parallel(7));
        Assert.Equal(5, Open(Configured, env).Settings.Parallel(null));
        Assert.Equal(3, Open(Configured).Settings.Parallel(null));
        Assert.Equal(ClusterConfig.DefaultParallel, Open(null).Settings.Parallel(null));
    }

    [Fact]
    public void Compression_flag_beats_environment_beats_config_beats_default()
    {
        var env = (VaultSettings.CompressionVariable, "lz4");
        Assert.Equal("zstd:9", Open(Configured, env).Settings.Compression("zstd:9").ToString());
        Assert.Equal("lz4", Open(Configured, env).Settings.Compression(null).ToString());
        Assert.Equal("gzip:4", Open(Configured).Settings.Compression(null).ToString());
        Assert.Equal(ClusterConfig.DefaultCompression, Open(null).Settings.Compression(null));
    }

    [Fact]
    public void ArchiveTimeout_flag_beats_environment_beats_config_beats_default()
    {
        var env = (VaultSettings.ArchiveTimeoutVariable, "30");
        Assert.Equal(10, Open(Configured, env).Settings.ArchiveTimeoutSeconds(10));
        Assert.Equal(30, Open(Configured, env).Settings.ArchiveTimeoutSeconds(null));
        Assert.Equal(90, Open(Configured).Settings.ArchiveTimeoutSeconds(null));
        Assert.Equal(ArchiveConfig.DefaultTimeoutSeconds, Open(null).Settings.ArchiveTimeoutSeconds(null));
    }

    [Fact]
    public void BinDir_and_PgData_environment_beats_config_beats_none()
    {
        var env = new[] { (VaultSettings.BinDirVariable, "/env/bin"), (VaultSettings.PgDataVariable, "/env/pgdata") };
        Assert.Equal("/env/bin", Open(Configured, env).Settings.BinDir);
        Assert.Equal("/env/pgdata", Open(Configured, env).Settings.PgData);
        Assert.Equal("/config/bin", Open(Configured).Settings.BinDir);
        Assert.Equal("/config/pgdata", Open(Configured).Settings.PgData);
        Assert.Null(Open(null).Settings.BinDir);
        Assert.Null(Open(null).Settings.PgData);
    }

    [Theory]
    [InlineData(VaultSettings.ParallelVariable, "many")]
    [InlineData(VaultSettings.ParallelVariable, "0")]
    [InlineData(VaultSettings.ArchiveTimeoutVariable, "-1")]
    [InlineData(VaultSettings.CompressionVariable, "brotli")]
    public void Bad_environment_value_is_a_usage_error_naming_the_variable(string variable, string value)
    {
        var settings = Open(Configured, (variable, value)).Settings;

        var e = Assert.Throws<PgVaultException>(() =>
        {
            _ = settings.Parallel(null);
            _ = settings.ArchiveTimeoutSeconds(null);
            _ = settings.Compression(null);
        });

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(variable, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Passphrase_is_read_only_when_needed()
    {
        // A passphrase file that does not exist fails on use, not when the vault is opened.
        var vault = Open("repositories:\n  - name: local\n    path: /srv/repo\nencryption:\n  passphrase_file: /nonexistent/pass\n");

        Assert.Equal("local", vault.Repositories[0].Name);
        Assert.Throws<PgVaultException>(() => vault.Passphrase);
    }
}
