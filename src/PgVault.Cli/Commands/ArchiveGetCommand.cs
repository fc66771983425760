using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Config;
using PgVault.Core.Wal;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault archive-get %f %p`: PostgreSQL's restore_command. Exit 0 with the file in place, or
/// exit 1 without a word when the archive does not have it (PostgreSQL asks past the end).
/// </summary>
internal static class ArchiveGetCommand
{
    private static readonly Argument<string> FileName = new("file") { Description = "WAL file name (%f in restore_command)" };
    private static readonly Argument<string> Destination = new("destination") { Description = "Where to write it (%p in restore_command)" };

    public static Command Build()
    {
        var command = new Command("archive-get", "Fetch one WAL file from the archive (restore_command = 'pgvault archive-get %f %p'); exit 1 when it is not archived")
        {
            FileName, Destination,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var repositories = await context.OpenRepositoriesAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false);
        var archive = new WalArchive(repositories, context.Cluster.Name, new WarnOnly(renderer));
        return await archive.GetAsync(result.GetValue(FileName)!, result.GetValue(Destination)!, ct).ConfigureAwait(false) ? 0 : 1;
    }
}
