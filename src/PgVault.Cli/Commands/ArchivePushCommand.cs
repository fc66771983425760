using System.CommandLine;
using System.Diagnostics;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Config;
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
        var context = VaultContext.Resolve(Globals.Read(result));
        string path = result.GetValue(WalPath)!;
        var settings = context.Archive;
        if (settings.Async)
        {
            string name = Path.GetFileName(path);
            if (WalFileName.TryParse(name) is null)
                throw Core.Errors.PgVaultException.Usage($"'{name}' is not the name of a WAL file", "use archive_command = 'pgvault archive-push %p'");
            string pgWal = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var spool = new AsyncArchiver(settings.SpoolFor(context.Cluster.Name));
            await spool.WaitAsync(name, () => StartWorker(context, pgWal), TimeSpan.FromSeconds(settings.TimeoutSeconds), ct).ConfigureAwait(false);
            return 0;
        }
        var repositories = await context.OpenRepositoriesAsync(forWriting: true, renderer.Warn, ct).ConfigureAwait(false);
        var archive = new WalArchive(repositories, context.Cluster.Name, new WarnOnly(renderer));
        var pushed = await archive.PushAsync(path, settings.Compression, ct).ConfigureAwait(false);
        if (renderer.Verbose)
        {
            renderer.Line(pushed.Written.Count > 0
                ? $"archived {pushed.FileName} into {string.Join(", ", pushed.Written)}"
                : $"{pushed.FileName} was already archived with the same content");
        }
        return 0;
    }

    private static async Task<int> WorkerAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var settings = context.Archive;
        var repositories = await context.OpenRepositoriesAsync(forWriting: true, renderer.Warn, ct).ConfigureAwait(false);
        var progress = new WarnOnly(renderer);
        var archive = new WalArchive(repositories, context.Cluster.Name, progress);
        await new AsyncArchiver(settings.SpoolFor(context.Cluster.Name))
            .RunWorkerAsync(result.GetValue(PgWal)!, archive, settings.Compression, settings.AsyncProcesses, TimeSpan.FromSeconds(5), progress, ct).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Starts the background worker with the same configuration; it outlives this process.</summary>
    private static Process? StartWorker(VaultContext context, string pgWal)
    {
        var invocation = ArchiveSetup.SelfInvocation();
        var psi = new ProcessStartInfo(invocation[0]) { UseShellExecute = false };
        foreach (var arg in invocation.Skip(1).Concat(context.SelectionArguments()).Concat(["archive-push-worker", "--pg-wal", pgWal]))
            psi.ArgumentList.Add(arg);
        return Process.Start(psi);
    }
}
