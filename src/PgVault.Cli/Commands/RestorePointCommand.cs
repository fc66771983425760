using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Vault;
using PgVault.Core.Repository;
using PgVault.Core.Wal;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault restore-point NAME`: pg_create_restore_point, recorded in the catalog as a recovery target.</summary>
internal static class RestorePointCommand
{
    private static readonly Argument<string> Name = new("name") { Description = "Name of the restore point (a recovery target for --target-name)" };

    public static Command Build()
    {
        var command = new Command("restore-point", "Create a named restore point (pg_create_restore_point) and record it in the catalog") { Name };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var record = await new CreateRestorePoint(vault, new WarnOnly(renderer)).RunAsync(new RestorePointOptions(result.GetValue(Name)!), ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(record, RepositoryJson.Default.RestorePointRecord);
        else renderer.Line($"restore point '{record.Name}' at LSN {record.Lsn} on timeline {record.Timeline} ({record.Time:u})");
        return 0;
    }
}
