using System.Buffers;
using System.Diagnostics;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Vault;

namespace PgVault.Core.Logical;

/// <summary>
/// `pgvault backup --type logical`: pg_dump (and pg_dumpall for globals) streamed through the
/// pipeline into every selected repository. The manifests are written last; any failure or
/// interruption removes what was written everywhere, so nothing half-done is ever listed.
/// </summary>
public sealed class LogicalBackup(Vault.Vault vault, IProgressSink progress)
{
    private const int CopyBufferSize = 1 << 20;

    // Set once per run from the vault.
    private CatalogSet targets = null!;
    private ConnInfo connection = null!;

    /// <summary>Runs the backup into every selected repository.</summary>
    public async Task<BackupResult> RunAsync(LogicalBackupOptions options, CancellationToken ct)
    {
        options.Validate();
        targets = await vault.OpenCatalogsAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        TraceTiming.Mark("logical backup: repositories opened");
        connection = vault.Connection;
        var manifests = await RunAllAsync(options, vault.Tools, ct).ConfigureAwait(false);
        return new BackupResult(manifests, targets.Catalogs.Select(c => c.Repository.Name).ToArray());
    }

    private async Task<BackupManifest[]> RunAllAsync(LogicalBackupOptions options, ToolLocator tools, CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();

        // Everything that can be checked before writing is checked before writing.
        if (options.EffectiveGlobals != null) tools.Prefetch("pg_dump", "pg_dumpall");
        else tools.Prefetch("pg_dump");
        ServerFacts server;
        List<DatabaseFacts> selected;
        await using (var conn = await PgServer.ConnectAsync(connection, ct).ConfigureAwait(false))
        {
            TraceTiming.Mark("logical backup: connected");
            server = await PgServer.FactsAsync(conn, ct).ConfigureAwait(false);
            var databases = await PgServer.DatabasesAsync(conn, ct).ConfigureAwait(false);
            selected = SelectDatabases(databases, options);
        }
        TraceTiming.Mark("logical backup: server checked");
        int major = server.VersionNum / 10000;
        var pgDump = selected.Count > 0 ? tools.Find("pg_dump", major) : null;
        var pgDumpAll = options.EffectiveGlobals != null ? tools.Find("pg_dumpall", major) : null;
        TraceTiming.Mark("logical backup: tools found");

        // Names and row estimates from the catalog (no scan): what a restore drill compares with.
        // Read before the dumps, not beside them: pg_dump -j N already holds N + 1 connections,
        // and a role's CONNECTION LIMIT may allow no more. Beside the repository work, which needs no connection.
        using var statsAbort = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tablesRead = TableStats.ReadAllAsync(connection, selected.Select(d => d.Name), progress.Warn, statsAbort.Token);
        string id;
        try
        {
            await targets.RemoveDebrisAsync(progress, ct).ConfigureAwait(false);
            await targets.RecordSystemAsync(server, progress, ct).ConfigureAwait(false);
            id = await targets.BeginBackupAsync(started, 'L', ct).ConfigureAwait(false);
        }
        catch (Exception)
        {
            await statsAbort.CancelAsync().ConfigureAwait(false); // a repository failure is reported at once, not after every database's statistics
            try
            {
                await tablesRead.ConfigureAwait(false); // its connection is closed before the error is reported
            }
            catch (Exception)
            {
                // the repository's error is the one reported
            }
            throw;
        }
        TraceTiming.Mark("logical backup: debris removed, id chosen");
        progress.Info($"backup {id}: {Describe(selected, options)} into {(targets.Count == 1 ? "repository" : "repositories")} {targets.Names}");
        try
        {
            // One list of databases per repository: sizes and checksums agree, stored bytes differ.
            var dumped = Enumerable.Range(0, targets.Count).Select(_ => new List<LogicalDatabase>()).ToArray();
            var tables = await tablesRead.ConfigureAwait(false);
            TraceTiming.Mark("logical backup: table statistics read");
            for (int i = 0; i < selected.Count; i++)
            {
                var perRepository = await DumpDatabaseAsync(id, i + 1, selected[i], pgDump!, options, ct).ConfigureAwait(false);
                for (int r = 0; r < targets.Count; r++) dumped[r].Add(perRepository[r]);
            }
            LogicalGlobals[]? globals = null;
            if (pgDumpAll != null) globals = await DumpGlobalsAsync(id, pgDumpAll, options, ct).ConfigureAwait(false);

            var finished = DateTimeOffset.UtcNow;
            var manifests = Enumerable.Range(0, targets.Count).Select(r => new BackupManifest
            {
                Id = id,
                Type = "logical",
                Cluster = targets.Cluster,
                StartedAt = started,
                FinishedAt = finished,
                DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
                SizeBytes = dumped[r].Sum(d => d.SizeBytes) + (globals?[r].File.SizeBytes ?? 0),
                StoredBytes = dumped[r].Sum(d => d.StoredBytes) + (globals?[r].File.StoredBytes ?? 0),
                Compression = options.Compression.ToString(),
                Encrypted = targets.Catalogs[r].Repository.Encrypted,
                PgVaultVersion = VersionInfo.Version,
                Server = server,
                Databases = dumped[r],
                Globals = globals?[r],
                Tables = tables,
            }).ToArray();
            TraceTiming.Mark("logical backup: dumps stored");
            await targets.CommitAsync(id, r => manifests[r], ct).ConfigureAwait(false); // the commit point
            TraceTiming.Mark("logical backup: committed");
            return manifests;
        }
        catch (Exception e)
        {
            progress.Warn($"backup {id} failed; removing what it wrote");
            await targets.DiscardAsync(id, progress).ConfigureAwait(false);
            if (e is IOException io) throw new PgVaultException(ErrorCode.IoFailed, $"unable to write backup {id} to repository {targets.Names}: {io.Message}", inner: io);
            throw;
        }
    }

    private static List<DatabaseFacts> SelectDatabases(List<DatabaseFacts> databases, LogicalBackupOptions options)
    {
        if (options.AllDatabases) return databases.Where(d => d.AllowConnections && !d.IsTemplate).ToList();
        var selected = new List<DatabaseFacts>();
        foreach (var name in options.Databases.Distinct(StringComparer.Ordinal))
        {
            var found = databases.FirstOrDefault(d => d.Name == name)
                ?? throw new PgVaultException(ErrorCode.DatabaseNotFound, $"database \"{name}\" does not exist on the server",
                    $"existing databases: {string.Join(", ", databases.Where(d => !d.IsTemplate).Select(d => d.Name))}");
            if (!found.AllowConnections) throw new PgVaultException(ErrorCode.ServerRefused, $"database \"{name}\" does not allow connections (datallowconn is false)");
            selected.Add(found);
        }
        return selected;
    }

    private async Task<LogicalDatabase[]> DumpDatabaseAsync(string id, int index, DatabaseFacts db, PgTool pgDump, LogicalBackupOptions options, CancellationToken ct)
    {
        string folder = $"db/{index:D3}/";
        var contentArgs = options.DumpArguments();
        var args = new List<string> { "--dbname=" + connection.WithDatabase(db.Name).ToLibpqConnInfo(), "--no-password" };
        args.AddRange(contentArgs);
        string describe = $"pg_dump of database \"{db.Name}\"";
        var files = Enumerable.Range(0, targets.Count).Select(_ => new List<StoredFile>()).ToArray();
        using var task = progress.Start($"dump {db.Name}");
        string staging = "";
        if (options.Format == DumpFormat.Directory)
        {
            // Streamed while pg_dump runs: only the table files pg_dump is writing or PgVault is storing are staged.
            var dump = new DirectoryDump(targets, id, folder, options.Compression, options.PgDumpCompresses, options.Jobs, task);
            var stored = await dump.RunAsync(pgDump, args, connection.ChildEnvironment(), describe, ct).ConfigureAwait(false);
            for (int r = 0; r < stored.Length; r++) files[r].AddRange(stored[r]);
            staging = $"; at most {dump.MostStaged} table file(s) staged at once";
        }
        else
        {
            string name = options.Format switch { DumpFormat.Custom => "dump.custom", DumpFormat.Tar => "dump.tar", _ => "dump.sql" };
            string relative = $"{folder}{name}.{options.Compression.FileExtension}";
            await using var child = ChildProcess.Start(pgDump, args, connection.ChildEnvironment(), describe, redirectInput: false, redirectOutput: true, ct);
            var stored = await targets.WriteObjectAsync(id, relative, options.Compression,
                async (input, c) =>
                {
                    await CopyAsync(child.StandardOutput, input, task, 0, c).ConfigureAwait(false);
                    // The object is committed only if pg_dump itself succeeded.
                    await child.WaitSuccessAsync(c).ConfigureAwait(false);
                }, ct).ConfigureAwait(false);
            for (int r = 0; r < stored.Length; r++) files[r].Add(stored[r] with { Name = name, Object = relative });
        }
        progress.Info($"database \"{db.Name}\": {Units.Bytes(files[0].Sum(f => f.SizeBytes))} dumped, {Units.Bytes(files[0].Sum(f => f.StoredBytes))} stored{staging}");
        return files.Select(list => new LogicalDatabase
        {
            Name = db.Name,
            Format = options.Format,
            Options = contentArgs,
            PgDumpVersion = pgDump.Version,
            Encoding = db.Encoding,
            Collate = db.Collate,
            Ctype = db.Ctype,
            SizeBytes = list.Sum(f => f.SizeBytes),
            StoredBytes = list.Sum(f => f.StoredBytes),
            Files = list,
        }).ToArray();
    }

    private async Task<LogicalGlobals[]> DumpGlobalsAsync(string id, PgTool pgDumpAll, LogicalBackupOptions options, CancellationToken ct)
    {
        string scope = options.EffectiveGlobals!;
        string flag = scope switch { "roles" => "--roles-only", "tablespaces" => "--tablespaces-only", _ => "--globals-only" };
        var args = new List<string> { "--dbname=" + connection.WithDatabase(connection.Database).ToLibpqConnInfo(), "--no-password", flag };
        string relative = $"globals.sql.{options.Compression.FileExtension}";
        using var task = progress.Start("dump globals");
        await using var child = ChildProcess.Start(pgDumpAll, args, connection.ChildEnvironment(), "pg_dumpall " + flag, redirectInput: false, redirectOutput: true, ct);
        var stored = await targets.WriteObjectAsync(id, relative, options.Compression,
            async (input, c) =>
            {
                await CopyAsync(child.StandardOutput, input, task, 0, c).ConfigureAwait(false);
                await child.WaitSuccessAsync(c).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
        return stored.Select(s => new LogicalGlobals { Scope = scope, PgDumpallVersion = pgDumpAll.Version, File = s with { Name = "globals.sql", Object = relative } }).ToArray();
    }

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="destination"/> on a thread of its own
    /// with plain blocking reads and writes. The streams here are pipes to pg_dump / pg_restore and
    /// CPU-bound pipeline filters: blocking I/O on one dedicated thread costs far less than an
    /// async hop per 64 KiB pipe read (measured in bench/logical.sh: a third of the run time).
    /// </summary>
    internal static Task<long> CopyAsync(Stream source, Stream destination, IProgressTask task, long done, CancellationToken ct) =>
        Task.Factory.StartNew(() => Copy(source, destination, task, done, ct), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static long Copy(Stream source, Stream destination, IProgressTask task, long done, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            int read;
            while ((read = source.Read(buffer, 0, CopyBufferSize)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                destination.Write(buffer, 0, read);
                done += read;
                task.Report(done);
            }
            ct.ThrowIfCancellationRequested();
            return done;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Describe(List<DatabaseFacts> selected, LogicalBackupOptions options)
    {
        string dbs = selected.Count == 0 ? "no databases" : "database" + (selected.Count > 1 ? "s " : " ") + string.Join(", ", selected.Select(d => d.Name));
        return options.EffectiveGlobals is { } g ? $"{dbs} + globals ({g})" : dbs;
    }
}
