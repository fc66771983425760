using System.Globalization;
using System.Text;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Monitor;
using PgVault.Core.Progress;
using PgVault.Core.Streaming;
using PgVault.Core.Vault;

namespace PgVault.Core.Daemon;

/// <summary>
/// Runs <c>pgvault wal-stream</c> for every cluster whose schedules list <c>{task: wal-stream}</c>,
/// from the daemon's start to its stop: the same capability as the CLI
/// (<c>new WalStreamer(vault, progress).RunAsync(options, ct)</c>). The streamer reconnects by itself
/// once it has streamed; when it stops with an error (server down at start, slot missing, a
/// preflight refusal) the supervisor logs it, tells the observers (a failed <c>wal-stream</c> run:
/// an alert, a count) and starts it again after a backoff of 5 s doubling to 5 min. The first time
/// it reaches the streaming state after a failure counts as a success (the alert's recovery).
/// </summary>
public sealed class StreamSupervisor(DaemonLog log, IReadOnlyList<ITaskObserver> observers)
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);
    private readonly Dictionary<string, WalStreamer> _running = [];
    private readonly Lock _lock = new();

    /// <summary>The clusters streamed under <paramref name="config"/>.</summary>
    public static IReadOnlyList<string> Clusters(PgVaultConfig config) =>
        config.Clusters.Where(c => c.Value.Schedules.Any(s => s.Continuous)).Select(c => c.Key).Order(StringComparer.Ordinal).ToList();

    /// <summary>Streams every configured cluster until <paramref name="stop"/> (a clean stop of each streamer).</summary>
    public Task RunAsync(PgVaultConfig config, CancellationToken stop) =>
        Task.WhenAll(Clusters(config).Select(cluster => Task.Run(() => SuperviseAsync(config, cluster, stop), CancellationToken.None)));

    /// <summary>Each streamer's status now (for /metrics).</summary>
    public IReadOnlyList<(string Cluster, WalStreamStatus Status)> Statuses()
    {
        lock (_lock) return _running.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => (r.Key, r.Value.Status)).ToList();
    }

    private async Task SuperviseAsync(PgVaultConfig config, string cluster, CancellationToken stop)
    {
        var backoff = FirstBackoff;
        bool failing = false;
        while (!stop.IsCancellationRequested)
        {
            var started = DateTimeOffset.UtcNow;
            var progress = new StreamProgress(log, cluster);
            try
            {
                var vault = Vault.Vault.Open(config, new GlobalOptions(ConfigFile: config.SourceFile, Cluster: cluster));
                var streamer = new WalStreamer(vault, progress);
                lock (_lock) _running[cluster] = streamer;
                Notify(o => o.TaskStarted(cluster, "wal-stream", "wal-stream"));
                using var watching = CancellationTokenSource.CreateLinkedTokenSource(stop);
                var recovered = WatchRecoveryAsync(streamer, cluster, started, () => failing, () => { failing = false; backoff = FirstBackoff; }, watching.Token);
                try
                {
                    var result = await streamer.RunAsync(new WalStreamOptions(), stop).ConfigureAwait(false);
                    log.Info($"wal-stream stopped: {result.SegmentsArchived} segment(s) archived, flushed to {result.FlushedLsn ?? "-"}", ("cluster", cluster), ("task", "wal-stream"));
                }
                finally
                {
                    await watching.CancelAsync().ConfigureAwait(false);
                    await recovered.ConfigureAwait(false);
                }
                if (stop.IsCancellationRequested) return;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                string code = e is PgVaultException pe ? pe.Code.WireName() : ErrorCode.Internal.WireName();
                string message = e is PgVaultException ? e.Message : $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
                log.Error($"wal-stream failed: {message}; starting it again in {Units.Duration(backoff.TotalSeconds)}", ("cluster", cluster), ("task", "wal-stream"), ("code", code));
                failing = true;
                Notify(o => o.TaskFinished(new TaskOutcome(cluster, "wal-stream", "wal-stream", TaskResults.Failure, code, message, started, DateTimeOffset.UtcNow - started)));
            }
            try
            {
                await Task.Delay(backoff, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
        }
    }

    /// <summary>The first time the streamer streams (after a failure, or at all): a success for the observers.</summary>
    private async Task WatchRecoveryAsync(WalStreamer streamer, string cluster, DateTimeOffset started, Func<bool> failing, Action reset, CancellationToken ct)
    {
        try
        {
            while (streamer.Status.State != WalStreamState.Streaming) await Task.Delay(500, ct).ConfigureAwait(false);
            bool wasFailing = failing();
            reset();
            if (wasFailing) log.Info("wal-stream is streaming again", ("cluster", cluster), ("task", "wal-stream"));
            Notify(o => o.TaskFinished(new TaskOutcome(cluster, "wal-stream", "wal-stream", TaskResults.Success, null, "streaming", started, DateTimeOffset.UtcNow - started)));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Notify(Action<ITaskObserver> call)
    {
        foreach (var observer in observers)
        {
            try
            {
                call(observer);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.Warn("an observer failed: " + e.Message, ("task", "wal-stream"));
            }
        }
    }

    /// <summary>pgvault_wal_stream_up and pgvault_wal_stream_lag_bytes in the Prometheus text format.</summary>
    public static string RenderPrometheus(IReadOnlyList<(string Cluster, WalStreamStatus Status)> statuses)
    {
        if (statuses.Count == 0) return "";
        var text = new StringBuilder();
        text.Append("# HELP pgvault_wal_stream_up 1 while wal-stream is streaming, 0 while it starts, reconnects or is stopped.\n");
        text.Append("# TYPE pgvault_wal_stream_up gauge\n");
        foreach (var (cluster, status) in statuses)
            text.Append(CultureInfo.InvariantCulture, $"pgvault_wal_stream_up{{cluster=\"{PrometheusText.EscapeLabel(cluster)}\"}} {(status.State == WalStreamState.Streaming ? 1 : 0)}\n");
        text.Append("# HELP pgvault_wal_stream_lag_bytes The server's WAL position minus what wal-stream has made durable in its spool.\n");
        text.Append("# TYPE pgvault_wal_stream_lag_bytes gauge\n");
        foreach (var (cluster, status) in statuses)
            text.Append(CultureInfo.InvariantCulture, $"pgvault_wal_stream_lag_bytes{{cluster=\"{PrometheusText.EscapeLabel(cluster)}\"}} {status.LagBytes}\n");
        return text.ToString();
    }

    private sealed class StreamProgress(DaemonLog log, string cluster) : IProgressSink
    {
        public void Info(string message) => log.Info(message, ("cluster", cluster), ("task", "wal-stream"));

        public void Warn(string message) => log.Warn(message, ("cluster", cluster), ("task", "wal-stream"));

        public IProgressTask Start(string description, long? totalBytes = null) => NullProgress.Instance.Start(description, totalBytes);
    }
}
