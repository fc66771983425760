using System.Diagnostics;
using System.Globalization;
using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Physical;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;
using PgVault.Core.Sandbox;

namespace PgVault.Core.Drill;

/// <summary>
/// A physical backup's drill: PhysicalRestore into a scratch data directory (tablespaces mapped
/// into it too), then the server started there on a free port, Unix socket only, archive_mode=off,
/// recovering through archive-get to the target and promoting.
/// </summary>
public sealed partial class Drill
{
    private async Task PhysicalAsync(BackupManifest manifest, string parent, DrillOptions options, CancellationToken ct)
    {
        _record = _record with { Place = "datadir" };
        var p = manifest.Physical!;
        int major = manifest.Server.VersionNum / 10000;
        string binDir = ServerBinDir(major);
        var restoreOptions = await TargetOptionsAsync(manifest, options.Target, ct).ConfigureAwait(false);

        bool root = Posix.IsRoot;
        await using var scratch = ScratchPlace.Create(parent, _record.Id, root ? p.OwnerUid : null, root ? p.OwnerGid : null);
        scratch.WriteMarker(binDir);
        string data = Path.Combine(scratch.Root, "data");
        restoreOptions = restoreOptions with
        {
            BackupId = manifest.Id,
            PgData = data,
            ArchiveMode = "off",
            Parallel = options.Parallel,
            TablespaceMap = p.Tablespaces.Select(t => $"{t.Oid}={Path.Combine(scratch.Root, "tablespaces", t.Oid.ToString(CultureInfo.InvariantCulture))}").ToList(),
        };
        var outcome = await PhaseAsync("restore", () => new PhysicalRestore(vault, progress).RunAsync(restoreOptions, ct),
            (r, s) => r with { RestoreSeconds = s }).ConfigureAwait(false);
        _record = _record with { BytesRestored = outcome.BytesWritten };

        PrepareServerFiles(scratch.Root, data, root ? p.OwnerUid : null, root ? p.OwnerGid : null);
        string serverOptions = string.Join(' ',
            PrivateServerOptions,
            $"-c hba_file='{Path.Combine(scratch.Root, "pg_hba.drill.conf")}'",
            "-c hot_standby=on", "-c archive_mode=off", "-c synchronous_standby_names=''",
            "-c logging_collector=off", "-c log_destination=stderr", "-c cluster_name=pgvault-drill");
        _phase = "startup";
        var server = await SandboxCluster.StartExistingAsync(scratch.Root, binDir, serverOptions, wait: false, ct, ServerEnvironment()).ConfigureAwait(false);
        await using (server)
        {
            // A short archive can end before the random target while the server is still starting
            // (before it accepts connections) or later, while it replays: the same fallback for both.
            await PhaseAsync("startup", async () =>
            {
                try
                {
                    return await WaitForAsync(server, inRecovery => true, "accept connections (the backup made consistent)", ct).ConfigureAwait(false);
                }
                catch (PgVaultException e) when (RandomTargetNotReached(e))
                {
                    await RecoverToTheEndAsync(server, data, ct).ConfigureAwait(false);
                    return await WaitForAsync(server, inRecovery => true, "accept connections (the backup made consistent)", ct).ConfigureAwait(false);
                }
            }, (r, s) => r with { StartupSeconds = s }).ConfigureAwait(false);
            await PhaseAsync("wal_replay", async () =>
            {
                try
                {
                    return await WaitForAsync(server, inRecovery => !inRecovery, "end recovery at the target and promote", ct).ConfigureAwait(false);
                }
                catch (PgVaultException e) when (RandomTargetNotReached(e))
                {
                    await RecoverToTheEndAsync(server, data, ct).ConfigureAwait(false);
                    return await WaitForAsync(server, inRecovery => !inRecovery, "end recovery at the end of the archive and promote", ct).ConfigureAwait(false);
                }
            }, (r, s) => r with { WalReplaySeconds = s }).ConfigureAwait(false);

            var databases = new List<(string Source, string Target)>();
            await using (var conn = await PgServer.ConnectAsync(server.Connection, ct).ConfigureAwait(false))
            {
                await using var cmd = new NpgsqlCommand($"SELECT coalesce(pg_wal_lsn_diff(coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()), '{p.StartLsn}'), 0)::bigint", conn);
                _record = _record with { WalReplayedBytes = Math.Max(0, (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!) };
                databases.AddRange((await PgServer.DatabasesAsync(conn, ct).ConfigureAwait(false)).Where(d => d.AllowConnections && !d.IsTemplate).Select(d => (d.Name, d.Name)));
            }
            await PhaseAsync("checks", async () =>
            {
                await ValidateAsync(server.Connection, major, databases, manifest, exact: restoreOptions.Target == "immediate", allDatabases: true, options, ct).ConfigureAwait(false);
                return 0;
            }, (r, s) => r with { ChecksSeconds = s }).ConfigureAwait(false);
        }
    }

    private const string TargetNotReached = "recovery ended before configured recovery target was reached";

    private bool RandomTargetNotReached(PgVaultException e) => _record.Target == "random" && e.Message.Contains(TargetNotReached, StringComparison.Ordinal);

    /// <summary>
    /// No commit after the random time is in the archive: the data at that time is the data at the
    /// archive's end. Recovers to the end instead (the same state), restarting the server, and says so.
    /// </summary>
    private async Task RecoverToTheEndAsync(SandboxCluster server, string data, CancellationToken ct)
    {
        _notes.Add($"the archive holds no commit after the random time {_record.TargetValue}: recovered to the end of the archive, which holds the same data");
        DropRecoveryTarget(data);
        await server.StartServerAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Comments out the recovery target in postgresql.auto.conf (restore_command stays).</summary>
    private static void DropRecoveryTarget(string data)
    {
        string autoConf = Path.Combine(data, "postgresql.auto.conf");
        var lines = File.ReadAllLines(autoConf).Select(l => l.TrimStart().StartsWith("recovery_target", StringComparison.Ordinal) ? "# " + l : l);
        File.WriteAllLines(autoConf, lines);
    }

    /// <summary>The recovery target of the drill as restore options (promote at the target), recording the time random chose.</summary>
    private async Task<PhysicalRestoreOptions> TargetOptionsAsync(BackupManifest manifest, string? target, CancellationToken ct)
    {
        switch (target)
        {
            case null or "latest":
                return new PhysicalRestoreOptions(); // to the end of the archive; PostgreSQL promotes there
            case "immediate":
                return new PhysicalRestoreOptions { Target = "immediate", TargetAction = "promote" };
            case "random":
                var window = await RecoverableWindowAsync(manifest, ct).ConfigureAwait(false);
                if (window is not { } w)
                {
                    _notes.Add($"no WAL was archived after backup {manifest.Id} ended: random fell back to the end of the backup (immediate)");
                    _record = _record with { Target = "immediate" };
                    return new PhysicalRestoreOptions { Target = "immediate", TargetAction = "promote" };
                }
                long span = (w.To - w.From).Ticks;
                var chosen = w.From + TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * span));
                string text = chosen.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00'", CultureInfo.InvariantCulture);
                progress.Info($"random target: {text} (recoverable window {w.From:u} .. {w.To:u})");
                _record = _record with { TargetValue = text };
                return new PhysicalRestoreOptions { TargetTime = text, TargetAction = "promote" };
            default:
                if (ParseTime(target) != null) return new PhysicalRestoreOptions { TargetTime = target, TargetAction = "promote" };
                return new PhysicalRestoreOptions { TargetName = target, TargetAction = "promote" };
        }
    }

    /// <summary>From the backup's stop time to the time the newest WAL segment was archived (null when nothing was archived after the backup).</summary>
    private async Task<(DateTimeOffset From, DateTimeOffset To)?> RecoverableWindowAsync(BackupManifest manifest, CancellationToken ct)
    {
        var from = manifest.Physical!.StopTime;
        DateTimeOffset? newest = null;
        foreach (var repository in await vault.OpenRepositoriesAsync(forWriting: false, progress.Warn, ct).ConfigureAwait(false))
        {
            await foreach (var info in repository.Store.ListAsync(RepositoryLayout.WalPrefix(manifest.Cluster), ct).ConfigureAwait(false))
            {
                string file = info.Key[(info.Key.LastIndexOf('/') + 1)..];
                if (file.Length > WalFileName.SegmentNameLength && WalFileName.TryParse(file[..WalFileName.SegmentNameLength]) is { Kind: WalFileKind.Segment }
                    && (newest is null || info.LastModified > newest))
                    newest = info.LastModified;
            }
            break; // the first repository that opens is the one a restore reads
        }
        return newest is { } to && to > from ? (from, to) : null;
    }

    /// <summary>
    /// The scratch server's own pg_hba (trust on its Unix socket only, which lives in the 0700
    /// scratch directory) and an empty postgresql.conf when the backup had none in the data
    /// directory (Debian keeps it in /etc).
    /// </summary>
    private static void PrepareServerFiles(string root, string data, int? uid, int? gid)
    {
        SafeFiles.WriteAllBytes(Path.Combine(root, "pg_hba.drill.conf"), "local all all trust\n"u8, 0b110_000_000, uid, gid);
        string conf = Path.Combine(data, "postgresql.conf");
        if (!File.Exists(conf)) SafeFiles.WriteAllBytes(conf, "# written by pgvault drill: the backup had no postgresql.conf in its data directory\n"u8, 0b110_000_000, uid, gid);
    }

    /// <summary>The variables archive-get needs in the server's environment: the passphrase variable and S3 credentials the configuration names.</summary>
    private Dictionary<string, string> ServerEnvironment()
    {
        var env = new Dictionary<string, string>();
        void Pass(string? name)
        {
            if (name != null && Environment.GetEnvironmentVariable(name) is { } value) env[name] = value;
        }
        Pass(vault.Config.Encryption?.PassphraseEnv);
        foreach (var r in vault.Repositories)
        {
            Pass(r.S3?.AccessKeyIdEnv);
            Pass(r.S3?.SecretAccessKeyEnv);
        }
        return env;
    }

    /// <summary>Polls the server until it answers and <paramref name="done"/>(pg_is_in_recovery()) holds; a server that exits fails the drill with its log's last FATAL line.</summary>
    private async Task<int> WaitForAsync(SandboxCluster server, Func<bool, bool> done, string what, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        bool started = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                await using var conn = await PgServer.ConnectAsync(server.Connection, ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", conn);
                if (done((bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!)) return 0;
            }
            catch (Exception e) when (e is PgVaultException or NpgsqlException)
            {
                ct.ThrowIfCancellationRequested(); // interrupted, not "not up yet"
            }
            string pidFile = Path.Combine(server.DataDir, "postmaster.pid");
            if (File.Exists(pidFile)) started = true;
            if ((started || clock.Elapsed > TimeSpan.FromSeconds(30)) && !PostmasterRuns(pidFile))
                throw new PgVaultException(ErrorCode.DrillFailed, $"the scratch server exited before it could {what}: {LogProblem(server.LogFile)}");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    private static bool PostmasterRuns(string pidFile)
    {
        try
        {
            string first = File.ReadLines(pidFile).FirstOrDefault() ?? "";
            return int.TryParse(first.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && Directory.Exists($"/proc/{pid}");
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The most telling line of the server log: the last FATAL/PANIC (else the last line).</summary>
    private static string LogProblem(string logFile)
    {
        try
        {
            var lines = File.ReadAllLines(logFile).Where(l => l.Trim().Length > 0).ToList();
            return (lines.LastOrDefault(l => l.Contains("FATAL", StringComparison.Ordinal) || l.Contains("PANIC", StringComparison.Ordinal)) ?? lines.LastOrDefault() ?? "no log").Trim();
        }
        catch (IOException)
        {
            return "no log";
        }
    }
}
