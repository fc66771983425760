using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Logical;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault restore`: restore a database of a logical backup (into a new database by default).</summary>
internal static class RestoreCommand
{
    private static readonly Option<string> Backup = new("--backup", "-b") { Description = "Backup id, or 'latest'", DefaultValueFactory = _ => "latest" };
    private static readonly Option<string?> Db = new("--db", "-d") { Description = "Target database (created when missing; default <db>_restored_<timestamp>)" };
    private static readonly Option<string?> SourceDb = new("--source-db") { Description = "Database of the backup to restore, when it holds several" };
    private static readonly Option<string[]> Table = new("--table", "-t") { Description = "Restore only this table (repeatable)" };
    private static readonly Option<string[]> Schema = new("--schema", "-n") { Description = "Restore only this schema (repeatable)" };
    private static readonly Option<bool> SchemaOnly = new("--schema-only") { Description = "Restore only the object definitions" };
    private static readonly Option<bool> DataOnly = new("--data-only") { Description = "Restore only the data (triggers disabled while loading)" };
    private static readonly Option<int> Jobs = new("--jobs", "-j") { Description = "Parallel pg_restore jobs", DefaultValueFactory = _ => 1 };
    private static readonly Option<bool> RestoreGlobals = new("--globals") { Description = "Also restore roles and tablespaces from the backup (existing ones are kept)" };
    private static readonly Option<bool> Clean = new("--clean") { Description = "Allow a non-empty target: drop its objects that the backup recreates" };

    public static Command Build()
    {
        var command = new Command("restore", "Restore a database of a logical backup, into a new database unless --db names one")
        {
            Backup, Db, SourceDb, Table, Schema, SchemaOnly, DataOnly, Jobs, RestoreGlobals, Clean,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var options = new LogicalRestoreOptions
        {
            BackupId = result.GetValue(Backup)!,
            TargetDatabase = result.GetValue(Db),
            SourceDatabase = result.GetValue(SourceDb),
            Tables = result.GetValue(Table) ?? [],
            Schemas = result.GetValue(Schema) ?? [],
            SchemaOnly = result.GetValue(SchemaOnly),
            DataOnly = result.GetValue(DataOnly),
            Jobs = result.GetValue(Jobs),
            Globals = result.GetValue(RestoreGlobals),
            Clean = result.GetValue(Clean),
        };
        options.Validate();
        var sources = await context.OpenCatalogsAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false);
        var outcome = await renderer.WithProgressAsync(progress =>
            new LogicalRestore(sources, context.Connection, new ToolLocator(context.Cluster.BinDir), progress).RunAsync(options, ct)).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(new RestoreSummary(outcome.BackupId, outcome.SourceDatabase, outcome.TargetDatabase, outcome.CreatedDatabase, outcome.GlobalsRestored,
                Math.Round(outcome.DurationSeconds, 3)), CliJson.Default.RestoreSummary);
        }
        else
        {
            if (outcome.GlobalsRestored) renderer.Line($"restored cluster globals of backup {outcome.BackupId}");
            if (outcome.TargetDatabase != null)
                renderer.Line($"restored database {outcome.SourceDatabase} of backup {outcome.BackupId} into database {outcome.TargetDatabase} in {Units.Duration(outcome.DurationSeconds)}");
        }
        return 0;
    }
}
