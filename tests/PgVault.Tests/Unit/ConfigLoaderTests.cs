using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class ConfigLoaderTests : IDisposable
{
    private const string File = "/etc/pgvault/test.yaml";

    private const string FullExample = """
        # PgVault configuration
        repositories:
          - name: local
            path: /var/lib/pgvault/repo
          - name: offsite
            type: filesystem
            path: /mnt/backup/pgvault

        encryption:
          passphrase_file: /etc/pgvault/passphrase

        clusters:
          main:
            connection: "host=/run/postgresql port=5432 user=postgres"
            pgdata: /var/lib/postgresql/17/main
            bindir: /usr/lib/postgresql/17/bin
            compression: zstd:6
            parallel: 4
          reporting:
            connection: postgresql://backup@reporting.example:5433/postgres
            compression: lz4
            parallel: 1
        """;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pgvault-config-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static PgVaultException ParseError(string yaml)
    {
        var e = Assert.Throws<PgVaultException>(() => ConfigLoader.Parse(yaml, File));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(File, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void Full_example_parses_to_the_expected_records()
    {
        PgVaultConfig config = ConfigLoader.Parse(FullExample, File);

        Assert.Equal(File, config.SourceFile);
        Assert.Equal(
            [new RepositoryConfig("local", "filesystem", "/var/lib/pgvault/repo"), new RepositoryConfig("offsite", "filesystem", "/mnt/backup/pgvault")],
            config.Repositories);
        Assert.Equal(new EncryptionConfig("/etc/pgvault/passphrase", null), config.Encryption);

        Assert.Equal(2, config.Clusters.Count);
        Assert.Equal(
            new ClusterConfig("main", "host=/run/postgresql port=5432 user=postgres", "/var/lib/postgresql/17/main", "/usr/lib/postgresql/17/bin", new CompressionSpec(CompressionType.Zstd, 6), 4),
            config.Clusters["main"]);
        Assert.Equal(
            new ClusterConfig("reporting", "postgresql://backup@reporting.example:5433/postgres", null, null, new CompressionSpec(CompressionType.Lz4, 0), 1),
            config.Clusters["reporting"]);
    }

    [Fact]
    public void Cluster_settings_default_to_zstd3_and_parallel_2()
    {
        PgVaultConfig config = ConfigLoader.Parse("clusters:\n  main:\n  other:\n    pgdata: /data\n", File);

        Assert.Equal(ClusterConfig.Default("main"), config.Clusters["main"]);
        Assert.Equal(new CompressionSpec(CompressionType.Zstd, 3), config.Clusters["other"].Compression);
        Assert.Equal(2, config.Clusters["other"].Parallel);
        Assert.Equal("/data", config.Clusters["other"].PgData);
        Assert.Null(config.Clusters["other"].Connection);
    }

    [Fact]
    public void Passphrase_env_is_read()
    {
        PgVaultConfig config = ConfigLoader.Parse("encryption:\n  passphrase_env: PGVAULT_PASSPHRASE\n", File);

        Assert.Equal(new EncryptionConfig(null, "PGVAULT_PASSPHRASE"), config.Encryption);
        Assert.Empty(config.Repositories);
        Assert.Empty(config.Clusters);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\n")]
    [InlineData("# only a comment\n")]
    public void Empty_file_gives_an_empty_config(string yaml)
    {
        PgVaultConfig config = ConfigLoader.Parse(yaml, File);

        Assert.Equal(File, config.SourceFile);
        Assert.Empty(config.Repositories);
        Assert.Null(config.Encryption);
        Assert.Empty(config.Clusters);
    }

    [Fact]
    public void Empty_sections_are_allowed()
    {
        PgVaultConfig config = ConfigLoader.Parse("repositories:\nencryption:\nclusters:\n", File);

        Assert.Empty(config.Repositories);
        Assert.Null(config.Encryption);
        Assert.Empty(config.Clusters);
    }

    [Fact]
    public void Unknown_top_level_key_names_it_and_the_allowed_keys()
    {
        var e = ParseError("reposotories:\n  - name: a\n    path: /x\n");

        Assert.Contains("'reposotories'", e.Message, StringComparison.Ordinal);
        Assert.Contains("repositories, encryption, clusters", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_key_in_a_repository_names_the_full_key_and_the_allowed_keys()
    {
        var e = ParseError("repositories:\n  - name: a\n    path: /x\n  - name: b\n    paht: /y\n");

        Assert.Contains("'repositories[1].paht'", e.Message, StringComparison.Ordinal);
        Assert.Contains("name, type, path", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_key_in_a_cluster_names_the_full_dotted_key_and_the_allowed_keys()
    {
        var e = ParseError("clusters:\n  main:\n    compresion: zstd\n");

        Assert.Contains("'clusters.main.compresion'", e.Message, StringComparison.Ordinal);
        Assert.Contains("connection, pgdata, bindir, compression, parallel", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_key_in_encryption_names_the_full_dotted_key_and_the_allowed_keys()
    {
        var e = ParseError("encryption:\n  passphrase: hunter2hunter2\n");

        Assert.Contains("'encryption.passphrase'", e.Message, StringComparison.Ordinal);
        Assert.Contains("passphrase_file, passphrase_env", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zstd:99")]
    [InlineData("brotli")]
    [InlineData("none:1")]
    [InlineData("gzip:0")]
    public void Bad_compression_names_the_key_and_the_value(string value)
    {
        var e = ParseError($"clusters:\n  main:\n    compression: \"{value}\"\n");

        Assert.Contains("'clusters.main.compression'", e.Message, StringComparison.Ordinal);
        Assert.Contains(value, e.Message, StringComparison.Ordinal);
        Assert.Contains("zstd", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("two")]
    [InlineData("65")]
    [InlineData("-1")]
    [InlineData("1.5")]
    public void Bad_parallel_names_the_key_and_the_range(string value)
    {
        var e = ParseError($"clusters:\n  main:\n    parallel: {value}\n");

        Assert.Contains("'clusters.main.parallel'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("1 to 64", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("64", 64)]
    public void Parallel_bounds_are_accepted(string value, int expected)
    {
        PgVaultConfig config = ConfigLoader.Parse($"clusters:\n  main:\n    parallel: {value}\n", File);

        Assert.Equal(expected, config.Clusters["main"].Parallel);
    }

    [Fact]
    public void Duplicate_repository_name_is_rejected()
    {
        var e = ParseError("repositories:\n  - name: local\n    path: /a\n  - name: local\n    path: /b\n");

        Assert.Contains("'repositories[1].name'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'local' is used twice", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Repository_without_path_is_rejected()
    {
        var e = ParseError("repositories:\n  - name: local\n");

        Assert.Contains("'repositories[0].path'", e.Message, StringComparison.Ordinal);
        Assert.Contains("is required", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Repository_without_name_is_rejected()
    {
        var e = ParseError("repositories:\n  - path: /a\n");

        Assert.Contains("'repositories[0].name' is required", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_repository_type_is_rejected()
    {
        var e = ParseError("repositories:\n  - name: cloud\n    type: gcs\n    path: /a\n");

        Assert.Contains("'repositories[0].type'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'gcs' is not supported", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("repositories:\n  - name: \"bad name\"\n    path: /a\n", "'repositories[0].name'")]
    [InlineData("clusters:\n  \"my/cluster\":\n    pgdata: /x\n", "'clusters.my/cluster'")]
    public void Names_must_be_simple(string yaml, string key)
    {
        var e = ParseError(yaml);

        Assert.Contains(key, e.Message, StringComparison.Ordinal);
        Assert.Contains("letters, digits", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Repositories_must_be_a_list()
    {
        var e = ParseError("repositories:\n  name: local\n  path: /a\n");

        Assert.Contains("'repositories' must be a list", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cluster_setting_must_be_a_single_value()
    {
        var e = ParseError("clusters:\n  main:\n    pgdata:\n      - /a\n      - /b\n");

        Assert.Contains("'clusters.main.pgdata' must be a single value", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("encryption:\n  passphrase_file: /etc/pgvault/pass\n  passphrase_env: PGVAULT_PASS\n")]
    [InlineData("encryption:\n  passphrase_file:\n")]
    [InlineData("encryption: {}\n")]
    public void Encryption_needs_exactly_one_passphrase_source(string yaml)
    {
        var e = ParseError(yaml);

        Assert.Contains("'encryption' needs exactly one of passphrase_file or passphrase_env", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_syntax_error_reports_the_line()
    {
        const string yaml = "clusters:\n  main:\n    pgdata: /data\n    connection: \"host=x\n  other:\n";

        var e = ParseError(yaml);

        // The unterminated quote opens on line 4 (lines count from 1).
        Assert.Contains("line 4:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_cluster_name_is_a_yaml_error_on_its_line()
    {
        var e = ParseError("clusters:\n  main:\n    pgdata: /a\n  main:\n    pgdata: /b\n");

        Assert.Contains("line 4:", e.Message, StringComparison.Ordinal);
        Assert.Contains("Duplicate key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_indentation_error_reports_its_line()
    {
        const string yaml = "clusters:\n  main:\n    pgdata: /data\n   bindir: /bin\n";

        var e = ParseError(yaml);

        Assert.Contains("line 4:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_level_must_be_a_mapping()
    {
        var e = ParseError("- a\n- b\n");

        Assert.Contains("must be a mapping", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_reads_the_file_and_records_its_full_path()
    {
        string path = Path.Combine(_dir.FullName, "pgvault.yaml");
        System.IO.File.WriteAllText(path, FullExample);

        PgVaultConfig config = ConfigLoader.Load(path);

        Assert.Equal(path, config.SourceFile);
        Assert.Equal(2, config.Repositories.Count);
        Assert.Equal(4, config.Clusters["main"].Parallel);
    }

    [Fact]
    public void Load_errors_name_the_full_path_of_the_file()
    {
        string path = Path.Combine(_dir.FullName, "bad.yaml");
        System.IO.File.WriteAllText(path, "clusters:\n  main:\n    compresion: zstd\n");

        var e = Assert.Throws<PgVaultException>(() => ConfigLoader.Load(path));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("'clusters.main.compresion'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_of_a_missing_file_is_a_usage_error()
    {
        string path = Path.Combine(_dir.FullName, "missing.yaml");

        var e = Assert.Throws<PgVaultException>(() => ConfigLoader.Load(path));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("unable to read config", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }
}
