using System.Text;

namespace PgVault.Tests.Infrastructure;

/// <summary>
/// A temp directory with a repository directory and a config file pointing at a test cluster;
/// <see cref="RunAsync"/> runs the CLI with that config. Removed on dispose.
/// </summary>
public sealed class Workspace : IDisposable
{
    public Workspace(ClusterFixture cluster, bool encrypted = false, string? extraClusterYaml = null, string passphrase = "correct horse battery staple",
        string? extraRepositoriesYaml = null)
    {
        Root = Directory.CreateTempSubdirectory("pgvault-test-").FullName;
        RepoPath = Path.Combine(Root, "repo");
        Directory.CreateDirectory(RepoPath);
        PassphraseFile = Path.Combine(Root, "passphrase");
        File.WriteAllText(PassphraseFile, passphrase + "\n");
        File.SetUnixFileMode(PassphraseFile, UnixFileMode.UserRead | UnixFileMode.UserWrite); // as root, anything wider is refused
        ConfigFile = Path.Combine(Root, "pgvault.yaml");
        var yaml = new StringBuilder();
        yaml.AppendLine("repositories:");
        yaml.AppendLine("  - name: local");
        yaml.AppendLine($"    path: {RepoPath}");
        if (extraRepositoriesYaml != null) yaml.Append(extraRepositoriesYaml.Replace("$ROOT", Root, StringComparison.Ordinal));
        if (encrypted)
        {
            yaml.AppendLine("encryption:");
            yaml.AppendLine($"  passphrase_file: {PassphraseFile}");
        }
        yaml.AppendLine("clusters:");
        yaml.AppendLine("  main:");
        yaml.AppendLine($"    connection: {cluster.ConnectionString}");
        if (extraClusterYaml != null) yaml.Append(extraClusterYaml);
        File.WriteAllText(ConfigFile, yaml.ToString());
    }

    public string Root { get; }

    public string RepoPath { get; }

    public string ConfigFile { get; }

    public string PassphraseFile { get; }

    public Task<CliResult> RunAsync(params string[] args) => PgVaultCli.RunAsync(["--config", ConfigFile, .. args]);

    /// <summary>Runs and asserts exit 0, returning the result.</summary>
    public async Task<CliResult> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        if (result.ExitCode != 0) throw new Xunit.Sdk.XunitException($"pgvault {string.Join(' ', args)} failed:\n{result}");
        return result;
    }

    public async Task InitAsync() => await OkAsync("repo", "init");

    /// <summary>Takes a backup with --output json and returns its id.</summary>
    public async Task<string> BackupAsync(params string[] args)
    {
        var result = await OkAsync(["backup", "--output", "json", .. args]);
        return result.Json.GetProperty("id").GetString()!;
    }

    public async Task<List<string>> ListIdsAsync(params string[] extra)
    {
        var result = await OkAsync(["list", "--output", "json", .. extra]);
        return result.Json.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
    }

    /// <summary>Every file below the repository's backups (to check nothing was left behind).</summary>
    public List<string> BackupFiles() =>
        Directory.Exists(Path.Combine(RepoPath, "clusters"))
            ? Directory.GetFiles(Path.Combine(RepoPath, "clusters"), "*", SearchOption.AllDirectories)
                .Where(f => f.Contains("/backups/", StringComparison.Ordinal)).ToList()
            : [];

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
