using PgVault.Core.Config;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;
using PgVault.Core.Storage;

namespace PgVault.Core.Vault;

/// <summary>
/// The composition root: built once per command (or daemon job) from the global options, the
/// environment and the configuration file. It knows the cluster, the selected repositories, the
/// connection, the tool locator and every setting (<see cref="Settings"/>), and opens
/// repositories and catalogs on demand, so a capability — <c>new X(vault, progress).RunAsync(options, ct)</c>
/// — never builds a store, a catalog or a default of its own.
/// </summary>
public sealed class Vault
{
    private readonly Lazy<string?> _passphrase;

    private Vault(VaultContext context, Func<string, string?> environment)
    {
        Context = context;
        Settings = new VaultSettings(context.Cluster, environment);
        Tools = new ToolLocator(Settings.BinDir);
        _passphrase = new Lazy<string?>(() => global::PgVault.Core.Config.Passphrase.Resolve(context.Config.Encryption));
    }

    /// <summary>Resolves the selection (cluster, repositories, connection) and the settings.</summary>
    /// <param name="environment">Reads an environment variable; the process environment by default (tests pass their own).</param>
    public static Vault Open(GlobalOptions options, Func<string, string?>? environment = null) =>
        new(VaultContext.Resolve(options), environment ?? Environment.GetEnvironmentVariable);

    /// <summary>A vault on a configuration already loaded (the daemon's, kept until it reloads).</summary>
    public static Vault Open(PgVaultConfig config, GlobalOptions options, Func<string, string?>? environment = null) =>
        new(VaultContext.Select(config, options), environment ?? Environment.GetEnvironmentVariable);

    /// <summary>The resolver underneath: configuration, cluster, repositories as selected.</summary>
    public VaultContext Context { get; }

    public VaultSettings Settings { get; }

    public PgVaultConfig Config => Context.Config;

    public ClusterConfig Cluster => Context.Cluster;

    public IReadOnlyList<RepositoryConfig> Repositories => Context.Repositories;

    /// <summary>The cluster's connection: --connection, else the configured one; PG* variables fill in what it leaves out.</summary>
    public ConnInfo Connection => Context.Connection;

    public ToolLocator Tools { get; }

    /// <summary>The repositories' passphrase, read (from its file or variable) the first time it is needed.</summary>
    public string? Passphrase => _passphrase.Value;

    /// <summary>Arguments that make another pgvault process (archive_command, restore_command) see the same selection.</summary>
    public IReadOnlyList<string> SelectionArguments() => Context.SelectionArguments();

    /// <summary>The one repository of commands that work on one (change-passphrase).</summary>
    public async Task<Repository.Repository> OpenRepositoryAsync(CancellationToken ct)
    {
        var config = Context.SingleRepository();
        return await Repository.Repository.OpenAsync(VaultContext.OpenStore(config), config.PassphraseFor(Passphrase), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Every selected repository. For writing, each must open; for reading, one that fails is
    /// reported through <paramref name="warn"/> and skipped as long as one opens.
    /// </summary>
    public Task<List<Repository.Repository>> OpenRepositoriesAsync(bool forWriting, Action<string> warn, CancellationToken ct) =>
        Context.OpenRepositoriesAsync(forWriting, warn, ct);

    /// <summary>The cluster's catalogs in every selected repository (see <see cref="OpenRepositoriesAsync"/>).</summary>
    public Task<CatalogSet> OpenCatalogsAsync(bool forWriting, Action<string> warn, CancellationToken ct) =>
        Context.OpenCatalogsAsync(forWriting, warn, ct);

    /// <summary>
    /// Initialises one selected repository (creating a filesystem repository's directory, mode
    /// 0700); encrypted when the configuration has a passphrase and the repository does not opt out.
    /// </summary>
    public async Task<Repository.Repository> InitRepositoryAsync(RepositoryConfig config, CancellationToken ct)
    {
        if (config.Type == "filesystem" && !Directory.Exists(config.Path))
            Directory.CreateDirectory(config.Path!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return await Repository.Repository.InitAsync(OpenStore(config), config.PassphraseFor(Passphrase), ct).ConfigureAwait(false);
    }

    private static IObjectStore OpenStore(RepositoryConfig config) => VaultContext.OpenStore(config);

    /// <summary>The clear "no repository configured" error when nothing is selected.</summary>
    public void RequireRepository()
    {
        if (Repositories.Count == 0) Context.SingleRepository();
    }

}
