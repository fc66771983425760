using System.CommandLine;
using PgVault.Core.Config;

namespace PgVault.Cli.Infrastructure;

/// <summary>The options every command takes (recursive on the root command).</summary>
internal static class Globals
{
    public static readonly Option<string?> Config = new("--config")
    {
        Description = "Configuration file (default: $PGVAULT_CONFIG, else /etc/pgvault/pgvault.yaml)",
        Recursive = true,
    };

    public static readonly Option<string?> Cluster = new("--cluster")
    {
        Description = "Cluster from the configuration (may be omitted when it has one)",
        Recursive = true,
    };

    public static readonly Option<string?> Repo = new("--repo")
    {
        Description = "Restrict the command to this repository",
        Recursive = true,
    };

    public static readonly Option<string?> RepoPath = new("--repo-path")
    {
        Description = "Use a filesystem repository at this path instead of the configured ones",
        Recursive = true,
    };

    public static readonly Option<string?> Connection = new("--connection")
    {
        Description = "libpq connection string of the cluster (overrides the configuration; PG* variables apply)",
        Recursive = true,
    };

    public static readonly Option<string> Output = new("--output", "-o")
    {
        Description = "Output format: text or json",
        DefaultValueFactory = _ => "text",
        Recursive = true,
    };

    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "More detail, and stack traces on unexpected errors",
        Recursive = true,
    };

    static Globals()
    {
        Output.AcceptOnlyFromAmong("text", "json");
    }

    public static void AddTo(RootCommand root)
    {
        foreach (var option in new Option[] { Config, Cluster, Repo, RepoPath, Connection, Output, Verbose })
        {
            root.Options.Add(option);
        }
    }

    public static GlobalOptions Read(ParseResult result) => new(
        result.GetValue(Config),
        result.GetValue(Cluster),
        result.GetValue(Repo),
        result.GetValue(RepoPath),
        result.GetValue(Connection));

    public static bool Json(ParseResult result) => result.GetValue(Output) == "json";
}
