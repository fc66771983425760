using System.CommandLine;
using PgVault.Cli.Commands;
using PgVault.Cli.Infrastructure;

namespace PgVault.Cli;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        PgVault.Core.TraceTiming.Mark("main entered");
        PgVault.Core.IO.Allocator.Configure();
        var root = new RootCommand("PgVault: backup and recovery for PostgreSQL (logical backups, WAL archiving, a catalog, encrypted repositories)");
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
        return await Entry.RunAsync("pgvault", root, args).ConfigureAwait(false);
    }
}
