using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgVault.Core.Daemon;

/// <summary>
/// What the daemon remembers across restarts (daemon.state_file): the last slot each schedule
/// handled (ran, or counted as missed), so start-up knows what it missed. A missing or unreadable
/// file means "nothing known": no catch-up, never a refusal to start.
/// </summary>
internal sealed class DaemonState(string path, DaemonLog log)
{
    private readonly Dictionary<string, DateTimeOffset> _slots = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private bool _warned;

    public void Load()
    {
        try
        {
            if (!File.Exists(path)) return;
            var file = JsonSerializer.Deserialize(File.ReadAllText(path), DaemonStateJson.Default.DaemonStateFile);
            foreach (var (key, slot) in file?.Slots ?? []) _slots[key] = slot;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            log.Warn("daemon state unreadable; no catch-up this start", ("file", path), ("error", e.Message));
        }
    }

    public DateTimeOffset? LastHandled(string key)
    {
        lock (_lock) return _slots.TryGetValue(key, out var slot) ? slot : null;
    }

    /// <summary>Records <paramref name="slot"/> as handled and writes the file (temp + rename); a failure is logged once.</summary>
    public void Handled(string key, DateTimeOffset slot)
    {
        string text;
        lock (_lock)
        {
            if (_slots.TryGetValue(key, out var old) && old >= slot) return;
            _slots[key] = slot;
            text = JsonSerializer.Serialize(new DaemonStateFile { Slots = new Dictionary<string, DateTimeOffset>(_slots) }, DaemonStateJson.Default.DaemonStateFile);
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                string temp = path + ".tmp";
                File.WriteAllText(temp, text);
                File.Move(temp, path, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (!_warned) log.Warn("cannot write the daemon state; missed runs will not be caught up after a restart", ("file", path), ("error", e.Message));
                _warned = true;
            }
        }
    }
}

internal sealed class DaemonStateFile
{
    public Dictionary<string, DateTimeOffset> Slots { get; set; } = [];
}

[JsonSerializable(typeof(DaemonStateFile))]
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class DaemonStateJson : JsonSerializerContext;
