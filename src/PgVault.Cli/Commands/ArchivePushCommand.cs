using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Vault;
using PgVault.Core.Wal;
using PgVault.Core.PostgreSql;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault archive-push %p`: PostgreSQL's archive_command. Exit 0 only once the file is durable
/// in every repository (or was already there with the same content). With archive_async the
/// pushing is done ahead of time by a background worker (hidden command archive-push-worker).
/// </summary>
internal static class ArchivePushCommand
{
    private static readonly Argument<string> WalPath = new("path") { Description = "The WAL file (%p in archive_command)" };
    private static readonly Option<string> PgWal = new("--pg-wal") { Description = "The pg_wal directory to archive from", Required = true };

    public static IEnumerable<Command> Build()
    {
        var command = new Command("archive-push", "Archive one WAL file into every repository (archive_command = 'pgvault archive-push %p')") { WalPath };
        CommandRunner.SetAction(command, RunAsync);
        yield return command;
        var worker = new Command("archive-push-worker", "Background worker of asynchronous archiving (started by archive-push)") { PgWal };
        worker.Hidden = true;
        CommandRunner.SetAction(worker, WorkerAsync);
        yield return worker;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        PgVault.Core.TraceTiming.Mark("configuration loaded");
        var pushed = (await new ArchivePush(vault, new WarnOnly(renderer)).RunAsync(new ArchivePushOptions(result.GetValue(WalPath)!), ct).ConfigureAwait(false)).Pushed;
        if (pushed != null && renderer.Verbose)
        {
            renderer.Line(pushed.Written.Count > 0
                ? $"archived {pushed.FileName} into {string.Join(", ", pushed.Written)}"
                : $"{pushed.FileName} was already archived with the same content");
        }
        return 0;
    }

    private static async Task<int> WorkerAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        await new ArchivePush(vault, new WarnOnly(renderer)).RunWorkerAsync(result.GetValue(PgWal)!, ct).ConfigureAwait(false);
        return 0;
    }
}
