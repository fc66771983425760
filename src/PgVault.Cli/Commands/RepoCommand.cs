using System.CommandLine;
using PgVault.Core.Sync;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Repository;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault repo init | change-passphrase | sync | unlock`: create a repository, manage its key, copy, release a stale lock.</summary>
internal static class RepoCommand
{
    private static readonly Option<string?> NewPassphraseFile = new("--new-passphrase-file") { Description = "File holding the new passphrase" };
    private static readonly Option<string?> NewPassphraseEnv = new("--new-passphrase-env") { Description = "Environment variable holding the new passphrase" };
    private static readonly Option<string?> From = new("--from") { Description = "Copy only from this repository" };
    private static readonly Option<string?> To = new("--to") { Description = "Copy only into this repository" };
    private static readonly Option<bool> Force = new("--force") { Description = "Remove the lock even when its holder seems to run" };

    public static Command Build()
    {
        var init = new Command("init", "Create the repository (encrypted when the configuration has 'encryption:')");
        CommandRunner.SetAction(init, InitAsync);
        var change = new Command("change-passphrase",
            "Re-wrap the repository key under a new passphrase (from --new-passphrase-file, --new-passphrase-env or standard input); nothing is re-encrypted")
        {
            NewPassphraseFile, NewPassphraseEnv,
        };
        CommandRunner.SetAction(change, ChangePassphraseAsync);
        var sync = new Command("sync", "Copy into each repository the backups, WAL and restore points it lacks and another repository holds (--from/--to restrict the direction)")
        {
            From, To,
        };
        CommandRunner.SetAction(sync, SyncAsync);
        var upgrade = new Command("upgrade",
            "Bring every selected repository to the current format (format 1 -> 2: encrypted objects re-encrypted bound to their names, descriptor authenticated); safe to interrupt and run again");
        CommandRunner.SetAction(upgrade, UpgradeAsync);
        var unlock = new Command("unlock", "Remove the repository lock of the cluster left by a process that is gone (refuses a running holder without --force)")
        {
            Force,
        };
        CommandRunner.SetAction(unlock, UnlockAsync);
        return new Command("repo", "Manage repositories") { init, change, sync, upgrade, unlock };
    }

    /// <summary>Initialises every selected repository that is not initialised yet.</summary>
    private static async Task<int> InitAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        vault.RequireRepository();
        _ = vault.Passphrase; // a passphrase that cannot be read fails before any directory is made
        var summaries = new List<RepoSummary>();
        PgVaultException? already = null;
        foreach (var config in vault.Repositories)
        {
            Repository repository;
            try
            {
                repository = await vault.InitRepositoryAsync(config, ct).ConfigureAwait(false);
            }
            catch (PgVaultException e) when (e.Code == ErrorCode.RepositoryAlreadyInitialised)
            {
                already ??= e;
                if (vault.Repositories.Count > 1) renderer.Warn(e.Message);
                continue;
            }
            summaries.Add(new RepoSummary(repository.Name, repository.Store.Location, repository.Descriptor.Format, repository.Encrypted, "initialised"));
            if (!renderer.Json)
                renderer.Line($"repository '{repository.Name}' initialised at {repository.Store.Location} (format {repository.Descriptor.Format}, {(repository.Encrypted ? "encrypted with AES-256-GCM" : "not encrypted")})");
        }
        if (summaries.Count == 0 && already != null) throw already;
        if (renderer.Json) renderer.WriteJson(summaries, CliJson.Default.ListRepoSummary);
        return 0;
    }

    private static async Task<int> SyncAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var options = new SyncOptions(result.GetValue(From), result.GetValue(To));
        var copied = (await renderer.WithProgressAsync(progress => new RepositorySync(vault, progress).RunAsync(options, ct)).ConfigureAwait(false)).Copied;
        if (renderer.Json)
        {
            renderer.WriteJson(copied.ToList(), CliJson.Default.ListSyncedBackup);
            return 0;
        }
        if (copied.Count == 0) renderer.Line("every repository already holds every backup");
        foreach (var c in copied) renderer.Line($"copied backup {c.Id} of cluster '{c.Cluster}' from '{c.From}' to '{c.To}' ({Units.Bytes(c.StoredBytes)} stored)");
        return 0;
    }

    private static async Task<int> UpgradeAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var repositories = await vault.OpenRepositoriesAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false);
        var summaries = new List<RepoSummary>();
        foreach (var repository in repositories)
        {
            int from = repository.Descriptor.Format;
            var (upgraded, rewritten) = await repository.UpgradeAsync(vault.Passphrase, m => Console.Error.WriteLine("pgvault: " + m), ct).ConfigureAwait(false);
            string action = from == upgraded.Descriptor.Format ? "already current" : $"upgraded from format {from} ({rewritten} objects rewritten)";
            summaries.Add(new RepoSummary(upgraded.Name, upgraded.Store.Location, upgraded.Descriptor.Format, upgraded.Encrypted, action));
            if (!renderer.Json) renderer.Line($"repository '{upgraded.Name}': format {upgraded.Descriptor.Format}, {action}");
        }
        if (renderer.Json) renderer.WriteJson(summaries, CliJson.Default.ListRepoSummary);
        return 0;
    }

    private static async Task<int> UnlockAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var repositories = await vault.OpenRepositoriesAsync(forWriting: true, renderer.Warn, ct).ConfigureAwait(false);
        string cluster = vault.Cluster.Name;
        var summaries = new List<RepoSummary>();
        foreach (var repository in repositories)
        {
            var removed = await RepositoryLock.UnlockAsync(repository, cluster, result.GetValue(Force), ct).ConfigureAwait(false);
            string action = removed is null ? $"cluster '{cluster}' is not locked" : $"removed the lock of cluster '{cluster}' held by {removed}";
            summaries.Add(new RepoSummary(repository.Name, repository.Store.Location, repository.Descriptor.Format, repository.Encrypted, action));
            if (!renderer.Json) renderer.Line($"repository '{repository.Name}': {action}");
        }
        if (renderer.Json) renderer.WriteJson(summaries, CliJson.Default.ListRepoSummary);
        return 0;
    }

    private static async Task<int> ChangePassphraseAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        string newPassphrase = ReadNewPassphrase(result);
        var repository = await vault.OpenRepositoryAsync(ct).ConfigureAwait(false);
        repository = await repository.ChangePassphraseAsync(newPassphrase, ct).ConfigureAwait(false);
        if (renderer.Json)
            renderer.WriteJson(new RepoSummary(repository.Name, repository.Store.Location, repository.Descriptor.Format, true, "passphrase changed"), CliJson.Default.RepoSummary);
        else
            renderer.Line($"repository '{repository.Name}': passphrase changed; point encryption.passphrase_file or passphrase_env at the new passphrase now");
        return 0;
    }

    private static string ReadNewPassphrase(ParseResult result)
    {
        string? value;
        if (result.GetValue(NewPassphraseFile) is { } file)
        {
            value = Passphrase.Resolve(new EncryptionConfig(file, null));
        }
        else if (result.GetValue(NewPassphraseEnv) is { } env)
        {
            value = Passphrase.Resolve(new EncryptionConfig(null, env));
        }
        else if (Console.IsInputRedirected)
        {
            value = Console.In.ReadLine()?.TrimEnd('\r');
        }
        else
        {
            throw PgVaultException.Usage("no new passphrase given", "pass --new-passphrase-file FILE or --new-passphrase-env VAR, or pipe it on standard input");
        }
        if (string.IsNullOrEmpty(value) || value.Length < 8)
            throw PgVaultException.Usage("the new passphrase is shorter than 8 characters");
        return value;
    }
}
