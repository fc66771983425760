using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Storage;

namespace PgVault.Core.Config;

/// <summary>Options every command takes. Flags win over the environment, which wins over the file.</summary>
public sealed record GlobalOptions(
    string? ConfigFile = null,
    string? Cluster = null,
    string? Repo = null,
    string? RepoPath = null,
    string? Connection = null);

/// <summary>
/// The one place where flags, environment, config file and defaults are resolved into what a
/// command works on: one cluster and the repositories selected.
/// </summary>
public sealed class VaultContext
{
    public const string DefaultClusterName = "main";
    public const string FlagRepositoryName = "default";

    private VaultContext(PgVaultConfig config, ClusterConfig cluster, IReadOnlyList<RepositoryConfig> repositories)
    {
        Config = config;
        Cluster = cluster;
        Repositories = repositories;
    }

    public PgVaultConfig Config { get; }

    public ClusterConfig Cluster { get; }

    public IReadOnlyList<RepositoryConfig> Repositories { get; }

    public ConnInfo Connection => ConnInfo.Parse(Cluster.Connection);

    /// <summary>The cluster's WAL archiving settings.</summary>
    public ArchiveConfig Archive => Cluster.Archive ?? ArchiveConfig.Default;

    public static VaultContext Resolve(GlobalOptions options)
    {
        string? file = ConfigLoader.Locate(options.ConfigFile);
        return Select(file is null ? PgVaultConfig.Empty : ConfigLoader.Load(file), options);
    }

    /// <summary>The selection in a configuration already loaded (the daemon keeps one until SIGHUP).</summary>
    public static VaultContext Select(PgVaultConfig config, GlobalOptions options)
    {
        var repositories = options.RepoPath is { Length: > 0 } repoPath
            ? [new RepositoryConfig(options.Repo ?? FlagRepositoryName, "filesystem", repoPath)]
            : config.Repositories.ToList();
        if (options.Repo is { } only && options.RepoPath is null)
        {
            repositories = repositories.Where(r => r.Name == only).ToList();
            if (repositories.Count == 0)
                throw new PgVaultException(ErrorCode.ConfigInvalid, $"no repository named '{only}' in the configuration (configured: {Names(config.Repositories.Select(r => r.Name))})");
        }

        ClusterConfig cluster;
        if (options.Cluster is { } name)
        {
            if (config.Clusters.TryGetValue(name, out var found)) cluster = found;
            else if (config.Clusters.Count == 0) cluster = ClusterConfig.Default(name);
            else throw new PgVaultException(ErrorCode.ConfigInvalid, $"no cluster named '{name}' in the configuration (configured: {Names(config.Clusters.Keys)})");
        }
        else
        {
            cluster = config.Clusters.Count switch
            {
                0 => ClusterConfig.Default(DefaultClusterName),
                1 => config.Clusters.Values.First(),
                _ => throw PgVaultException.Usage($"the configuration has several clusters ({Names(config.Clusters.Keys)}): pass --cluster NAME"),
            };
        }
        if (options.Connection is { Length: > 0 } conn)
        {
            ConnInfo.RefuseCommandLinePassword(conn, "--connection");
            cluster = cluster with { Connection = conn };
        }
        foreach (var repository in config.Repositories)
        {
            ChildEnvironment.MarkSecret(repository.S3?.AccessKeyIdEnv);
            ChildEnvironment.MarkSecret(repository.S3?.SecretAccessKeyEnv);
        }
        ChildEnvironment.MarkSecret(config.Encryption?.PassphraseEnv);
        return new VaultContext(config, cluster, repositories);
    }

    /// <summary>
    /// Arguments that make another pgvault process (archive_command, restore_command) see the same
    /// configuration and cluster as this one.
    /// </summary>
    public IReadOnlyList<string> SelectionArguments()
    {
        var args = new List<string>();
        if (Config.SourceFile is { } file) args.AddRange(["--config", Path.GetFullPath(file)]);
        else if (Repositories.Count == 1 && Repositories[0].Path is { } path) args.AddRange(["--repo-path", Path.GetFullPath(path)]);
        args.AddRange(["--cluster", Cluster.Name]);
        return args;
    }

    /// <summary>The single repository a command works on (until several at once are supported).</summary>
    public RepositoryConfig SingleRepository()
    {
        return Repositories.Count switch
        {
            0 => throw new PgVaultException(ErrorCode.ConfigInvalid, "no repository configured",
                "add 'repositories:' to the configuration file or pass --repo-path DIR"),
            1 => Repositories[0],
            _ => throw PgVaultException.Usage($"several repositories are configured ({Names(Repositories.Select(r => r.Name))}); this command works on one",
                "pass --repo NAME"),
        };
    }

    public static IObjectStore OpenStore(RepositoryConfig repository) => ObjectStoreFactory.Open(repository);

    public async Task<Repository.Repository> OpenRepositoryAsync(CancellationToken ct)
    {
        var config = SingleRepository();
        return await Repository.Repository.OpenAsync(OpenStore(config), config.PassphraseFor(Passphrase.Resolve(Config.Encryption)), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens every selected repository. For writing, each must open (a backup goes to all of them);
    /// for reading, one that fails is reported through <paramref name="warn"/> and skipped, as long
    /// as one opens.
    /// </summary>
    public async Task<List<Repository.Repository>> OpenRepositoriesAsync(bool forWriting, Action<string> warn, CancellationToken ct)
    {
        if (Repositories.Count == 0)
            throw new PgVaultException(ErrorCode.ConfigInvalid, "no repository configured", "add 'repositories:' to the configuration file or pass --repo-path DIR");
        string? passphrase = Passphrase.Resolve(Config.Encryption);
        var opened = new List<Repository.Repository>();
        PgVaultException? first = null;
        foreach (var config in Repositories)
        {
            try
            {
                var repository = await Repository.Repository.OpenAsync(OpenStore(config), config.PassphraseFor(passphrase), ct).ConfigureAwait(false);
                if (forWriting) repository.EnsureWritable();
                opened.Add(repository);
            }
            catch (PgVaultException e) when (!forWriting && Repositories.Count > 1)
            {
                first ??= e;
                warn($"repository '{config.Name}' is not usable: {e.Message}");
            }
        }
        if (opened.Count == 0) throw first!;
        return opened;
    }

    /// <summary>The cluster's catalogs in the repositories opened for <paramref name="forWriting"/>.</summary>
    public async Task<Repository.CatalogSet> OpenCatalogsAsync(bool forWriting, Action<string> warn, CancellationToken ct) =>
        new((await OpenRepositoriesAsync(forWriting, warn, ct).ConfigureAwait(false)).Select(r => new Repository.Catalog(r, Cluster.Name)).ToList())
        {
            Others = Config.Repositories.Where(c => Repositories.All(r => r.Name != c.Name)).Select(TryOpenStore).OfType<IObjectStore>().ToList(),
        };

    private static IObjectStore? TryOpenStore(RepositoryConfig config)
    {
        try
        {
            return OpenStore(config);
        }
        catch (PgVaultException)
        {
            return null;
        }
    }

    private static string Names(IEnumerable<string> names)
    {
        string joined = string.Join(", ", names);
        return joined.Length == 0 ? "none" : joined;
    }
}
