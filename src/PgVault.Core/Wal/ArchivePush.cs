using System.Diagnostics;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Wal;

/// <summary>What `pgvault archive-push %p` was asked for.</summary>
public sealed record ArchivePushOptions(string WalPath);

/// <summary>
/// The outcome of one archive-push: <see cref="Pushed"/> when it was pushed in this process,
/// null when asynchronous archiving had (or now has) it in the spool's done list.
/// </summary>
public sealed record ArchivePushResult(string FileName, PushResult? Pushed);

/// <summary>
/// archive_command: the file is durable in every repository (or already there with the same
/// content) before this returns. With archive_async the background worker pushes ahead and this
/// waits for its word (<see cref="AsyncArchiver"/>), starting the worker when none runs.
/// </summary>
public sealed class ArchivePush(Vault.Vault vault, IProgressSink progress)
{
    public async Task<ArchivePushResult> RunAsync(ArchivePushOptions options, CancellationToken ct)
    {
        var settings = vault.Settings.Archive;
        string name = Path.GetFileName(options.WalPath);
        if (settings.Async)
        {
            if (WalFileName.TryParse(name) is null)
                throw PgVaultException.Usage($"'{name}' is not the name of a WAL file", "use archive_command = 'pgvault archive-push %p'");
            string pgWal = Path.GetDirectoryName(Path.GetFullPath(options.WalPath))!;
            var spool = new AsyncArchiver(settings.SpoolFor(vault.Cluster.Name));
            await spool.WaitAsync(name, () => StartWorker(pgWal), TimeSpan.FromSeconds(settings.TimeoutSeconds), ct).ConfigureAwait(false);
            return new ArchivePushResult(name, null);
        }
        var repositories = await vault.OpenRepositoriesAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        TraceTiming.Mark("repositories opened (descriptor read, key unwrapped when encrypted)");
        var pushed = await new WalArchive(repositories, vault.Cluster.Name, progress).PushAsync(options.WalPath, settings.Compression, ct).ConfigureAwait(false);
        return new ArchivePushResult(pushed.FileName, pushed);
    }

    /// <summary>The background worker of asynchronous archiving (hidden command archive-push-worker); runs until idle.</summary>
    public async Task RunWorkerAsync(string pgWal, CancellationToken ct)
    {
        var settings = vault.Settings.Archive;
        var repositories = await vault.OpenRepositoriesAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        var archive = new WalArchive(repositories, vault.Cluster.Name, progress);
        await new AsyncArchiver(settings.SpoolFor(vault.Cluster.Name))
            .RunWorkerAsync(pgWal, archive, settings.Compression, settings.AsyncProcesses, TimeSpan.FromSeconds(5), progress, ct).ConfigureAwait(false);
    }

    /// <summary>Starts the background worker with the same selection; it outlives this process.</summary>
    private Process? StartWorker(string pgWal)
    {
        var invocation = ArchiveSetup.WalInvocation();
        var psi = new ProcessStartInfo(invocation[0]) { UseShellExecute = false };
        foreach (var arg in invocation.Skip(1).Concat(vault.SelectionArguments()).Concat(["archive-push-worker", "--pg-wal", pgWal]))
            psi.ArgumentList.Add(arg);
        return Process.Start(psi);
    }
}
