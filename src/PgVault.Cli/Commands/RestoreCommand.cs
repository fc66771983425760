using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Logical;
using PgVault.Core.Physical;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault restore`: restore a database of a logical backup (into a new database by default).</summary>
internal static class RestoreCommand
{
    private static readonly Option<string> Backup = new("--backup", "-b") { Description = "Backup id, or 'latest'; without it a physical restore to a time, LSN or restore point takes the newest backup that ended before the target", DefaultValueFactory = _ => "latest" };
    private static readonly Option<string?> Db = new("--db", "-d") { Description = "Target database (created when missing; default <db>_restored_<timestamp>)" };
    private static readonly Option<string?> SourceDb = new("--source-db") { Description = "Database of the backup to restore, when it holds several" };
    private static readonly Option<string[]> Table = new("--table", "-t") { Description = "Restore only this table (repeatable)" };
    private static readonly Option<string[]> Schema = new("--schema", "-n") { Description = "Restore only this schema (repeatable)" };
    private static readonly Option<bool> SchemaOnly = new("--schema-only") { Description = "Restore only the object definitions" };
    private static readonly Option<bool> DataOnly = new("--data-only") { Description = "Restore only the data (triggers disabled while loading)" };
    private static readonly Option<int> Jobs = new("--jobs", "-j") { Description = "Parallel pg_restore jobs", DefaultValueFactory = _ => 1 };
    private static readonly Option<bool> RestoreGlobals = new("--globals") { Description = "Also restore roles and tablespaces from the backup (existing ones are kept)" };
    private static readonly Option<bool> Clean = new("--clean") { Description = "Allow a non-empty target: drop its objects that the backup recreates" };

    // Physical restore (a full, diff or incr backup into a data directory).
    private static readonly Option<string?> PgData = new("--pgdata", "-D") { Description = "Physical restore: rebuild this data directory from a full/diff/incr backup (must be empty unless --delta or --force)" };
    private static readonly Option<bool> Delta = new("--delta") { Description = "Physical: reuse a non-empty DIR, rewriting only files whose checksum differs and removing files the backup does not have" };
    private static readonly Option<bool> Force = new("--force") { Description = "Physical: empty a non-empty DIR (and tablespace directories) and restore everything" };
    private static readonly Option<int?> Parallel = new("--parallel") { Description = "Physical: files restored at once (default: the cluster's parallel, else 2)" };
    private static readonly Option<bool> Plan = new("--plan") { Description = "Physical: print what the restore would do (backup chain, WAL range, bytes, disk) and change nothing" };
    private static readonly Option<string?> TargetTime = new("--target-time") { Description = "Physical: recover up to this time (e.g. '2026-11-23 14:30:00+00'; UTC when no offset is given)" };
    private static readonly Option<string?> TargetXid = new("--target-xid") { Description = "Physical: recover up to this transaction id" };
    private static readonly Option<string?> TargetLsn = new("--target-lsn") { Description = "Physical: recover up to this WAL location (e.g. 0/3000028)" };
    private static readonly Option<string?> TargetName = new("--target-name") { Description = "Physical: recover up to this restore point (see 'pgvault list --restore-points')" };
    private static readonly Option<string?> Target = new("--target") { Description = "Physical: 'immediate' = stop as soon as the backup is consistent" };
    private static readonly Option<bool> TargetExclusive = new("--target-exclusive") { Description = "Physical: stop just before the target time/xid/LSN instead of just after it" };
    private static readonly Option<string?> TargetAction = new("--target-action") { Description = "Physical: what the server does at the target: promote, pause (PostgreSQL's default) or shutdown" };
    private static readonly Option<string?> TargetTimeline = new("--target-timeline") { Description = "Physical: latest (default), current, or a timeline number" };
    private static readonly Option<string> RestoreType = new("--type") { Description = "Physical: default (recovery.signal) or standby (standby.signal: follow a primary)", DefaultValueFactory = _ => "default" };
    private static readonly Option<string?> PrimaryConninfo = new("--primary-conninfo") { Description = "Physical, --type standby: primary_conninfo of the standby (no password: use ~/.pgpass)" };
    private static readonly Option<string[]> TablespaceMap = new("--tablespace-map") { Description = "Physical: OID_OR_NAME=/new/path puts a tablespace elsewhere (repeatable)" };
    private static readonly Option<string> ArchiveMode = new("--archive-mode") { Description = "Physical: preserve the backup's archive_mode, or off (a restored copy does not archive into the same cluster)", DefaultValueFactory = _ => "preserve" };

    public static Command Build()
    {
        var command = new Command("restore", "Restore a logical backup into a database (a new one unless --db names one), or with --pgdata a physical backup into a data directory, with point-in-time recovery")
        {
            Backup, Db, SourceDb, Table, Schema, SchemaOnly, DataOnly, Jobs, RestoreGlobals, Clean,
            PgData, Delta, Force, Parallel, Plan, TargetTime, TargetXid, TargetLsn, TargetName, Target, TargetExclusive, TargetAction, TargetTimeline,
            RestoreType, PrimaryConninfo, TablespaceMap, ArchiveMode,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    /// <summary>pg_restore into a database: what only a logical restore takes.</summary>
    private static readonly ModeBinder<LogicalRestoreOptions> Logical = new(
        [Db, SourceDb, Table, Schema, SchemaOnly, DataOnly, Jobs, RestoreGlobals, Clean],
        (flag, _) => $"{flag.Name} applies to logical restores; --pgdata restores a whole cluster",
        (result, _) => new LogicalRestoreOptions
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
        });

    /// <summary>--pgdata DIR: what only a physical restore takes.</summary>
    private static readonly ModeBinder<PhysicalRestoreOptions> Physical = new(
        [Delta, Force, Parallel, Plan, TargetTime, TargetXid, TargetLsn, TargetName, Target, TargetExclusive, TargetAction, TargetTimeline, RestoreType, PrimaryConninfo, TablespaceMap, ArchiveMode],
        (flag, _) => $"{flag.Name} applies to a physical restore: pass --pgdata DIR",
        (result, vault) => new PhysicalRestoreOptions
        {
            BackupId = result.GetResult(Backup) is { Implicit: false } ? result.GetValue(Backup) : null,
            PgData = result.GetValue(PgData)!,
            Delta = result.GetValue(Delta),
            Force = result.GetValue(Force),
            Parallel = vault.Settings.Parallel(result.GetValue(Parallel)),
            Plan = result.GetValue(Plan),
            TargetTime = result.GetValue(TargetTime),
            TargetXid = result.GetValue(TargetXid),
            TargetLsn = result.GetValue(TargetLsn),
            TargetName = result.GetValue(TargetName),
            Target = result.GetValue(Target),
            TargetExclusive = result.GetValue(TargetExclusive),
            TargetAction = result.GetValue(TargetAction),
            TargetTimeline = result.GetValue(TargetTimeline),
            Type = result.GetValue(RestoreType)!,
            PrimaryConninfo = result.GetValue(PrimaryConninfo),
            TablespaceMap = result.GetValue(TablespaceMap) ?? [],
            ArchiveMode = result.GetValue(ArchiveMode)!,
        }.Validate());

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        if (result.GetValue(PgData) != null) return await RunPhysicalAsync(result, vault, renderer, ct).ConfigureAwait(false);
        var options = Logical.Bind(result, vault, Physical);
        options.Validate();
        var outcome = await renderer.WithProgressAsync(progress => new LogicalRestore(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
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

    private static async Task<int> RunPhysicalAsync(ParseResult result, Vault vault, Renderer renderer, CancellationToken ct)
    {
        var options = Physical.Bind(result, vault, Logical);
        var outcome = await renderer.WithProgressAsync(progress => new PhysicalRestore(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(outcome, CliJson.Default.RestoreOutcome);
            return 0;
        }
        var plan = outcome.Plan;
        string target = plan.TargetKind switch { null => $"the end of the archive (at most LSN {plan.WalEndLsn}, the end of {plan.WalTo})", "immediate" => "the end of the backup (immediate)", var kind => $"{kind} {plan.TargetValue}" };
        if (!outcome.Executed)
        {
            renderer.Line($"plan: restore backup {plan.BackupId} ({plan.BackupType}) into {plan.PgData} ({plan.Mode})");
            renderer.Line($"  chain        {string.Join(" <- ", plan.Chain)}");
            renderer.Line($"  files        {plan.Files}, {Units.Bytes(plan.BytesToRead)} to read from the repository, {Units.Bytes(plan.DiskNeeded)} of disk needed{(plan.Mode == "delta" ? " (at most: unchanged files are kept)" : "")}");
            foreach (var t in plan.Tablespaces) renderer.Line($"  tablespace   {t.Name} ({t.Oid}) -> {t.Location}");
            renderer.Line($"  WAL          {plan.WalFrom} .. {plan.WalTo} ({plan.WalSegments} segments, all in the archive and intact), timeline {plan.TargetTimeline}");
            renderer.Line($"  recovery     to {target}");
            renderer.Line("nothing was changed");
            return 0;
        }
        renderer.Line($"restored backup {plan.BackupId} into {plan.PgData}: {outcome.FilesWritten} files written ({Units.Bytes(outcome.BytesWritten)})" +
            (plan.Mode == "delta" ? $", {outcome.FilesUnchanged} unchanged, {outcome.FilesRemoved} removed" : "") +
            $" in {Units.Duration(outcome.DurationSeconds)}; recovery to {target} when the server starts");
        return 0;
    }
}
