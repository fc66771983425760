using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PgVault.Core.Daemon;

/// <summary>
/// The daemon's structured log: one line per event on stderr (journald keeps it), as
/// <c>2026-01-31T02:00:00.123Z INFO message key=value ...</c> or one JSON object per line
/// (<c>daemon.log_format: json</c>). Thread-safe; never logs a secret (messages come from the
/// capabilities, which keep them out of their own messages).
/// </summary>
public sealed class DaemonLog(TextWriter output, bool json)
{
    private readonly Lock _lock = new();

    public bool Json { get; set; } = json;

    public void Info(string message, params (string Key, string? Value)[] fields) => Write("info", message, fields);

    public void Warn(string message, params (string Key, string? Value)[] fields) => Write("warning", message, fields);

    public void Error(string message, params (string Key, string? Value)[] fields) => Write("error", message, fields);

    private void Write(string level, string message, (string Key, string? Value)[] fields)
    {
        string time = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        string line = Json ? JsonLine(time, level, message, fields) : TextLine(time, level, message, fields);
        lock (_lock)
        {
            output.Write(line + "\n");
            output.Flush();
        }
    }

    private static string TextLine(string time, string level, string message, (string Key, string? Value)[] fields)
    {
        var text = new StringBuilder().Append(time).Append(' ').Append(level.ToUpperInvariant()).Append(' ').Append(OneLine(message));
        foreach (var (key, value) in fields)
        {
            if (value is null) continue;
            text.Append(' ').Append(key).Append('=');
            string v = OneLine(value);
            if (v.Length == 0 || v.Any(c => c is ' ' or '"' or '=')) text.Append('"').Append(v.Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
            else text.Append(v);
        }
        return text.ToString();
    }

    private static string JsonLine(string time, string level, string message, (string Key, string? Value)[] fields)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("time", time);
            writer.WriteString("level", level);
            writer.WriteString("msg", message);
            foreach (var (key, value) in fields)
                if (value is not null) writer.WriteString(key, value);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string OneLine(string text) => text.Replace('\n', ' ').Replace('\r', ' ');
}
