using System.Text.Json;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Progress;

namespace PgVault.Core.Alerts;

/// <summary>What the dispatcher remembers of one condition: the severity last sent and when.</summary>
public sealed record AlertState(string Severity, DateTimeOffset LastSent);

/// <summary>What one channel did with one alert: null <see cref="Error"/> when it was delivered.</summary>
public sealed record ChannelOutcome(string Channel, string Type, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>What a report of a condition led to: <see cref="Alert"/> null when nothing was sent.</summary>
public sealed record DispatchResult(Alert? Alert, IReadOnlyList<ChannelOutcome> Channels)
{
    public static readonly DispatchResult Nothing = new(null, []);
}

/// <summary>
/// Turns task results and check states into alerts without a storm: one alert per condition until
/// its severity changes, a recovery alert when it returns to ok, and the same bad state again only
/// after <see cref="AlertDeliveryConfig.RepeatInterval"/>. The state is kept in memory and, when a
/// state file is given, in that file (so a restarted daemon does not repeat itself). A report that
/// no channel could deliver leaves the state as it was, so the next report tries again. Safe to
/// call from several tasks at once.
/// </summary>
public sealed class AlertDispatcher
{
    private readonly IReadOnlyList<IAlertChannel> _channels;
    private readonly TimeSpan _repeat;
    private readonly IProgressSink _progress;
    private readonly TimeProvider _time;
    private readonly string? _stateFile;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, AlertState> _states;

    public AlertDispatcher(AlertDeliveryConfig config, IProgressSink progress, string? stateFile = null, TimeProvider? time = null)
        : this(AlertChannels.Create(config), config.RepeatInterval, progress, stateFile, time)
    {
    }

    internal AlertDispatcher(IReadOnlyList<IAlertChannel> channels, TimeSpan repeatInterval, IProgressSink progress, string? stateFile = null, TimeProvider? time = null)
    {
        _channels = channels;
        _repeat = repeatInterval;
        _progress = progress;
        _time = time ?? TimeProvider.System;
        _stateFile = stateFile;
        _states = LoadState();
    }

    public IReadOnlyList<IAlertChannel> Channels => _channels;

    /// <summary>A task (backup, verify, drill, expire, ...) ended: condition "task:TASK", critical when it failed.</summary>
    public Task<DispatchResult> TaskFinishedAsync(string cluster, string task, bool ok, string? errorCode, string? message, CancellationToken ct = default)
    {
        var severity = ok ? AlertSeverity.Ok : AlertSeverity.Critical;
        string summary = ok ? $"{task} succeeded" : $"{task} failed" + (errorCode is null ? "" : $" ({errorCode})");
        return ReportAsync(cluster, "task:" + task, severity, summary, message, ok ? null : errorCode, ct);
    }

    /// <summary>A monitor check changed or was evaluated again: condition "check:NAME".</summary>
    public Task<DispatchResult> CheckChangedAsync(string cluster, string checkName, AlertSeverity severity, string? message, CancellationToken ct = default) =>
        ReportAsync(cluster, "check:" + checkName, severity, $"{checkName} {Alert.Name(severity).ToUpperInvariant()}" + (message is null ? "" : $": {message}"), message, null, ct);

    /// <summary>Reports the current severity of a condition; sends an alert when the rules above say so.</summary>
    public async Task<DispatchResult> ReportAsync(string cluster, string condition, AlertSeverity severity, string summary, string? details, string? errorCode, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            string key = cluster + "/" + condition;
            var prior = _states.GetValueOrDefault(key);
            var now = _time.GetUtcNow();
            if (Decide(prior, severity, now, _repeat) is not { } kind) return DispatchResult.Nothing;
            var alert = new Alert(cluster, condition, Alert.Name(severity), summary, now)
            {
                Kind = kind,
                PreviousSeverity = prior?.Severity,
                ErrorCode = errorCode,
                Details = details,
            };
            var outcomes = await SendAsync(alert, ct).ConfigureAwait(false);
            if (_channels.Count == 0 || outcomes.Any(o => o.Ok))
            {
                if (severity == AlertSeverity.Ok) _states.Remove(key);
                else _states[key] = new AlertState(alert.Severity, now);
                SaveState();
            }
            return new DispatchResult(alert, outcomes);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The rule: null (send nothing) or the kind of alert to send when a condition last sent as
    /// <paramref name="prior"/> (null: never, or recovered) is now <paramref name="now"/>.
    /// </summary>
    internal static string? Decide(AlertState? prior, AlertSeverity now, DateTimeOffset time, TimeSpan repeat)
    {
        if (prior is null) return now == AlertSeverity.Ok ? null : Alert.Problem;
        if (now == AlertSeverity.Ok) return Alert.Recovery;
        if (prior.Severity != Alert.Name(now)) return Alert.Problem;
        return time - prior.LastSent >= repeat ? Alert.Repeat : null;
    }

    /// <summary>Sends <paramref name="alert"/> through every channel (one failing does not stop the others).</summary>
    public async Task<IReadOnlyList<ChannelOutcome>> SendAsync(Alert alert, CancellationToken ct)
    {
        var outcomes = new List<ChannelOutcome>();
        foreach (var channel in _channels)
        {
            try
            {
                await channel.SendAsync(alert, ct).ConfigureAwait(false);
                outcomes.Add(new ChannelOutcome(channel.Name, channel.Type, null));
            }
            catch (PgVaultException e)
            {
                _progress.Warn($"alert '{alert.Condition}' of {alert.Cluster} not sent through {channel.Type} channel '{channel.Name}': {e.Message}");
                outcomes.Add(new ChannelOutcome(channel.Name, channel.Type, e.Message));
            }
        }
        return outcomes;
    }

    private Dictionary<string, AlertState> LoadState()
    {
        if (_stateFile is null || !File.Exists(_stateFile)) return new(StringComparer.Ordinal);
        try
        {
            var loaded = JsonSerializer.Deserialize(File.ReadAllText(_stateFile), AlertJson.Default.DictionaryStringAlertState);
            return new(loaded ?? [], StringComparer.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            _progress.Warn($"alert state file '{_stateFile}' is unreadable ({e.Message}); starting with no alert state");
            return new(StringComparer.Ordinal);
        }
    }

    private void SaveState()
    {
        if (_stateFile is null) return;
        string temp = _stateFile + ".tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(new Dictionary<string, AlertState>(_states), AlertJson.Default.DictionaryStringAlertState));
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(temp, _stateFile, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _progress.Warn($"unable to write alert state file '{_stateFile}': {e.Message}");
        }
    }
}
