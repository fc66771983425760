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
    public static Task<int> Main(string[] args) => Entry.RunAsync("pgvault-wal",
        "pgvault-wal: the WAL commands of PgVault for archive_command and restore_command (everything else: pgvault)",
        [.. ArchivePushCommand.Build(), ArchiveGetCommand.Build()], args);
}
