using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Storage;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// Every test passes --config explicitly, so PGVAULT_CONFIG and /etc/pgvault do not matter here;
/// the environment variable itself is covered by <see cref="VaultContextEnvironmentTests"/>.
/// </summary>
public sealed class VaultContextTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pgvault-context-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string WriteConfig(string yaml, string name = "pgvault.yaml")
    {
        string path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private const string TwoClusters = """
        repositories:
          - name: local
            path: /srv/repo-local
          - name: offsite
            path: /srv/repo-offsite
        clusters:
          main:
            connection: host=main.example port=5432 user=postgres
            pgdata: /var/lib/postgresql/17/main
            compression: gzip:4
          reporting:
            connection: host=reporting.example user=backup
        """;

    [Fact]
    public void Single_cluster_is_picked_without_cluster_flag()
    {
        string config = WriteConfig("repositories:\n  - name: local\n    path: /srv/repo\nclusters:\n  prod:\n    connection: host=prod.example\n    parallel: 3\n");

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config));

        Assert.Equal("prod", context.Cluster.Name);
        Assert.Equal("host=prod.example", context.Cluster.Connection);
        Assert.Equal(3, context.Cluster.Parallel);
        Assert.Equal(config, context.Config.SourceFile);
        Assert.Equal(new RepositoryConfig("local", "filesystem", "/srv/repo"), context.SingleRepository());
    }

    [Fact]
    public void Several_clusters_need_the_cluster_flag_and_the_error_lists_them()
    {
        string config = WriteConfig(TwoClusters);

        var e = Assert.Throws<PgVaultException>(() => VaultContext.Resolve(new GlobalOptions(ConfigFile: config)));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("main, reporting", e.Message, StringComparison.Ordinal);
        Assert.Contains("--cluster", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cluster_flag_selects_one_of_several()
    {
        string config = WriteConfig(TwoClusters);

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main"));

        Assert.Equal("main", context.Cluster.Name);
        Assert.Equal("/var/lib/postgresql/17/main", context.Cluster.PgData);
        Assert.Equal(new CompressionSpec(CompressionType.Gzip, 4), context.Cluster.Compression);
        Assert.Equal("main.example", context.Connection.Host);
    }

    [Fact]
    public void Unknown_cluster_is_a_usage_error_listing_the_configured_ones()
    {
        string config = WriteConfig(TwoClusters);

        var e = Assert.Throws<PgVaultException>(() => VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "staging")));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("'staging'", e.Message, StringComparison.Ordinal);
        Assert.Contains("main, reporting", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cluster_flag_without_configured_clusters_gives_a_default_cluster_of_that_name()
    {
        string config = WriteConfig("repositories:\n  - name: local\n    path: /srv/repo\n");

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "adhoc"));

        Assert.Equal(ClusterConfig.Default("adhoc"), context.Cluster);
    }

    [Fact]
    public void No_clusters_and_no_flag_gives_the_default_main_cluster()
    {
        string config = WriteConfig("repositories:\n  - name: local\n    path: /srv/repo\n");

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config));

        Assert.Equal(ClusterConfig.Default(VaultContext.DefaultClusterName), context.Cluster);
        Assert.Equal("main", context.Cluster.Name);
    }

    [Fact]
    public void Repo_flag_selects_one_repository()
    {
        string config = WriteConfig(TwoClusters);

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main", Repo: "offsite"));

        Assert.Equal(new RepositoryConfig("offsite", "filesystem", "/srv/repo-offsite"), Assert.Single(context.Repositories));
    }

    [Fact]
    public void Unknown_repo_is_a_usage_error_listing_the_configured_ones()
    {
        string config = WriteConfig(TwoClusters);

        var e = Assert.Throws<PgVaultException>(() => VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main", Repo: "tape")));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("'tape'", e.Message, StringComparison.Ordinal);
        Assert.Contains("local, offsite", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_repositories_make_SingleRepository_ask_for_repo()
    {
        string config = WriteConfig(TwoClusters);
        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main"));

        Assert.Equal(2, context.Repositories.Count);
        var e = Assert.Throws<PgVaultException>(() => context.SingleRepository());
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("local, offsite", e.Message, StringComparison.Ordinal);
        Assert.Contains("--repo", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void No_repository_makes_SingleRepository_fail_with_a_hint()
    {
        string config = WriteConfig("clusters:\n  main:\n");
        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config));

        Assert.Empty(context.Repositories);
        var e = Assert.Throws<PgVaultException>(() => context.SingleRepository());
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("--repo-path", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Repo_path_overrides_the_configured_repositories()
    {
        string config = WriteConfig(TwoClusters);
        string repoPath = Path.Combine(_dir.FullName, "elsewhere");

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main", RepoPath: repoPath));

        Assert.Equal(new RepositoryConfig(VaultContext.FlagRepositoryName, "filesystem", repoPath), context.SingleRepository());
    }

    [Fact]
    public void Repo_path_with_repo_names_the_flag_repository()
    {
        string config = WriteConfig(TwoClusters);

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main", Repo: "scratch", RepoPath: "/srv/scratch"));

        Assert.Equal(new RepositoryConfig("scratch", "filesystem", "/srv/scratch"), context.SingleRepository());
    }

    [Fact]
    public void Connection_flag_overrides_only_the_cluster_connection()
    {
        string config = WriteConfig(TwoClusters);

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: config, Cluster: "main", Connection: "host=override.example port=6543 user=alice"));

        Assert.Equal("host=override.example port=6543 user=alice", context.Cluster.Connection);
        Assert.Equal("main", context.Cluster.Name);
        Assert.Equal("/var/lib/postgresql/17/main", context.Cluster.PgData);
        Assert.Equal(new CompressionSpec(CompressionType.Gzip, 4), context.Cluster.Compression);
        Assert.Equal("override.example", context.Connection.Host);
        Assert.Equal(6543, context.Connection.Port);
        Assert.Equal("alice", context.Connection.User);
    }

    [Fact]
    public void Errors_in_the_file_propagate_with_its_path()
    {
        string config = WriteConfig("clusters:\n  main:\n    parallel: many\n");

        var e = Assert.Throws<PgVaultException>(() => VaultContext.Resolve(new GlobalOptions(ConfigFile: config)));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(config, e.Message, StringComparison.Ordinal);
        Assert.Contains("'clusters.main.parallel'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_config_file_given_by_flag_is_a_usage_error()
    {
        string config = Path.Combine(_dir.FullName, "absent.yaml");

        var e = Assert.Throws<PgVaultException>(() => VaultContext.Resolve(new GlobalOptions(ConfigFile: config)));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(config, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OpenStore_gives_a_filesystem_store_at_the_path()
    {
        string repoPath = Path.Combine(_dir.FullName, "repo");

        IObjectStore store = VaultContext.OpenStore(new RepositoryConfig("local", "filesystem", repoPath));

        var fs = Assert.IsType<FileSystemObjectStore>(store);
        Assert.Equal("local", fs.Name);
        Assert.Equal(repoPath, fs.Location);
    }
}

[Collection(EnvironmentCollection.Name)]
public sealed class VaultContextEnvironmentTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pgvault-context-env-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string WriteConfig(string name, string cluster)
    {
        string path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, $"clusters:\n  {cluster}:\n    connection: host={cluster}.example\n");
        return path;
    }

    [Fact]
    public void PGVAULT_CONFIG_is_used_when_no_flag_is_given()
    {
        string config = WriteConfig("from-env.yaml", "envcluster");
        using var env = new EnvironmentScope().Set(ConfigLoader.EnvironmentVariable, config);

        Assert.Equal(config, ConfigLoader.Locate(null));
        var context = VaultContext.Resolve(new GlobalOptions());

        Assert.Equal(config, context.Config.SourceFile);
        Assert.Equal("envcluster", context.Cluster.Name);
    }

    [Fact]
    public void Config_flag_wins_over_PGVAULT_CONFIG()
    {
        string fromEnv = WriteConfig("from-env.yaml", "envcluster");
        string fromFlag = WriteConfig("from-flag.yaml", "flagcluster");
        using var env = new EnvironmentScope().Set(ConfigLoader.EnvironmentVariable, fromEnv);

        var context = VaultContext.Resolve(new GlobalOptions(ConfigFile: fromFlag));

        Assert.Equal(fromFlag, context.Config.SourceFile);
        Assert.Equal("flagcluster", context.Cluster.Name);
    }

    [Fact]
    public void PGVAULT_CONFIG_naming_a_missing_file_is_a_usage_error()
    {
        string missing = Path.Combine(_dir.FullName, "missing.yaml");
        using var env = new EnvironmentScope().Set(ConfigLoader.EnvironmentVariable, missing);

        var e = Assert.Throws<PgVaultException>(() => VaultContext.Resolve(new GlobalOptions()));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
    }
}
