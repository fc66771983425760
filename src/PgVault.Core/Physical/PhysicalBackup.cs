using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Vault;
using PgVault.Core.Wal;

namespace PgVault.Core.Physical;

/// <summary>
/// `pgvault backup --type full|diff|incr`: pg_backup_start() in a session held open for the whole
/// backup, a parallel copy of the data directory and tablespaces into packs in every selected
/// repository, pg_backup_stop(), a wait until the backup's WAL is archived everywhere, and only
/// then the manifest. Any failure removes what was written. Phases: this file (checks, start,
/// stop, commit), PhysicalBackup.Copy.cs (the file copy), PhysicalBackup.Wal.cs (the WAL wait).
/// </summary>
public sealed partial class PhysicalBackup(Vault.Vault vault, IProgressSink progress)
{
    // Set once per run from the vault.
    private CatalogSet targets = null!;
    private ConnInfo connection = null!;

    /// <summary>Runs the backup into every selected repository.</summary>
    public async Task<BackupResult> RunAsync(PhysicalBackupOptions options, CancellationToken ct)
    {
        options.Validate();
        targets = await vault.OpenCatalogsAsync(forWriting: true, progress.Warn, ct).ConfigureAwait(false);
        connection = vault.Connection;
        var manifests = await RunAllAsync(options, ct).ConfigureAwait(false);
        return new BackupResult(manifests, targets.Catalogs.Select(c => c.Repository.Name).ToArray());
    }

    private async Task<BackupManifest[]> RunAllAsync(PhysicalBackupOptions options, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase(connection.Database), ct).ConfigureAwait(false);
        var server = await PgServer.FactsAsync(conn, ct).ConfigureAwait(false);
        var facts = await CheckServerAsync(conn, options, server, ct).ConfigureAwait(false);
        TraceTiming.Mark("backup: connected, server checked");

        await targets.RemoveDebrisAsync(progress, ct).ConfigureAwait(false);
        await targets.RecordSystemAsync(server, progress, ct).ConfigureAwait(false);
        var (type, reference, id) = await BeginAsync(options.Type, server, ct).ConfigureAwait(false);
        TraceTiming.Mark("backup: debris removed, id and reference chosen");
        var started = BackupId.Parse(id).Start;
        progress.Info($"backup {id}: {type} of {facts.PgData}{(reference != null ? $" (reference {reference.Id})" : "")} into {(targets.Count == 1 ? "repository" : "repositories")} {targets.Names}");
        bool inBackup = false;
        using var pageHashes = new PageHashSpool();
        // Work that runs beside the main path; stopped and awaited when the backup fails.
        Task<List<DatabaseTables>>? tablesRead = null;
        Task walArchived = Task.CompletedTask;
        using var sideWork = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            // The archived WAL an incremental's block map reads is fetched during the start checkpoint.
            await using var ahead = reference == null ? null : await StartWalFetchAheadAsync(conn, reference, facts.PgData, facts.SegmentSize, options, sideWork.Token).ConfigureAwait(false);
            walAhead = ahead;
            TraceTiming.Mark($"backup: {ahead?.Requested ?? 0} WAL segments requested ahead");
            var (startLsn, startTime, timeline) = await BackupStartAsync(conn, id, options.StartFast, ct).ConfigureAwait(false);
            inBackup = true;
            TraceTiming.Mark("backup: pg_backup_start (checkpoint)");
            var tablespaces = await TablespacesAsync(conn, ct).ConfigureAwait(false);
            // Names and row estimates from the catalog (no scan): what a restore drill compares with.
            var databases = (await PgServer.DatabasesAsync(conn, ct).ConfigureAwait(false)).Where(d => d.AllowConnections && !d.IsTemplate).Select(d => d.Name).ToList();
            // On connections of their own while the files are copied (a few ms per database).
            tablesRead = TableStats.ReadAllAsync(connection, databases, progress.Warn, sideWork.Token);
            TraceTiming.Mark("backup: tablespaces, databases");
            int vanished = 0;
            var (directories, scanned) = DataDirectory.Scan(facts.PgData, tablespaces, _ => vanished++);
            if (vanished > 0) progress.Info($"{vanished} files and directories vanished while the data directory was scanned (dropped or temporary relations): left out");
            TraceTiming.Mark("backup: data directory scanned");
            if (reference != null) await ReadPageHashesAsync(reference, pageHashes, ct).ConfigureAwait(false);
            TraceTiming.Mark("backup: reference page hashes read");
            if (reference != null) await PlanBlockMapAsync(conn, reference, scanned, timeline, startLsn, facts.PgData, facts.SegmentSize, options, ct).ConfigureAwait(false);
            if (ahead != null) await ahead.DisposeAsync().ConfigureAwait(false); // its scratch copies are read
            walAhead = null;
            TraceTiming.Mark("backup: WAL block map built");
            var copy = await CopyAsync(id, scanned, reference, pageHashes, timeline, startLsn, startTime, facts.DataChecksums, options, ct).ConfigureAwait(false);
            TraceTiming.Mark("backup: files copied");
            var stop = await BackupStopAsync(conn, ct).ConfigureAwait(false);
            TraceTiming.Mark("backup: pg_backup_stop");
            inBackup = false;
            string startWal = StartWalFromLabel(stop.Label) ?? WalSegments.Name((uint)timeline, WalSegments.SegmentOf(startLsn, facts.SegmentSize), facts.SegmentSize);
            // The archiver pushes the last segment while backup_manifest and the page hashes are
            // written; the commit below still waits for both (listed only once restorable).
            walArchived = WaitForWalAsync(startWal, stop.StopWal, facts.SegmentSize, options.ArchiveTimeoutSeconds, sideWork.Token);

            var files = copy.Files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
            var labelBytes = System.Text.Encoding.UTF8.GetBytes(stop.Label);
            var pgManifest = PgBackupManifest.Build(
                files.Select(f => new PgManifestFile(f.Path, f.Size, f.Mtime, f.Sha256, f.Crc32c))
                    .Append(new PgManifestFile("backup_label", labelBytes.Length, stop.StopTime, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(labelBytes))))
                    .ToList(),
                [new PgManifestWalRange((uint)timeline, startLsn, stop.StopLsn)]);
            const string pgManifestObject = "backup_manifest";
            var storedManifest = await targets.WriteObjectAsync(id, pgManifestObject, Pipeline.CompressionSpec.None,
                (s, c) => s.WriteAsync(pgManifest, c).AsTask(), ct).ConfigureAwait(false);

            // Page hashes of every large file in the backup: what the next incremental compares.
            // Streamed from the spool: memory stays flat whatever the cluster's size.
            var hashedPaths = pageHashes.CurrentPaths(files.Where(f => f.Size >= PageHashes.MinFileSize).Select(f => f.Path));
            long pageHashBytes = pageHashes.SerializedLength(hashedPaths);
            const string pageHashesObject = "pagehashes";
            var storedHashes = await targets.WriteObjectAsync(id, pageHashesObject, Pipeline.CompressionSpec.None,
                (s, c) => pageHashes.WriteAsync(s, hashedPaths, c), ct).ConfigureAwait(false);
            TraceTiming.Mark("backup: backup_manifest and page hashes written");
            await walArchived.ConfigureAwait(false);
            TraceTiming.Mark("backup: WAL archived");
            var tables = await tablesRead.ConfigureAwait(false);

            int badPages = files.Sum(f => f.BadPages?.Count ?? 0);
            if (badPages > 0)
                progress.Warn($"{badPages} page(s) failed their checksum: {string.Join(", ", files.Where(f => f.BadPages != null).Take(5).Select(f => $"{f.Path} block {string.Join('/', f.BadPages!.Take(3))}"))} (recorded in the manifest)");
            var finished = DateTimeOffset.UtcNow;
            var chain = files.Where(f => f.Backup.Length > 0).Select(f => f.Backup)
                .Concat(files.SelectMany(f => f.Deltas ?? []).Select(d => d.Backup))
                .Append(id).Distinct().Order(StringComparer.Ordinal).ToList();
            var manifests = Enumerable.Range(0, targets.Count).Select(r => new BackupManifest
            {
                Id = id,
                Type = type,
                Cluster = targets.Cluster,
                StartedAt = started,
                FinishedAt = finished,
                DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
                SizeBytes = files.Sum(f => f.Size),
                StoredBytes = copy.Packs[r].Sum(p => p.StoredBytes),
                Compression = options.Compression.ToString(),
                Encrypted = targets.Catalogs[r].Repository.Encrypted,
                PgVaultVersion = VersionInfo.Version,
                Server = server,
                Tables = tables,
                Physical = new PhysicalBackupInfo
                {
                    Reference = reference?.Id,
                    Chain = chain,
                    StartLsn = Lsn.FormatLsn(startLsn),
                    StopLsn = Lsn.FormatLsn(stop.StopLsn),
                    Timeline = timeline,
                    StartWal = startWal,
                    StopWal = stop.StopWal,
                    StartTime = startTime,
                    StopTime = stop.StopTime,
                    WalSegmentSize = facts.SegmentSize,
                    DataChecksums = facts.DataChecksums,
                    OwnerUid = facts.OwnerUid,
                    OwnerGid = facts.OwnerGid,
                    BackupLabel = stop.Label,
                    TablespaceMap = string.IsNullOrEmpty(stop.TablespaceMap) ? null : stop.TablespaceMap,
                    Tablespaces = tablespaces,
                    Directories = directories.OrderBy(d => d.Path, StringComparer.Ordinal).ToList(),
                    Files = files,
                    Packs = copy.Packs[r],
                    FilesStored = copy.FilesStored,
                    FilesReferenced = copy.FilesReferenced,
                    BytesReferenced = copy.BytesReferenced,
                    BadPages = badPages,
                    PgManifestObject = pgManifestObject,
                    PgManifestSha256 = storedManifest[r].Sha256,
                    PgManifestBytes = pgManifest.Length,
                    PageHashesObject = pageHashesObject,
                    PageHashesSha256 = storedHashes[r].Sha256,
                    PageHashesBytes = pageHashBytes,
                    FilesAsDeltas = copy.FilesAsDeltas,
                    WalBlockMap = BlockMapInfo(reference),
                },
            }).ToArray();
            await targets.CommitAsync(id, r => manifests[r], ct).ConfigureAwait(false); // the commit point
            TraceTiming.Mark("backup: manifests written, committed");
            return manifests;
        }
        catch (Exception e)
        {
            progress.Warn($"backup {id} failed; removing what it wrote");
            await sideWork.CancelAsync().ConfigureAwait(false);
            await Settled(walArchived).ConfigureAwait(false);
            await Settled(tablesRead).ConfigureAwait(false);
            if (inBackup) await AbortBackupAsync(conn).ConfigureAwait(false);
            await targets.DiscardAsync(id, progress).ConfigureAwait(false);
            if (e is IOException io) throw new PgVaultException(ErrorCode.IoFailed, $"unable to write backup {id} to repository {targets.Names}: {io.Message}", inner: io);
            throw;
        }
    }

    /// <summary>Waits for side work of a failed backup to end; its own outcome no longer matters (the first failure is reported).</summary>
    private static async Task Settled(Task? task)
    {
        if (task == null) return;
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The backup has already failed; this is only the side work stopping.
        }
    }

    /// <summary>
    /// Loads the page hashes the reference recorded into <paramref name="spool"/>; none (every
    /// changed file is then stored whole) when it has none or they cannot be read.
    /// </summary>
    private async Task ReadPageHashesAsync(BackupManifest reference, PageHashSpool spool, CancellationToken ct)
    {
        if (reference.Physical is not { PageHashesObject: { } name, PageHashesSha256: { } sha } physical) return;
        var repository = targets.Catalogs[0].Repository;
        string key = RepositoryLayout.BackupObject(targets.Cluster, reference.Id, name);
        try
        {
            var stored = new StoredFile { Compression = "none", Encrypted = repository.Encrypted, Sha256 = sha, SizeBytes = physical.PageHashesBytes };
            // Verified to the end (size, checksum, authentication) before the copy uses any of it.
            await using var input = await repository.OpenObjectAsync(key, stored, ct).ConfigureAwait(false);
            await spool.LoadReferenceAsync(input, key, ct).ConfigureAwait(false);
        }
        catch (PgVaultException e) when (e.RepositoryFault)
        {
            spool.ForgetReference();
            progress.Warn($"page hashes of backup {reference.Id} are unreadable ({e.Message}): changed files are stored whole");
        }
    }

    private sealed record ClusterFacts(string PgData, bool DataChecksums, long SegmentSize, int OwnerUid, int OwnerGid);

    /// <summary>Everything that can be refused before anything is written is refused here.</summary>
    private async Task<ClusterFacts> CheckServerAsync(NpgsqlConnection conn, PhysicalBackupOptions options, ServerFacts server, CancellationToken ct)
    {
        if (server.VersionNum < 150000)
            throw new PgVaultException(ErrorCode.ServerRefused, $"physical backups need PostgreSQL 15 or later (pg_backup_start); the server runs {server.Version}",
                "take a logical backup (--type logical) instead");
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            "SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_command', 'data_directory', 'data_checksums', 'wal_segment_size', 'wal_level') " +
            "UNION ALL SELECT 'in_recovery', pg_is_in_recovery()::text", conn))
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) settings[reader.GetString(0)] = reader.GetString(1);
        }
        if (settings.GetValueOrDefault("in_recovery") == "true")
            throw new PgVaultException(ErrorCode.ServerRefused, "the server is a standby: physical backups are taken from the primary",
                "point the cluster's connection at the primary (see docs/physical-backups.md)");
        if (!settings.TryGetValue("data_directory", out var dataDirectory))
            throw new PgVaultException(ErrorCode.ServerPermissionDenied, "the connection's role cannot read data_directory: physical backups need a superuser (or pg_read_all_settings and pg_backup_start rights)");
        if (settings.GetValueOrDefault("archive_mode", "off") == "off")
            throw new PgVaultException(ErrorCode.ServerRefused, "WAL archiving is off on the server: a physical backup is only restorable with the WAL written during it",
                "run 'pgvault setup archiving --apply' and restart the server");
        if (settings.GetValueOrDefault("archive_command") is { } command && !command.Contains("archive-push", StringComparison.Ordinal))
            progress.Warn($"archive_command '{command}' does not look like 'pgvault archive-push': the backup waits for its WAL in the PgVault archive (see 'pgvault setup archiving')");
        string pgdata = Path.GetFullPath(options.PgData ?? dataDirectory);
        string control = Path.Combine(pgdata, "global", "pg_control");
        byte[] head = new byte[8];
        try
        {
            await using var stream = new FileStream(control, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            await stream.ReadExactlyAsync(head, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.SourceUnreadable, $"unable to read '{control}': {e.Message}",
                "physical backups run on the database host with the data directory readable (as postgres or root); set pgdata of the cluster");
        }
        string system = BinaryPrimitives.ReadUInt64LittleEndian(head).ToString(CultureInfo.InvariantCulture);
        if (system != server.SystemIdentifier)
            throw new PgVaultException(ErrorCode.ServerRefused, $"data directory '{pgdata}' belongs to database system {system}, but the server the connection reaches is system {server.SystemIdentifier}",
                "set pgdata of the cluster to the data directory of that server");
        var (uid, gid) = IO.Posix.GetOwner(pgdata);
        long segmentSize = long.Parse(settings["wal_segment_size"], CultureInfo.InvariantCulture);
        if (segmentSize < 1024 * 1024) segmentSize *= 8192; // older servers report it in pages
        return new ClusterFacts(pgdata, settings.GetValueOrDefault("data_checksums") == "on", segmentSize, uid, gid);
    }

    /// <summary>
    /// diff: the last full; incr: the last physical backup (full, diff or incr) since that full.
    /// Found from the ids (their suffix is the type), so only the reference's manifest is read;
    /// it must be of the same system and major version and held by every target repository.
    /// </summary>
    /// <summary>
    /// Chooses the reference and allocates the id; the id's allocation checks, under the repository
    /// lock, that the reference chain is still there (an expire running at the same moment may have
    /// removed it) and records it so expire keeps it. Chooses once more when it was removed.
    /// </summary>
    private async Task<(string Type, BackupManifest? Reference, string Id)> BeginAsync(string requested, ServerFacts server, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            var (type, reference) = await ChooseReferenceAsync(requested, server, ct).ConfigureAwait(false);
            List<string> chain = reference?.Physical is { } p ? [.. p.Chain.Append(reference.Id).Distinct()] : [];
            try
            {
                string id = await targets.BeginBackupAsync(DateTimeOffset.UtcNow, BackupKinds.TryFromLetter(PhysicalBackupOptions.Kind(type), out var kind) ? kind : BackupKind.Full, ct, chain).ConfigureAwait(false);
                return (type, reference, id);
            }
            catch (PgVaultException e) when (e.Code == ErrorCode.ReferenceExpired && attempt == 0)
            {
                progress.Warn(e.Message + "; choosing the reference again");
            }
        }
    }

    private async Task<(string Type, BackupManifest? Reference)> ChooseReferenceAsync(string type, ServerFacts server, CancellationToken ct)
    {
        if (type == "full") return (type, null);
        var ids = new List<List<string>>();
        foreach (var catalog in targets.Catalogs) ids.Add(await catalog.ListIdsAsync(ct).ConfigureAwait(false));
        string? lastFull = ids[0].LastOrDefault(i => BackupId.KindOf(i) == BackupKind.Full);
        string? candidate = lastFull == null ? null
            : type == "diff" ? lastFull
            : ids[0].Last(i => string.CompareOrdinal(i, lastFull) >= 0 && BackupId.KindOf(i) is { } kind && kind.IsPhysical());
        if (candidate == null)
        {
            progress.Warn($"no full backup of cluster '{targets.Cluster}' to base a {type} backup on: taking a full backup instead");
            return ("full", null);
        }
        if (ids.Skip(1).Any(list => !list.Contains(candidate)))
        {
            progress.Warn($"reference backup {candidate} is not in every repository ({targets.Names}): taking a full backup instead");
            return ("full", null);
        }
        var reference = await targets.Catalogs[0].GetAsync(candidate, ct).ConfigureAwait(false);
        if (reference.Physical == null || reference.Server.SystemIdentifier != server.SystemIdentifier || reference.Server.VersionNum / 10000 != server.VersionNum / 10000)
        {
            progress.Warn($"the last backup {candidate} is of another database system or major version: taking a full backup instead");
            return ("full", null);
        }
        return (type, reference);
    }

    private static async Task<(ulong Lsn, DateTimeOffset Time, int Timeline)> BackupStartAsync(NpgsqlConnection conn, string label, bool fast, CancellationToken ct)
    {
        try
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_backup_start($1, $2)::text, clock_timestamp(), (SELECT timeline_id FROM pg_control_checkpoint())", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = "pgvault " + label });
            cmd.Parameters.Add(new NpgsqlParameter { Value = fast });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return (Lsn.ParseLsn(reader.GetString(0)), reader.GetFieldValue<DateTimeOffset>(1), reader.GetInt32(2));
        }
        catch (PostgresException e)
        {
            throw new PgVaultException(ErrorCode.ServerPermissionDenied, $"pg_backup_start failed: {e.MessageText}", "physical backups need a superuser or a role granted EXECUTE on pg_backup_start/pg_backup_stop");
        }
    }

    private sealed record StopResult(ulong StopLsn, string Label, string TablespaceMap, DateTimeOffset StopTime, string StopWal);

    private static async Task<StopResult> BackupStopAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        // wait_for_archive => false: PgVault waits for the WAL itself, in every repository, with its own timeout.
        await using var cmd = new NpgsqlCommand(
            "SELECT s.lsn::text, s.labelfile, s.spcmapfile, clock_timestamp(), pg_walfile_name(s.lsn) FROM pg_backup_stop(false) s", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new StopResult(Lsn.ParseLsn(reader.GetString(0)), reader.GetString(1), reader.IsDBNull(2) ? "" : reader.GetString(2),
            reader.GetFieldValue<DateTimeOffset>(3), reader.GetString(4));
    }

    /// <summary>Ends a backup that failed; the session closing would end it too.</summary>
    private static async Task AbortBackupAsync(NpgsqlConnection conn)
    {
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_backup_stop(false)", conn);
            await cmd.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // the session is gone: the server ended the backup with it
        }
    }

    private static async Task<List<TablespaceRecord>> TablespacesAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var list = new List<TablespaceRecord>();
        await using var cmd = new NpgsqlCommand(
            "SELECT oid::bigint, spcname, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new TablespaceRecord { Oid = (uint)reader.GetInt64(0), Name = reader.GetString(1), Location = reader.GetString(2) });
        return list;
    }

    /// <summary>"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)" -> the file name.</summary>
    private static string? StartWalFromLabel(string label)
    {
        foreach (var line in label.Split('\n'))
        {
            if (!line.StartsWith("START WAL LOCATION:", StringComparison.Ordinal)) continue;
            int file = line.IndexOf("(file ", StringComparison.Ordinal);
            if (file >= 0 && line.Length >= file + 6 + 24) return line.Substring(file + 6, 24);
        }
        return null;
    }
}
