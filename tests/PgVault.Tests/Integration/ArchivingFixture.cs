using System.Diagnostics;
using PgVault.Core.Sandbox;
using PgVault.Tests.Infrastructure;

namespace PgVault.Tests.Integration;

/// <summary>
/// A cluster whose archive_command is `pgvault-wal archive-push %p` (what `setup archiving` writes) into a repository of its own
/// (owned by postgres, as in production), with the config file readable by the server.
/// </summary>
public class ArchivingFixture : ClusterFixture
{
    public ArchivingFixture()
    {
        Root = Directory.CreateTempSubdirectory("pgvault-archiving-").FullName;
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        RepoPath = Path.Combine(Root, "repo");
        Directory.CreateDirectory(RepoPath);
        ConfigFile = Path.Combine(Root, "pgvault.yaml");
        SpoolPath = Path.Combine(Root, "spool");
        Directory.CreateDirectory(SpoolPath);
        WriteConfig(null);
    }

    public string Root { get; }

    public string RepoPath { get; }

    public string ConfigFile { get; }

    public string SpoolPath { get; }

    /// <summary>Asynchronous archiving (archive_async) for this cluster.</summary>
    protected virtual bool Async => false;

    public string ArchiveCommand => PgVaultCli.WalShellCommand("--config", ConfigFile, "archive-push", "%p");

    protected override SandboxOptions Options => new()
    {
        Settings = new Dictionary<string, string>(ExtraSettings)
        {
            ["archive_mode"] = "on",
            ["archive_command"] = "'" + ArchiveCommand.Replace("'", "''", StringComparison.Ordinal) + "'",
            ["wal_level"] = "replica",
            ["max_wal_size"] = "256MB",
        },
    };

    /// <summary>More postgresql.conf settings of the cluster.</summary>
    protected virtual IReadOnlyDictionary<string, string> ExtraSettings => new Dictionary<string, string>();

    /// <summary>More repositories (YAML list items), written once the cluster runs.</summary>
    protected virtual string ExtraRepositoriesYaml => "";

    /// <summary>Top-level YAML appended to the configuration (e.g. an encryption section).</summary>
    protected virtual string ExtraYaml => "";

    /// <summary>More YAML lines under the cluster (indented by four spaces), written once the cluster runs.</summary>
    protected virtual string ExtraClusterYaml => "";

    public override async Task InitializeAsync()
    {
        await Chown("postgres:postgres", RepoPath, SpoolPath);
        var init = await PgVaultCli.RunAsync(["--config", ConfigFile, "repo", "init"]);
        if (init.ExitCode != 0) throw new InvalidOperationException(init.ToString());
        await Chown("-R", "postgres:postgres", RepoPath);
        await base.InitializeAsync();
        WriteConfig(ConnectionString);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }

    public Task<CliResult> RunAsync(params string[] args) => PgVaultCli.RunAsync(["--config", ConfigFile, .. args]);

    /// <summary>Segment names (24 hex digits) archived in the repository, sorted.</summary>
    public List<string> ArchivedSegments() =>
        Directory.Exists(Path.Combine(RepoPath, "clusters", "main", "wal"))
            ? Directory.GetFiles(Path.Combine(RepoPath, "clusters", "main", "wal"), "*", SearchOption.AllDirectories)
                .Select(Path.GetFileName).Where(n => n!.Length > 25 && n[24] == '-').Select(n => n![..24]).Distinct().Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>Forces a WAL switch and returns the name of the segment it closed.</summary>
    public Task<string> SwitchWalAsync() => ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_switch_wal())");

    /// <summary>Waits until pg_stat_archiver says <paramref name="segment"/> (or a later one) is archived.</summary>
    public async Task WaitArchivedAsync(string segment, int seconds = 90)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string? last = await ScalarAsync<object>("postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") as string;
            if (!string.IsNullOrEmpty(last) && string.CompareOrdinal(last, segment) >= 0) return;
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException($"segment {segment} not archived (last: {last})");
            await Task.Delay(100);
        }
    }

    private void WriteConfig(string? connection)
    {
        string text = $"repositories:\n  - name: local\n    path: {RepoPath}\n{(connection is null ? "" : ExtraRepositoriesYaml)}clusters:\n  main:\n" +
            (connection is null ? "    compression: zstd\n" : $"    connection: {connection}\n{ExtraClusterYaml}") +
            (Async ? $"    archive_async: true\n    spool_path: {SpoolPath}\n    archive_async_processes: 2\n" : "") + ExtraYaml;
        File.WriteAllText(ConfigFile, text);
        File.SetUnixFileMode(ConfigFile, (UnixFileMode)0b110_100_100);
    }

    internal static async Task Chown(params string[] args)
    {
        using var process = Process.Start("chown", args);
        await process.WaitForExitAsync();
    }
}
