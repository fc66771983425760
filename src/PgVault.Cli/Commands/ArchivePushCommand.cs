using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Config;
using PgVault.Core.Wal;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault archive-push %p`: PostgreSQL's archive_command. Exit 0 only once the file is durable
/// in every repository (or was already there with the same content).
/// </summary>
internal static class ArchivePushCommand
{
    private static readonly Argument<string> WalPath = new("path") { Description = "The WAL file (%p in archive_command)" };

    public static Command Build()
    {
        var command = new Command("archive-push", "Archive one WAL file into every repository (archive_command = 'pgvault archive-push %p')") { WalPath };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        string path = result.GetValue(WalPath)!;
        var repositories = await context.OpenRepositoriesAsync(forWriting: true, renderer.Warn, ct).ConfigureAwait(false);
        var archive = new WalArchive(repositories, context.Cluster.Name, new WarnOnly(renderer));
        var pushed = await archive.PushAsync(path, context.Archive.Compression, ct).ConfigureAwait(false);
        if (renderer.Verbose)
        {
            renderer.Line(pushed.Written.Count > 0
                ? $"archived {pushed.FileName} into {string.Join(", ", pushed.Written)}"
                : $"{pushed.FileName} was already archived with the same content");
        }
        return 0;
    }
}
