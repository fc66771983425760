using System.CommandLine;
using PgVault.Cli.Commands;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Errors;

namespace PgVault.Cli;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        PgVault.Core.TraceTiming.Mark("main entered");
        PgVault.Core.IO.Allocator.Configure();
        var root = new RootCommand("PgVault: backup and recovery for PostgreSQL (logical backups, WAL archiving, a catalog, encrypted repositories)");
        Globals.AddTo(root);
        root.Subcommands.Add(RepoCommand.Build());
        root.Subcommands.Add(BackupCommand.Build());
        root.Subcommands.Add(RestoreCommand.Build());
        root.Subcommands.Add(ListCommand.Build());
        root.Subcommands.Add(InfoCommand.Build());
        foreach (var command in ArchivePushCommand.Build()) root.Subcommands.Add(command);
        root.Subcommands.Add(ArchiveGetCommand.Build());
        root.Subcommands.Add(WalStreamCommand.Build());
        root.Subcommands.Add(SetupCommand.Build());
        root.Subcommands.Add(CheckCommand.Build());
        root.Subcommands.Add(VerifyCommand.Build());
        root.Subcommands.Add(RestorePointCommand.Build());
        root.Subcommands.Add(ExpireCommand.Build());
        root.Subcommands.Add(DeleteCommand.Build());
        root.Subcommands.Add(KeepCommand.Build());
        root.Subcommands.Add(ReportCommand.Build());
        root.Subcommands.Add(DrillCommand.Build());
        root.Subcommands.Add(StatusCommand.Build());
        root.Subcommands.Add(DaemonCommand.Build());
        root.Subcommands.Add(AlertCommand.Build());
        root.Subcommands.Add(DemoCommand.Build());
        var parsed = root.Parse(args);
        PgVault.Core.TraceTiming.Mark("commands built, arguments parsed");
        if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            string hint = $"see 'pgvault {string.Join(' ', CommandPath(parsed))} --help'".Replace("  ", " ", StringComparison.Ordinal);
            new Renderer(WantsJson(parsed), verbose: false).Fail(ErrorCode.Usage, parsed.Errors[0].Message, hint);
            return (int)ErrorCode.Usage.Kind();
        }
        // Our actions handle SIGINT/SIGTERM themselves (to clean up), so the parser must not.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
    }

    /// <summary>--output json, when the parser got that far (any other value reads as text).</summary>
    private static bool WantsJson(ParseResult parsed) =>
        parsed.GetResult(Globals.Output)?.Tokens is [.., var last] && last.Value == "json";

    private static IEnumerable<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var c = parsed.CommandResult; c != null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
        {
            if (c.Command is not RootCommand) names.Insert(0, c.Command.Name);
        }
        return names;
    }
}
