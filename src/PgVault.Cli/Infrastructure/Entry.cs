using System.CommandLine;
using PgVault.Core.Errors;

namespace PgVault.Cli.Infrastructure;

/// <summary>
/// What both executables do with their command tree (pgvault, and pgvault-wal with the WAL commands
/// only): parse, turn a usage error into one line and the usage exit code, else run the command.
/// </summary>
internal static class Entry
{
    /// <summary>
    /// Main of <paramref name="program"/>: process set-up (allocator), a root command described by
    /// <paramref name="description"/> with the <paramref name="commands"/>, then parse and run.
    /// </summary>
    public static async Task<int> RunAsync(string program, string description, IEnumerable<Command> commands, string[] args)
    {
        PgVault.Core.TraceTiming.Mark("main entered");
        PgVault.Core.IO.Allocator.Configure();
        PgVault.Core.IO.SignalMask.UnblockTermination();
        var root = new RootCommand(description);
        foreach (var command in commands) root.Subcommands.Add(command);
        Globals.AddTo(root);
        var parsed = root.Parse(args);
        PgVault.Core.TraceTiming.Mark("commands built, arguments parsed");
        if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            string hint = $"see '{program} {string.Join(' ', CommandPath(parsed))} --help'".Replace("  ", " ", StringComparison.Ordinal);
            // "Unrecognized command or argument 'x'" says more than "Required command was not provided".
            var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            new Renderer(WantsJson(parsed), verbose: false).Fail(ErrorCode.Usage, error.Message, hint);
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
