using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core.Alerts;
using PgVault.Core;
using PgVault.Core.Logical;
using PgVault.Core.Errors;
using PgVault.Core.Physical;
using PgVault.Core.Retention;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault backup`: take a backup (logical: pg_dump / pg_dumpall) into the repository.</summary>
internal static class BackupCommand
{
    private static readonly Option<string> Type = new("--type") { Description = "logical (pg_dump), or a physical backup of the data directory: full, diff (changes since the last full) or incr (changes since the last backup)", DefaultValueFactory = _ => "logical" };
    private static readonly Option<int?> Parallel = new("--parallel") { Description = "Files copied at once in a physical backup (default: the cluster's parallel, else 2)" };
    private static readonly Option<int?> ArchiveTimeout = new("--archive-timeout") { Description = "Seconds a physical backup waits for its WAL to reach the archive (default: the cluster's archive_timeout, else 60)" };
    private static readonly Option<string[]> Db = new("--db", "-d") { Description = "Database to dump (repeatable)", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<bool> All = new("--all") { Description = "Every database that allows connections (not templates) plus cluster globals" };
    private static readonly Option<string> Format = new("--format", "-F") { Description = "pg_dump format: custom, directory, tar or plain", DefaultValueFactory = _ => DumpFormat.Custom };
    private static readonly Option<int> Jobs = new("--jobs", "-j") { Description = "Parallel pg_dump jobs (directory format)", DefaultValueFactory = _ => 1 };
    private static readonly Option<string[]> Table = new("--table", "-t") { Description = "Dump only tables matching this pattern (repeatable)" };
    private static readonly Option<string[]> ExcludeTable = new("--exclude-table", "-T") { Description = "Do not dump tables matching this pattern (repeatable)" };
    private static readonly Option<string[]> Schema = new("--schema", "-n") { Description = "Dump only schemas matching this pattern (repeatable)" };
    private static readonly Option<string[]> ExcludeSchema = new("--exclude-schema", "-N") { Description = "Do not dump schemas matching this pattern (repeatable)" };
    private static readonly Option<bool> DataOnly = new("--data-only") { Description = "Dump only the data" };
    private static readonly Option<bool> SchemaOnly = new("--schema-only") { Description = "Dump only the object definitions" };
    private static readonly Option<string?> GlobalsScope = new("--globals") { Description = "Also dump cluster globals with pg_dumpall: all, roles or tablespaces" };
    private static readonly Option<string?> Compression = new("--compression") { Description = "zstd[:level], lz4, gzip[:level] or none (default: the cluster's, else zstd:3)" };
    private static readonly Option<bool> VerifyBlockMap = new("--verify-block-map") { Description = "Incremental/differential: also scan every page of each file the WAL block map vouched for, and fail (block-map-mismatch) if a page changed that the WAL did not list (a check; as slow as the scan)" };
    private static readonly Option<bool> NoExpire = new("--no-expire") { Description = "Do not run the retention policy's expire after this backup (retention.expire_after_backup)" };

    public static Command Build()
    {
        Type.AcceptOnlyFromAmong("logical", "full", "diff", "incr");
        Format.AcceptOnlyFromAmong(DumpFormat.All);
        GlobalsScope.AcceptOnlyFromAmong("all", "roles", "tablespaces");
        var command = new Command("backup", "Take a backup into the repository; the backup is listed only once complete")
        {
            Type, Parallel, ArchiveTimeout, Db, All, Format, Jobs, Table, ExcludeTable, Schema, ExcludeSchema, DataOnly, SchemaOnly, GlobalsScope, Compression, NoExpire, VerifyBlockMap,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    /// <summary>pg_dump / pg_dumpall: what only a logical backup takes.</summary>
    private static readonly ModeBinder<LogicalBackupOptions> Logical = new(
        [Db, All, Format, Jobs, Table, ExcludeTable, Schema, ExcludeSchema, DataOnly, SchemaOnly, GlobalsScope],
        (flag, result) => $"{flag.Name} applies to logical backups; a {result.GetValue(Type)} backup copies the whole cluster",
        (result, vault) => new LogicalBackupOptions
        {
            Databases = result.GetValue(Db) ?? [],
            AllDatabases = result.GetValue(All),
            Format = result.GetValue(Format)!,
            Jobs = result.GetValue(Jobs),
            Tables = result.GetValue(Table) ?? [],
            ExcludeTables = result.GetValue(ExcludeTable) ?? [],
            Schemas = result.GetValue(Schema) ?? [],
            ExcludeSchemas = result.GetValue(ExcludeSchema) ?? [],
            DataOnly = result.GetValue(DataOnly),
            SchemaOnly = result.GetValue(SchemaOnly),
            Globals = result.GetValue(GlobalsScope),
            Compression = vault.Settings.Compression(result.GetValue(Compression)),
        });

    /// <summary>full / diff / incr: what only a physical backup takes.</summary>
    private static readonly ModeBinder<PhysicalBackupOptions> Physical = new(
        [Parallel, ArchiveTimeout, VerifyBlockMap],
        (flag, _) => $"{flag.Name} applies to physical backups (--type full, diff or incr)",
        (result, vault) => new PhysicalBackupOptions
        {
            Type = result.GetValue(Type)!,
            PgData = vault.Settings.PgData,
            Parallel = vault.Settings.Parallel(result.GetValue(Parallel)),
            Compression = vault.Settings.Compression(result.GetValue(Compression)),
            ArchiveTimeoutSeconds = vault.Settings.ArchiveTimeoutSeconds(result.GetValue(ArchiveTimeout)),
            VerifyBlockMap = result.GetValue(VerifyBlockMap),
        });

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var log = BackupLog.For(vault, new WarnOnly(renderer));
        BackupResult backup;
        var started = DateTimeOffset.UtcNow;
        try
        {
            if (result.GetValue(Type) == "logical")
            {
                var options = Logical.Bind(result, vault, Physical);
                options.Validate();
                backup = await renderer.WithProgressAsync(progress => new LogicalBackup(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
            }
            else
            {
                var options = Physical.Bind(result, vault, Logical);
                options.Validate();
                backup = await renderer.WithProgressAsync(progress => new PhysicalBackup(vault, progress).RunAsync(options, ct)).ConfigureAwait(false);
            }
        }
        catch (PgVaultException e) when (log.Enabled && e.Code.Kind() != ErrorKind.Usage)
        {
            // The seed's backup_log records failed backups too; the backup's own error stays the result.
            await log.FailedBackupAsync(result.GetValue(Type)!, result.GetValue(Db) ?? [], started, e, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        await log.BackupAsync(backup, ct).ConfigureAwait(false);
        if (renderer.Json) renderer.WriteJson(BackupSummary.From(backup.Manifest, backup.Repositories.ToArray()) with { WalBlockMap = backup.Manifest.Physical?.WalBlockMap }, CliJson.Default.BackupSummary);
        else if (backup.Manifest.Physical is null) RenderLogical(backup, renderer);
        else RenderPhysical(backup, renderer);
        if (!result.GetValue(NoExpire)) await ExpireAfterAsync(vault, backup, renderer, ct).ConfigureAwait(false);
        return 0;
    }

    /// <summary>retention.expire_after_backup (Core/Retention/ExpireAfterBackup): rendered as one line when it removed something.</summary>
    private static async Task ExpireAfterAsync(Vault vault, BackupResult backup, Renderer renderer, CancellationToken ct)
    {
        if (!ExpireAfterBackup.Applies(vault)) return;
        var expired = await renderer.WithProgressAsync(progress => ExpireAfterBackup.RunAsync(vault, backup.Manifest.Id, progress, ct)).ConfigureAwait(false);
        if (!renderer.Json && ExpireAfterBackup.Summary(expired) is { } summary) renderer.Line("expire: " + summary);
    }

    private static string InRepositories(BackupResult backup) =>
        backup.Repositories.Count > 1 ? $", in repositories {string.Join(", ", backup.Repositories)}" : "";

    private static void RenderLogical(BackupResult backup, Renderer renderer)
    {
        var manifest = backup.Manifest;
        string what = manifest.Databases.Count == 1 ? $"database {manifest.Databases[0].Name}" : $"{manifest.Databases.Count} databases";
        if (manifest.Globals != null) what += " + globals";
        renderer.Line($"backup {manifest.Id} complete: {what}, {Units.Bytes(manifest.SizeBytes)} dumped, {Units.Bytes(manifest.StoredBytes)} stored ({manifest.Compression}{(manifest.Encrypted ? ", encrypted" : "")}) in {Units.Duration(manifest.DurationSeconds)}" +
            InRepositories(backup));
    }

    private static void RenderPhysical(BackupResult backup, Renderer renderer)
    {
        var manifest = backup.Manifest;
        var p = manifest.Physical!;
        renderer.Line($"backup {manifest.Id} complete: {manifest.Type}{(p.Reference != null ? $" on {p.Reference}" : "")}, {p.Files.Count} files, {Units.Bytes(manifest.SizeBytes)} in the cluster, " +
            $"{p.FilesStored} files stored{(p.FilesAsDeltas > 0 ? $" + {p.FilesAsDeltas} as changed pages" : "")} ({Units.Bytes(manifest.StoredBytes)}, {manifest.Compression}{(manifest.Encrypted ? ", encrypted" : "")}), {p.FilesReferenced} unchanged, " +
            $"WAL {p.StartWal} .. {p.StopWal}, in {Units.Duration(manifest.DurationSeconds)}" + InRepositories(backup));
        if (p.WalBlockMap is { } map)
            renderer.Line(map.Used
                ? $"changed pages: {map.Files} files read at the {map.Blocks} blocks the WAL lists ({map.PagesRead} pages read{(map.Verified ? ", verified by a full scan" : "")}), {map.FilesScanned} scanned page by page"
                : $"changed pages: found by a page-hash scan ({map.FallbackReason})");
        if (p.BadPages > 0) renderer.Warn($"{p.BadPages} page(s) failed their checksum: see 'pgvault info {manifest.Id}'");
    }
}
