using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using PgVault.Core.Storage;

namespace PgVault.Core.Repository;

/// <summary>The content of clusters/C/lock.json: who holds the cluster's repository lock, doing what.</summary>
public sealed record RepositoryLockHolder
{
    public string Host { get; init; } = "";
    public int Pid { get; init; }
    /// <summary>Start time of the holder process (clock ticks since boot), telling it from a later process with its pid.</summary>
    public long ProcessStart { get; init; }
    public DateTimeOffset Started { get; init; }
    public DateTimeOffset Heartbeat { get; init; }
    public string Operation { get; init; } = "";
    /// <summary>Random: a holder removes or refreshes the lock only while it still carries its token.</summary>
    public string Token { get; init; } = "";

    public override string ToString() =>
        $"'{Operation}' (host {Host}, pid {Pid}, since {Started.ToString("u", CultureInfo.InvariantCulture)}, heartbeat {Heartbeat.ToString("u", CultureInfo.InvariantCulture)})";
}

/// <summary>The content of backups/ID/backup.lock while a backup runs (a superset of <see cref="BackupLock"/>).</summary>
internal sealed record BackupInProgress
{
    public string Host { get; init; } = "";
    public int Pid { get; init; }
    public long ProcessStart { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>The backups this one references (its reference chain, oldest first): expire keeps them while it runs.</summary>
    public List<string> Chain { get; init; } = [];

    public static BackupInProgress Mine(IReadOnlyList<string>? chain = null) => new()
    {
        Host = Environment.MachineName, Pid = ProcessIdentity.Pid, ProcessStart = ProcessIdentity.StartTicks, StartedAt = DateTimeOffset.UtcNow,
        Chain = chain is null ? [] : [.. chain],
    };

    public bool IsMine => Host == Environment.MachineName && Pid == ProcessIdentity.Pid && ProcessStart == ProcessIdentity.StartTicks;

    /// <summary>Alive: on this host its process (pid and start time) still runs; another host is trusted for a day.</summary>
    public bool IsAlive => Host != Environment.MachineName
        ? DateTimeOffset.UtcNow - StartedAt < TimeSpan.FromDays(1)
        : ProcessIdentity.IsAlive(Pid, ProcessStart);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NewLine = "\n",
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RepositoryLockHolder))]
[JsonSerializable(typeof(BackupInProgress))]
internal sealed partial class LockJson : JsonSerializerContext;

/// <summary>
/// The repository lock of one cluster in one repository: an object created with create-if-absent
/// (<see cref="IObjectStore.TryCreateAsync"/>), refreshed by a heartbeat while held and removed on
/// dispose. Backups hold it only while they remove debris and allocate their id (seconds); archive-push
/// never takes it (it uses per-file claims); catalog-changing operations (expire, delete) hold it
/// for their whole run. A lock whose holder ran on this host and is gone (pid missing, or another
/// process start time) is taken over with an info line; a lock of another host whose heartbeat is
/// older than <see cref="RemoteStaleAfter"/> is refused with a hint to run <c>pgvault repo unlock</c>.
/// See docs/repository-format.md.
/// </summary>
public sealed class RepositoryLock : IAsyncDisposable
{
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan RemoteStaleAfter = TimeSpan.FromMinutes(10);

    private readonly IObjectStore _store;
    private readonly string _key;
    private readonly CancellationTokenSource _stop = new();
    private RepositoryLockHolder _holder;
    private readonly Task _heartbeat;

    private RepositoryLock(IObjectStore store, string key, RepositoryLockHolder holder)
    {
        _store = store;
        _key = key;
        _holder = holder;
        _heartbeat = Task.Run(() => BeatAsync(_stop.Token));
    }

    public RepositoryLockHolder Holder => _holder;

    /// <summary>
    /// Takes the lock of <paramref name="cluster"/>, waiting up to <paramref name="wait"/> while a live
    /// holder has it; one clear error naming the holder when it does not come free.
    /// </summary>
    public static async Task<RepositoryLock> AcquireAsync(Repository repository, string cluster, string operation, TimeSpan wait,
        IProgressSink progress, CancellationToken ct)
    {
        var store = repository.Store;
        string key = RepositoryLayout.Lock(cluster);
        var deadline = DateTimeOffset.UtcNow + wait;
        for (int attempt = 0; ; attempt++)
        {
            var now = DateTimeOffset.UtcNow;
            var mine = new RepositoryLockHolder
            {
                Host = Environment.MachineName, Pid = ProcessIdentity.Pid, ProcessStart = ProcessIdentity.StartTicks,
                Started = now, Heartbeat = now, Operation = operation, Token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            };
            if (await store.TryCreateAsync(key, Serialize(mine), ct).ConfigureAwait(false)) return new RepositoryLock(store, key, mine);
            var held = await ReadAsync(repository, cluster, ct).ConfigureAwait(false);
            if (held is null) continue; // released meanwhile
            if (held.Host == Environment.MachineName)
            {
                if (!ProcessIdentity.IsAlive(held.Pid, held.ProcessStart))
                {
                    progress.Info($"repository '{repository.Name}': taking over the lock of cluster '{cluster}' left by {held}: that process is gone");
                    await RemoveIfHeldByAsync(store, key, held.Token, ct).ConfigureAwait(false);
                    continue;
                }
            }
            else if (now - held.Heartbeat > RemoteStaleAfter)
            {
                throw new PgVaultException(ErrorCode.Locked,
                    $"repository '{repository.Name}': cluster '{cluster}' is locked by {held}, whose heartbeat stopped more than {RemoteStaleAfter.TotalMinutes:0} minutes ago",
                    $"if that process is gone, run 'pgvault repo unlock --cluster {cluster}' and try again");
            }
            if (now >= deadline)
            {
                throw new PgVaultException(ErrorCode.Locked, $"repository '{repository.Name}': cluster '{cluster}' is locked by {held}",
                    $"wait for it to finish; if it is gone, run 'pgvault repo unlock --cluster {cluster}'");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(RandomNumberGenerator.GetInt32(30, 150 + 50 * Math.Min(attempt, 10))), ct).ConfigureAwait(false);
        }
    }

    /// <summary>The current holder of the lock, or null when it is free.</summary>
    public static async Task<RepositoryLockHolder?> ReadAsync(Repository repository, string cluster, CancellationToken ct)
    {
        string key = RepositoryLayout.Lock(cluster);
        byte[] raw;
        try
        {
            raw = await repository.Store.GetBytesAsync(key, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        try
        {
            return ChecksummedJson.Deserialize(raw, LockJson.Default.RepositoryLockHolder, key);
        }
        catch (PgVaultException e)
        {
            throw new PgVaultException(ErrorCode.Locked, $"repository '{repository.Name}': the lock of cluster '{cluster}' is unreadable ({e.Message})",
                $"if no pgvault command runs on this cluster, run 'pgvault repo unlock --cluster {cluster} --force'", inner: e);
        }
    }

    /// <summary>
    /// Removes the lock for an operator. A live holder on this host (or a holder of another host
    /// with a recent heartbeat) is refused unless <paramref name="force"/>. Returns the holder removed.
    /// </summary>
    public static async Task<RepositoryLockHolder?> UnlockAsync(Repository repository, string cluster, bool force, CancellationToken ct)
    {
        string key = RepositoryLayout.Lock(cluster);
        RepositoryLockHolder? held;
        try
        {
            held = await ReadAsync(repository, cluster, ct).ConfigureAwait(false);
        }
        catch (PgVaultException) when (force)
        {
            await repository.Store.DeleteAsync(key, ct).ConfigureAwait(false);
            return new RepositoryLockHolder { Operation = "unreadable" };
        }
        if (held is null) return null;
        bool live = held.Host == Environment.MachineName
            ? ProcessIdentity.IsAlive(held.Pid, held.ProcessStart)
            : DateTimeOffset.UtcNow - held.Heartbeat <= RemoteStaleAfter;
        if (live && !force)
        {
            throw new PgVaultException(ErrorCode.Locked, $"repository '{repository.Name}': cluster '{cluster}' is locked by {held}, which is still running",
                "wait for it to finish, or add --force if you are sure it is not using the repository");
        }
        await RemoveIfHeldByAsync(repository.Store, key, held.Token, ct).ConfigureAwait(false);
        return held;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await _heartbeat.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
        try
        {
            await RemoveIfHeldByAsync(_store, _key, _holder.Token, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or IOException)
        {
            // A lock left behind names this process, which is about to be gone: the next run takes it over.
        }
    }

    private async Task BeatAsync(CancellationToken ct)
    {
        while (true)
        {
            await Task.Delay(HeartbeatInterval, ct).ConfigureAwait(false);
            try
            {
                byte[] raw = await _store.GetBytesAsync(_key, ct).ConfigureAwait(false);
                if (ChecksummedJson.Deserialize(raw, LockJson.Default.RepositoryLockHolder, _key).Token != _holder.Token) return; // taken from us
                _holder = _holder with { Heartbeat = DateTimeOffset.UtcNow };
                await _store.PutAsync(_key, Serialize(_holder), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is PgVaultException or IOException or ObjectNotFoundException)
            {
                // A missed beat only makes the lock look older to other hosts; try again next time.
            }
        }
    }

    private static async Task RemoveIfHeldByAsync(IObjectStore store, string key, string token, CancellationToken ct)
    {
        // Read-then-delete is not atomic: two processes taking over one stale lock at the same moment
        // narrow to this window, which the token check keeps to a few milliseconds.
        byte[] raw;
        try
        {
            raw = await store.GetBytesAsync(key, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return;
        }
        RepositoryLockHolder? current = null;
        try { current = ChecksummedJson.Deserialize(raw, LockJson.Default.RepositoryLockHolder, key); } catch (PgVaultException) { }
        if (current is null || current.Token == token) await store.DeleteAsync(key, ct).ConfigureAwait(false);
    }

    private static byte[] Serialize(RepositoryLockHolder holder) => ChecksummedJson.Serialize(holder, LockJson.Default.RepositoryLockHolder);
}
