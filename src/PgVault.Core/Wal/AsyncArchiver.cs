using System.Diagnostics;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Progress;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Wal;

/// <summary>
/// Asynchronous archiving for high WAL rates. archive_command stays `pgvault archive-push %p`; with
/// `archive_async: true` it only waits for a marker in the spool directory, while one background
/// worker per cluster pushes every file PostgreSQL has marked ready (pg_wal/archive_status/*.ready)
/// ahead of time, several at once. A file's ".ok" marker is written only after it is durable in
/// every repository, so nothing is acknowledged early; a failure leaves an ".error" marker whose
/// message archive-push reports (PostgreSQL then keeps the WAL and retries).
/// </summary>
internal sealed class AsyncArchiver(string spool)
{
    private const string LockName = "worker.lock";

    public string OutDirectory => Path.Combine(spool, "out");

    /// <summary>The outcome a foreground archive-push found for <paramref name="name"/>: true ok, false error (with message), null none yet.</summary>
    public (bool? Ok, string? Error) Consume(string name)
    {
        string ok = Path.Combine(OutDirectory, name + ".ok");
        string error = Path.Combine(OutDirectory, name + ".error");
        if (File.Exists(ok))
        {
            File.Delete(ok);
            return (true, null);
        }
        if (File.Exists(error))
        {
            string message;
            try
            {
                message = File.ReadAllText(error).Trim();
                File.Delete(error);
            }
            catch (FileNotFoundException)
            {
                return (null, null);
            }
            return (false, message);
        }
        return (null, null);
    }

    /// <summary>True when a worker holds the lock right now.</summary>
    public bool WorkerRunning()
    {
        EnsureSpool();
        try
        {
            using var probe = new FileStream(Path.Combine(spool, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>
    /// Foreground side of archive-push: waits for the worker's verdict on <paramref name="name"/>,
    /// starting a worker whenever none runs.
    /// </summary>
    public async Task WaitAsync(string name, Func<Process?> startWorker, TimeSpan timeout, CancellationToken ct)
    {
        EnsureSpool();
        var clock = Stopwatch.StartNew();
        TimeSpan? lastStart = null;
        while (true)
        {
            var (ok, error) = Consume(name);
            if (ok == true) return;
            if (ok == false) throw new PgVaultException(ErrorCode.ArchiveFailed, $"asynchronous archiving of {name} failed: {error}");
            // A worker needs a moment to open the repositories and take the lock: do not start another meanwhile.
            if ((lastStart is null || clock.Elapsed - lastStart > TimeSpan.FromSeconds(3)) && !WorkerRunning())
            {
                startWorker()?.Dispose();
                lastStart = clock.Elapsed;
            }
            if (clock.Elapsed > timeout)
                throw new PgVaultException(ErrorCode.ArchiveTimeout, $"asynchronous archiving did not store {name} within {timeout.TotalSeconds:0} s",
                    $"see the server log for the worker's messages; the spool is {spool}");
            // The verdict usually comes within a push's time (tens of ms): look often at first.
            await Task.Delay(clock.ElapsedMilliseconds < 200 ? 2 : 20, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The worker: holds the lock, pushes ready files (oldest first, <paramref name="processes"/> at
    /// a time) and writes their markers, until nothing new has been ready for <paramref name="idle"/>.
    /// Returns false when another worker already runs.
    /// </summary>
    public async Task<bool> RunWorkerAsync(string pgWal, WalArchive archive, CompressionSpec compression, int processes, TimeSpan idle, IProgressSink progress, CancellationToken ct)
    {
        EnsureSpool();
        FileStream held;
        try
        {
            held = new FileStream(Path.Combine(spool, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return false;
        }
        await using (held)
        {
            string status = Path.Combine(pgWal, "archive_status");
            RemoveStaleMarkers(status);
            // Files pushed by this run: PostgreSQL renames .ready to .done only after archive-push
            // consumed the marker, so a later scan may still see .ready; never push or mark twice.
            var pushed = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
            var lastWork = Stopwatch.StartNew();
            while (lastWork.Elapsed < idle)
            {
                var ready = Directory.Exists(status)
                    ? Directory.GetFiles(status, "*.ready").Select(f => Path.GetFileName(f)[..^".ready".Length])
                        .Where(n => WalFileName.TryParse(n) != null && !pushed.ContainsKey(n) && !HasMarker(n))
                        .OrderBy(n => n.EndsWith(".history", StringComparison.Ordinal) ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal)
                        .Take(processes * 4).ToList()
                    : [];
                if (ready.Count == 0)
                {
                    await Task.Delay(50, ct).ConfigureAwait(false);
                    continue;
                }
                await Parallel.ForEachAsync(ready, new ParallelOptions { MaxDegreeOfParallelism = processes, CancellationToken = ct }, async (name, c) =>
                {
                    try
                    {
                        await archive.PushAsync(Path.Combine(pgWal, name), compression, c).ConfigureAwait(false);
                        pushed[name] = true;
                        WriteMarker(name + ".ok", "");
                    }
                    catch (Exception e) when (e is PgVaultException or IOException or UnauthorizedAccessException)
                    {
                        progress.Warn($"asynchronous archiving of {name} failed: {e.Message}");
                        WriteMarker(name + ".error", e.Message);
                    }
                }).ConfigureAwait(false);
                lastWork.Restart();
            }
        }
        return true;
    }

    /// <summary>Markers of files PostgreSQL no longer has ready (archived, or gone) are stale: remove them.</summary>
    private void RemoveStaleMarkers(string status)
    {
        foreach (var marker in Directory.GetFiles(OutDirectory))
        {
            string file = Path.GetFileName(marker);
            string name = file.EndsWith(".ok", StringComparison.Ordinal) ? file[..^3] : file.EndsWith(".error", StringComparison.Ordinal) ? file[..^6] : file;
            if (!File.Exists(Path.Combine(status, name + ".ready"))) File.Delete(marker);
        }
    }

    private bool HasMarker(string name) =>
        File.Exists(Path.Combine(OutDirectory, name + ".ok")) || File.Exists(Path.Combine(OutDirectory, name + ".error"));

    private void WriteMarker(string file, string content)
    {
        string path = Path.Combine(OutDirectory, file);
        string temp = path + ".tmp";
        File.WriteAllText(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    private void EnsureSpool()
    {
        const UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        try
        {
            Directory.CreateDirectory(spool, mode);
            Directory.CreateDirectory(OutDirectory, mode);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.IoFailed, $"unable to create the spool directory '{spool}': {e.Message}",
                "set spool_path for the cluster to a directory the PostgreSQL OS user can write");
        }
    }
}
