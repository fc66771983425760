using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;

namespace PgVault.Core.Logical;

/// <summary>
/// Feeds stored dumps to pg_restore or psql. Custom and tar dumps stream straight into
/// pg_restore's standard input; a parallel restore of a custom dump, and any directory dump, is
/// first materialised in a private temporary directory (mkdtemp, 0700; pg_restore -j needs a
/// seekable file), which is removed afterwards, or by the next run after a kill -9.
/// </summary>
internal sealed class DumpRestorer(Catalog catalog, ConnInfo target, IProgressSink progress)
{
    /// <summary>
    /// Restores a custom, directory or tar dump with pg_restore. <paramref name="targetCreated"/>:
    /// the restore created the target database (a failure drops it), so a directory dump may be fed
    /// through pipes (<see cref="DirectoryFeed"/>) instead of being written out first.
    /// </summary>
    public async Task ArchiveAsync(BackupManifest manifest, LogicalDatabase db, PgTool pgRestore, LogicalRestoreOptions options, bool targetCreated, CancellationToken ct)
    {
        var args = new List<string> { "--dbname=" + target.ToLibpqConnInfo(), "--no-password", "--exit-on-error", "--format=" + DumpFormat.Letter(db.Format) };
        args.AddRange(options.Tables.Select(t => "--table=" + t));
        args.AddRange(options.Schemas.Select(s => "--schema=" + s));
        if (options.Tables.Count > 0 || options.Schemas.Count > 0) args.Add("--strict-names"); // a name matching nothing is an error, not an empty restore
        if (options.SchemaOnly) args.Add("--schema-only");
        if (options.DataOnly) args.AddRange(["--data-only", "--disable-triggers"]);
        if (options.Clean) args.AddRange(["--clean", "--if-exists"]);
        string describe = $"pg_restore into database \"{target.Database}\"";
        bool parallel = options.Jobs > 1;
        if (parallel && db.Format == DumpFormat.Tar)
        {
            progress.Warn("pg_restore cannot restore a tar dump in parallel; restoring with one job");
            parallel = false;
        }

        if (db.Format == DumpFormat.Directory || parallel)
        {
            string temp = SafeFiles.CreatePrivateTempDirectory();
            try
            {
                string path = db.Format == DumpFormat.Directory ? Path.Combine(temp, "dump") : Path.Combine(temp, "dump.custom");
                if (db.Format == DumpFormat.Directory)
                {
                    Directory.CreateDirectory(path);
                    foreach (var file in db.Files) CheckFileName(manifest, file);
                }
                // Table data reaches pg_restore through pipes while it runs, when a failure can drop
                // the whole target (a database this restore created); otherwise it is written first.
                bool piped = db.Format == DumpFormat.Directory && targetCreated && Pipes
                    && db.Files.Count(DirectoryFeed.IsPiped) is > 0 and <= DirectoryFeed.MaxPipes;
                using var task = progress.Start(piped ? $"restore {db.Name}" : $"fetch {db.Name}", db.SizeBytes);
                long done = 0;
                async Task WriteOutAsync(IEnumerable<StoredFile> files)
                {
                    foreach (var file in files)
                    {
                        string destination = db.Format == DumpFormat.Directory ? Path.Combine(path, file.Name) : path;
                        await using var input = await OpenAsync(manifest, file, ct).ConfigureAwait(false);
                        await using var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                        done = await LogicalBackup.CopyAsync(input, output, task, done, ct).ConfigureAwait(false);
                    }
                }
                await WriteOutAsync(db.Files.Where(f => !piped || !DirectoryFeed.IsPiped(f))).ConfigureAwait(false);
                DirectoryFeed? feed = null;
                if (piped)
                {
                    try
                    {
                        feed = DirectoryFeed.Create(path, db.Files, (file, c) => OpenAsync(manifest, file, c), task, done);
                    }
                    catch (PgVaultException e) when (e.Code == ErrorCode.IoFailed)
                    {
                        // Out of descriptors or inotify watches, say: the dump is written out first instead.
                        progress.Warn($"{e.Message}; writing the table files out before pg_restore starts instead");
                        await WriteOutAsync(db.Files.Where(DirectoryFeed.IsPiped)).ConfigureAwait(false);
                        piped = false;
                    }
                }
                using var owned = feed;
                TraceTiming.Mark(piped ? "logical restore: pipes made, toc written" : "logical restore: dump materialised");
                if (options.Jobs > 1) args.Add("--jobs=" + options.Jobs);
                args.Add(path);
                await using var child = ChildProcess.Start(pgRestore, args, target.ChildEnvironment(), describe, redirectInput: false, redirectOutput: false, ct);
                if (feed != null) await feed.RunAsync(child, ct).ConfigureAwait(false);
                else await child.WaitSuccessAsync(ct).ConfigureAwait(false);
                TraceTiming.Mark("logical restore: pg_restore exited");
            }
            finally
            {
                Directory.Delete(temp, recursive: true);
            }
            return;
        }
        await StreamIntoAsync(manifest, db.Files.Single(), pgRestore, args, describe, db.SizeBytes, ct).ConfigureAwait(false);
    }

    public Task PlainAsync(BackupManifest manifest, LogicalDatabase db, PgTool psql, CancellationToken ct)
    {
        var args = new List<string> { "--dbname=" + target.ToLibpqConnInfo(), "--no-password", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-" };
        return StreamIntoAsync(manifest, db.Files.Single(), psql, args, $"psql into database \"{target.Database}\"", db.SizeBytes, ct);
    }

    /// <summary>
    /// Runs the globals script. Roles (and tablespaces) that already exist are not an error;
    /// any other error fails the restore.
    /// </summary>
    public async Task GlobalsAsync(BackupManifest manifest, LogicalGlobals globals, PgTool psql, CancellationToken ct)
    {
        var args = new List<string> { "--dbname=" + target.ToLibpqConnInfo(), "--no-password", "--no-psqlrc", "--quiet", "--file=-" };
        await using var child = ChildProcess.Start(psql, args, target.ChildEnvironment(), "psql (cluster globals)", redirectInput: true, redirectOutput: true, ct);
        var drain = child.StandardOutput.CopyToAsync(Stream.Null, ct);
        await FeedAsync(manifest, globals.File, child, globals.File.SizeBytes, ct).ConfigureAwait(false);
        await child.WaitSuccessAsync(ct).ConfigureAwait(false);
        await drain.ConfigureAwait(false);
        var errors = child.ErrorLines.Where(l => l.Contains("ERROR:", StringComparison.Ordinal)).ToList();
        var real = errors.Where(l => !l.Contains("already exists", StringComparison.Ordinal)).ToList();
        if (errors.Count > real.Count) progress.Info($"{errors.Count - real.Count} role(s) or tablespace(s) already existed and were kept");
        if (real.Count > 0)
            throw new PgVaultException(ErrorCode.ToolFailed, $"restoring cluster globals failed: {real[0].Trim()}" + (real.Count > 1 ? $" (and {real.Count - 1} more errors)" : ""));
    }

    private async Task StreamIntoAsync(BackupManifest manifest, StoredFile file, PgTool tool, List<string> args, string describe, long total, CancellationToken ct)
    {
        await using var child = ChildProcess.Start(tool, args, target.ChildEnvironment(), describe, redirectInput: true, redirectOutput: true, ct);
        var drain = child.StandardOutput.CopyToAsync(Stream.Null, ct);
        await FeedAsync(manifest, file, child, total, ct).ConfigureAwait(false);
        await child.WaitSuccessAsync(ct).ConfigureAwait(false);
        await drain.ConfigureAwait(false);
    }

    /// <summary>
    /// Copies a stored object into the child's standard input and closes it. A program may stop
    /// reading early: on failure its own message is reported; on success (pg_restore leaves a tar
    /// dump's end padding unread) the rest of the object is still read so its checksum is verified.
    /// </summary>
    private async Task FeedAsync(BackupManifest manifest, StoredFile file, ChildProcess child, long total, CancellationToken ct)
    {
        using var task = progress.Start("restore", total);
        await using var input = await OpenAsync(manifest, file, ct).ConfigureAwait(false);
        try
        {
            await LogicalBackup.CopyAsync(input, child.StandardInput, task, 0, ct).ConfigureAwait(false);
            child.StandardInput.Close();
        }
        catch (IOException) when (!ct.IsCancellationRequested)
        {
            int code = await WaitBrieflyAsync(child).ConfigureAwait(false);
            // Read the rest either way: a damaged object can make the program fail before PgVault
            // reaches the damage, and then the damaged object is the error to report (another
            // repository may hold a good copy), not the program's reaction to it.
            await input.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            if (code != 0) await child.WaitSuccessAsync(ct).ConfigureAwait(false); // throws with the program's message
        }
        catch (PgVaultException)
        {
            child.Kill();
            throw;
        }
    }

    /// <summary>The exit code of a child that stopped reading (or -1 if it does not exit soon).</summary>
    private static async Task<int> WaitBrieflyAsync(ChildProcess child)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            return await child.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            child.Kill();
            return -1;
        }
    }

    /// <summary>Whether directory dumps may be fed through pipes (<c>PGVAULT_LOGICAL_PIPES=0</c> writes them out first, as before).</summary>
    private static bool Pipes => OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("PGVAULT_LOGICAL_PIPES") != "0";

    /// <summary>A directory dump's file names come from the manifest: each must be a plain name inside the dump directory.</summary>
    private static void CheckFileName(BackupManifest manifest, StoredFile file)
    {
        if (file.Name is "" or "." or ".." || file.Name != Path.GetFileName(file.Name) || file.Name.Contains('\0'))
            throw PgVaultException.Corrupt($"{manifest.Id}/{file.Object}", $"the manifest names a dump file '{file.Name}' that is not a plain file name");
    }

    private Task<Stream> OpenAsync(BackupManifest manifest, StoredFile file, CancellationToken ct) =>
        catalog.Repository.OpenObjectAsync(RepositoryLayout.BackupObject(catalog.Cluster, manifest.Id, file.Object), file, ct);
}
