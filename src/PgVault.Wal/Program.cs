using System.CommandLine;
using PgVault.Cli.Commands;
using PgVault.Cli.Infrastructure;

namespace PgVault.Wal;

/// <summary>
/// pgvault-wal: archive-push (and its asynchronous worker) and archive-get, exactly as pgvault runs
/// them: the same command classes, options, messages and exit codes. Nothing else is linked in, so
/// PostgreSQL's archiver and recovery start a much smaller program for every WAL file.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        PgVault.Core.TraceTiming.Mark("main entered");
        PgVault.Core.IO.Allocator.Configure();
        var root = new RootCommand("pgvault-wal: the WAL commands of PgVault for archive_command and restore_command (everything else: pgvault)");
        foreach (var command in ArchivePushCommand.Build()) root.Subcommands.Add(command);
        root.Subcommands.Add(ArchiveGetCommand.Build());
        return await Entry.RunAsync("pgvault-wal", root, args).ConfigureAwait(false);
    }
}
