using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Repository;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault repo init | change-passphrase`: create a repository and manage its key.</summary>
internal static class RepoCommand
{
    private static readonly Option<string?> NewPassphraseFile = new("--new-passphrase-file") { Description = "File holding the new passphrase" };
    private static readonly Option<string?> NewPassphraseEnv = new("--new-passphrase-env") { Description = "Environment variable holding the new passphrase" };

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
        return new Command("repo", "Manage repositories") { init, change };
    }

    private static async Task<int> InitAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var config = context.SingleRepository();
        string? passphrase = Passphrase.Resolve(context.Config.Encryption);
        if (config.Type == "filesystem" && !Directory.Exists(config.Path))
        {
            Directory.CreateDirectory(config.Path!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var repository = await Repository.InitAsync(VaultContext.OpenStore(config), passphrase, ct).ConfigureAwait(false);
        if (renderer.Json)
            renderer.WriteJson(new RepoSummary(repository.Name, repository.Store.Location, repository.Descriptor.Format, repository.Encrypted, "initialised"), CliJson.Default.RepoSummary);
        else
            renderer.Line($"repository '{repository.Name}' initialised at {repository.Store.Location} (format {repository.Descriptor.Format}, {(repository.Encrypted ? "encrypted with AES-256-GCM" : "not encrypted")})");
        return 0;
    }

    private static async Task<int> ChangePassphraseAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        string newPassphrase = ReadNewPassphrase(result);
        var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
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
