using System.Globalization;
using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Logical;

/// <summary>The outcome of a logical restore.</summary>
public sealed record LogicalRestoreResult(string BackupId, string? SourceDatabase, string? TargetDatabase, bool CreatedDatabase, bool GlobalsRestored, double DurationSeconds);

/// <summary>
/// `pgvault restore` of a logical backup: into a new database by default, streamed from the
/// repository into pg_restore (or psql for plain dumps). A database PgVault created is dropped
/// again when the restore fails, so a failed restore leaves nothing behind. With several
/// repositories, the first that holds the backup is read; when it fails (unreachable, damaged
/// object) the restore starts over from the next one, saying so.
/// </summary>
public sealed class LogicalRestore(Vault.Vault vault, IProgressSink progress)
{
    // Set once per run from the vault.
    private CatalogSet sources = null!;
    private ConnInfo connection = null!;
    private ToolLocator tools = null!;

    public async Task<LogicalRestoreResult> RunAsync(LogicalRestoreOptions options, CancellationToken ct)
    {
        options.Validate();
        sources = await vault.OpenCatalogsAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false);
        connection = options.Server ?? vault.Connection;
        tools = vault.Tools;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (manifest, holders) = await sources.FindAsync(options.BackupId, progress, ct).ConfigureAwait(false);
        TraceTiming.Mark("logical restore: backup found");
        if (manifest.Type != "logical")
            throw PgVaultException.Usage($"backup {manifest.Id} is a {manifest.Type} backup, not a logical one", "restore it with --pgdata DIR");
        var source = ChooseSource(manifest, options);
        if (source is null && !options.Globals)
            throw PgVaultException.Usage($"backup {manifest.Id} holds only cluster globals", "pass --globals to restore them");
        if (options.Globals && manifest.Globals is null)
            throw PgVaultException.Usage($"backup {manifest.Id} holds no cluster globals", "take a backup with --globals or --all");
        if (source != null)
        {
            CheckFormatOptions(source, options);
            if (source.Options.Contains("--data-only"))
            {
                // A data-only backup loads into existing tables: restore it as data-only.
                if (options.SchemaOnly || options.Clean)
                    throw PgVaultException.Usage($"database \"{source.Name}\" of backup {manifest.Id} holds data only: --schema-only and --clean do not apply");
                options = options with { DataOnly = true };
            }
        }

        string? target = source is null ? null
            : options.TargetDatabase ?? $"{source.Name}_restored_{DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture)}";

        int major;
        bool exists = false;
        tools.Prefetch("psql", "pg_restore");
        await using (var conn = await PgServer.ConnectAsync(Maintenance(), ct).ConfigureAwait(false))
        {
            major = (await PgServer.FactsAsync(conn, ct).ConfigureAwait(false)).VersionNum / 10000;
            if (target != null)
            {
                exists = (await PgServer.DatabasesAsync(conn, ct).ConfigureAwait(false)).Any(d => d.Name == target);
                if (exists && !options.Clean && !options.DataOnly && !await IsEmptyAsync(target, ct).ConfigureAwait(false))
                    throw new PgVaultException(ErrorCode.RestoreTargetOccupied, $"database \"{target}\" exists and is not empty",
                        "pass --clean to drop and recreate its objects from the backup, or choose another --db");
            }
        }
        TraceTiming.Mark("logical restore: server checked");
        // Locate every program before touching the server.
        var psql = tools.Find("psql", major);
        var pgRestore = source is { Format: not DumpFormat.Plain } ? tools.Find("pg_restore", major) : null;
        TraceTiming.Mark("logical restore: tools found");

        for (int i = 0; ; i++)
        {
            var catalog = holders[i];
            try
            {
                var own = i == 0 ? manifest : await catalog.GetAsync(manifest.Id, ct).ConfigureAwait(false);
                bool created = await RestoreFromAsync(catalog, own, source?.Name, target, exists, psql, pgRestore, options, ct).ConfigureAwait(false);
                return new LogicalRestoreResult(manifest.Id, source?.Name, target, created, options.Globals, clock.Elapsed.TotalSeconds);
            }
            catch (PgVaultException e) when (e.RepositoryFault && i + 1 < holders.Count)
            {
                progress.Warn($"repository '{catalog.Repository.Name}' failed: {e.Message}; restoring from repository '{holders[i + 1].Repository.Name}' instead");
            }
        }
    }

    /// <summary>One attempt from one repository; returns whether it created the target database.</summary>
    private async Task<bool> RestoreFromAsync(Catalog catalog, BackupManifest manifest, string? sourceName, string? target, bool exists,
        PgTool psql, PgTool? pgRestore, LogicalRestoreOptions options, CancellationToken ct)
    {
        if (options.Globals) await RestoreGlobalsAsync(catalog, manifest, psql, ct).ConfigureAwait(false);
        if (sourceName is null) return false;
        var source = manifest.Databases.Single(d => d.Name == sourceName);

        bool created = false;
        var schemasCreated = new List<string>();
        if (!exists)
        {
            await CreateDatabaseAsync(target!, source, manifest.Id, ct).ConfigureAwait(false);
            created = true;
            TraceTiming.Mark("logical restore: database created");
        }
        try
        {
            progress.Info($"restoring database \"{source.Name}\" of backup {manifest.Id} from repository '{catalog.Repository.Name}' into \"{target}\"");
            if (options.Schemas.Count > 0 && !options.DataOnly) schemasCreated = await CreateSchemasAsync(target!, options.Schemas, ct).ConfigureAwait(false);
            var restorer = new DumpRestorer(catalog, connection.WithDatabase(target!), progress);
            if (source.Format == DumpFormat.Plain) await restorer.PlainAsync(manifest, source, psql, ct).ConfigureAwait(false);
            else await restorer.ArchiveAsync(manifest, source, pgRestore!, options, created, ct).ConfigureAwait(false);
            if (created) await SetCommentAsync(target!, null, ct).ConfigureAwait(false); // complete: the marker goes
        }
        catch (Exception)
        {
            if (created)
            {
                progress.Warn($"restore failed; dropping the database \"{target}\" it created");
                await DropDatabaseAsync(target!).ConfigureAwait(false);
            }
            else if (schemasCreated.Count > 0)
            {
                progress.Warn($"restore failed; dropping the schema(s) it created in \"{target}\": {string.Join(", ", schemasCreated)}");
                await DropSchemasAsync(target!, schemasCreated).ConfigureAwait(false);
            }
            throw;
        }
        return created;
    }

    private static LogicalDatabase? ChooseSource(BackupManifest manifest, LogicalRestoreOptions options)
    {
        if (options.SourceDatabase is { } name)
        {
            return manifest.Databases.FirstOrDefault(d => d.Name == name)
                ?? throw PgVaultException.Usage($"backup {manifest.Id} has no database \"{name}\" (it holds: {string.Join(", ", manifest.Databases.Select(d => d.Name))})");
        }
        return manifest.Databases.Count switch
        {
            0 => null,
            1 => manifest.Databases[0],
            _ when options.Globals && options.TargetDatabase is null => null,
            _ => throw PgVaultException.Usage($"backup {manifest.Id} holds several databases ({string.Join(", ", manifest.Databases.Select(d => d.Name))})",
                "pass --source-db NAME"),
        };
    }

    private static void CheckFormatOptions(LogicalDatabase source, LogicalRestoreOptions options)
    {
        if (source.Format != DumpFormat.Plain) return;
        if (options.Tables.Count > 0 || options.Schemas.Count > 0 || options.SchemaOnly || options.DataOnly || options.Jobs > 1 || options.Clean)
            throw PgVaultException.Usage($"database \"{source.Name}\" was dumped in plain format, which restores only whole (no -t, -n, --schema-only, --data-only, --jobs or --clean)",
                "take the backup in custom or directory format for selective restores");
    }

    private ConnInfo Maintenance() => connection.WithDatabase("postgres");

    private async Task<bool> IsEmptyAsync(string database, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase(database), ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(EmptyDatabaseQuery, conn);
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// True when a database holds no user objects: nothing with an OID of a user object (16384 and
    /// up) in any catalog that holds objects pg_dump carries, temporary schemas aside.
    /// </summary>
    internal const string EmptyDatabaseQuery = """
        WITH objs(oid, nsp) AS (
                    SELECT oid, oid FROM pg_namespace
          UNION ALL SELECT oid, relnamespace FROM pg_class WHERE relpersistence <> 't'
          UNION ALL SELECT oid, pronamespace FROM pg_proc
          UNION ALL SELECT oid, typnamespace FROM pg_type
          UNION ALL SELECT oid, collnamespace FROM pg_collation
          UNION ALL SELECT oid, connamespace FROM pg_conversion
          UNION ALL SELECT oid, oprnamespace FROM pg_operator
          UNION ALL SELECT oid, opcnamespace FROM pg_opclass
          UNION ALL SELECT oid, opfnamespace FROM pg_opfamily
          UNION ALL SELECT oid, cfgnamespace FROM pg_ts_config
          UNION ALL SELECT oid, dictnamespace FROM pg_ts_dict
          UNION ALL SELECT oid, prsnamespace FROM pg_ts_parser
          UNION ALL SELECT oid, tmplnamespace FROM pg_ts_template
          UNION ALL SELECT oid, stxnamespace FROM pg_statistic_ext
          UNION ALL SELECT oid, extnamespace FROM pg_extension
          UNION ALL SELECT oid, NULL FROM pg_language
          UNION ALL SELECT oid, NULL FROM pg_am
          UNION ALL SELECT oid, NULL FROM pg_cast
          UNION ALL SELECT oid, NULL FROM pg_transform
          UNION ALL SELECT oid, NULL FROM pg_event_trigger
          UNION ALL SELECT oid, NULL FROM pg_foreign_data_wrapper
          UNION ALL SELECT oid, NULL FROM pg_foreign_server
          UNION ALL SELECT oid, NULL FROM pg_publication
          UNION ALL SELECT oid, NULL FROM pg_default_acl
          UNION ALL SELECT oid, NULL FROM pg_largeobject_metadata)
        SELECT NOT EXISTS (SELECT 1 FROM objs o LEFT JOIN pg_namespace n ON n.oid = o.nsp
          WHERE o.oid >= 16384 AND coalesce(n.nspname, '') !~ '^pg_(toast_)?temp_')
        """;

    /// <summary>
    /// The comment a database carries while a restore that created it runs: a restore killed
    /// outright (kill -9) cannot drop what it loaded, and this says the database is incomplete
    /// (pg_restore without --create never restores a database comment).
    /// </summary>
    internal static string InProgressComment(string backupId) =>
        $"PgVault restore of backup {backupId} in progress: incomplete until this comment is gone";

    private async Task SetCommentAsync(string database, string? comment, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(Maintenance(), ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"COMMENT ON DATABASE {PgServer.QuoteIdent(database)} IS {(comment is null ? "NULL" : PgServer.QuoteLiteral(comment))}", conn);
        try
        {
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e)
        {
            throw new PgVaultException(ErrorCode.ServerQueryFailed, $"unable to comment on database \"{database}\": {e.MessageText}");
        }
    }

    private async Task CreateDatabaseAsync(string name, LogicalDatabase source, string backupId, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(Maintenance(), ct).ConfigureAwait(false);
        string sql = $"CREATE DATABASE {PgServer.QuoteIdent(name)} TEMPLATE template0";
        if (source.Encoding.Length > 0) sql += $" ENCODING {PgServer.QuoteLiteral(source.Encoding)}";
        if (source.Collate.Length > 0) sql += $" LC_COLLATE {PgServer.QuoteLiteral(source.Collate)} LC_CTYPE {PgServer.QuoteLiteral(source.Ctype)}";
        await using var cmd = new NpgsqlCommand(sql, conn);
        try
        {
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e)
        {
            throw new PgVaultException(ErrorCode.ServerQueryFailed, $"unable to create database \"{name}\": {e.MessageText}");
        }
        progress.Info($"created database \"{name}\"");
        await SetCommentAsync(name, InProgressComment(backupId), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// pg_restore -n restores the objects in a schema but not the schema itself: create the named
    /// schemas first so a selective restore into a new database works. Returns those it created.
    /// </summary>
    private async Task<List<string>> CreateSchemasAsync(string database, IReadOnlyList<string> schemas, CancellationToken ct)
    {
        var created = new List<string>();
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase(database), ct).ConfigureAwait(false);
        foreach (var schema in schemas)
        {
            await using var exists = new NpgsqlCommand("SELECT count(*) FROM pg_namespace WHERE nspname = $1", conn) { Parameters = { new() { Value = schema } } };
            if ((long)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))! > 0) continue;
            await using var cmd = new NpgsqlCommand($"CREATE SCHEMA {PgServer.QuoteIdent(schema)}", conn);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            created.Add(schema);
        }
        return created;
    }

    /// <summary>Drops the schemas a failed restore created in an existing database (with what it put in them).</summary>
    private async Task DropSchemasAsync(string database, List<string> schemas)
    {
        try
        {
            await using var conn = await PgServer.ConnectAsync(connection.WithDatabase(database), CancellationToken.None).ConfigureAwait(false);
            foreach (var schema in schemas)
            {
                await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {PgServer.QuoteIdent(schema)} CASCADE", conn);
                await cmd.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is PgVaultException or NpgsqlException)
        {
            progress.Warn($"could not drop schema(s) {string.Join(", ", schemas)} in \"{database}\": {e.Message}");
        }
    }

    private async Task DropDatabaseAsync(string name)
    {
        try
        {
            await using var conn = await PgServer.ConnectAsync(Maintenance(), CancellationToken.None).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {PgServer.QuoteIdent(name)} WITH (FORCE)", conn);
            await cmd.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or NpgsqlException)
        {
            progress.Warn($"could not drop database \"{name}\": {e.Message}");
        }
    }

    private async Task RestoreGlobalsAsync(Catalog catalog, BackupManifest manifest, PgTool psql, CancellationToken ct)
    {
        var globals = manifest.Globals!;
        progress.Info($"restoring cluster globals ({globals.Scope}) of backup {manifest.Id}");
        var restorer = new DumpRestorer(catalog, Maintenance(), progress);
        await restorer.GlobalsAsync(manifest, globals, psql, ct).ConfigureAwait(false);
    }
}
