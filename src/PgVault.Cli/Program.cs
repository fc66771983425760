using PgVault.Cli.Commands;
using PgVault.Cli.Infrastructure;

namespace PgVault.Cli;

internal static class Program
{
    public static Task<int> Main(string[] args) => Entry.RunAsync("pgvault",
        "PgVault: backup and recovery for PostgreSQL (logical backups, WAL archiving, a catalog, encrypted repositories)",
        [
            RepoCommand.Build(),
            BackupCommand.Build(),
            RestoreCommand.Build(),
            ListCommand.Build(),
            InfoCommand.Build(),
            .. ArchivePushCommand.Build(),
            ArchiveGetCommand.Build(),
            WalStreamCommand.Build(),
            SetupCommand.Build(),
            CheckCommand.Build(),
            VerifyCommand.Build(),
            RestorePointCommand.Build(),
            ExpireCommand.Build(),
            DeleteCommand.Build(),
            KeepCommand.Build(),
            ReportCommand.Build(),
            DrillCommand.Build(),
            StatusCommand.Build(),
            DaemonCommand.Build(),
            AlertCommand.Build(),
            DemoCommand.Build(),
        ], args);
}
