using System.Globalization;
using System.Net;
using Cronos;
using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

/// <summary>The top-level <c>daemon:</c> section and <c>clusters.NAME.schedules</c>.</summary>
public static partial class ConfigLoader
{
    private static readonly string[] DaemonKeys = ["max_concurrent", "jitter", "catch_up", "listen", "metrics_token_file", "shutdown_grace", "log_format", "state_file", "check_interval"];
    private static readonly string[] ScheduleKeys = ["task", "type", "databases", "target", "cron", "every", "daily_at", "time_zone"];
    private static readonly string[] BackupTypes = ["full", "diff", "incr", "logical"];

    private static DaemonConfig ReadDaemon(Reader reader, YamlMappingNode root)
    {
        if (reader.Get(root, "daemon") is not { } node || node is YamlScalarNode { Value: null or "" }) return DaemonConfig.Default;
        var map = reader.Mapping(node, "daemon");
        reader.CheckKeys(map, "daemon.", DaemonKeys);
        var daemon = new DaemonConfig();
        if (reader.String(map, "max_concurrent", "daemon.max_concurrent") is { } mtext)
        {
            if (!int.TryParse(mtext, NumberStyles.None, CultureInfo.InvariantCulture, out int max) || max < 1 || max > 64)
                throw reader.Error("daemon.max_concurrent", $"'{mtext}' must be a whole number from 1 to 64");
            daemon = daemon with { MaxConcurrent = max };
        }
        daemon = daemon with
        {
            Jitter = Span(reader, map, "jitter", daemon.Jitter, allowZero: true),
            CatchUp = Span(reader, map, "catch_up", daemon.CatchUp, allowZero: true),
            ShutdownGrace = Span(reader, map, "shutdown_grace", daemon.ShutdownGrace, allowZero: true),
            CheckInterval = Span(reader, map, "check_interval", daemon.CheckInterval, allowZero: false),
        };
        if (daemon.CheckInterval < TimeSpan.FromSeconds(5))
            throw reader.Error("daemon.check_interval", $"'{daemon.CheckInterval.TotalSeconds}s' is too short: at least 5s");
        if (reader.String(map, "log_format", "daemon.log_format") is { } format)
        {
            if (format is not ("text" or "json")) throw reader.Error("daemon.log_format", $"'{format}' must be text or json");
            daemon = daemon with { LogFormat = format };
        }
        if (reader.String(map, "state_file", "daemon.state_file") is { } state)
        {
            if (!Path.IsPathFullyQualified(state)) throw reader.Error("daemon.state_file", $"'{state}' must be an absolute path");
            daemon = daemon with { StateFile = state };
        }
        if (reader.String(map, "metrics_token_file", "daemon.metrics_token_file") is { } token)
        {
            if (!Path.IsPathFullyQualified(token)) throw reader.Error("daemon.metrics_token_file", $"'{token}' must be an absolute path");
            daemon = daemon with { MetricsTokenFile = token };
        }
        if (reader.String(map, "listen", "daemon.listen") is { } listen)
        {
            if (ParseListen(listen) is not { } endpoint)
                throw reader.Error("daemon.listen", $"'{listen}' must be ADDRESS:PORT with an IP address (127.0.0.1:9187, [::1]:9187, 0.0.0.0:9187) or localhost:PORT");
            if (!IPAddress.IsLoopback(endpoint.Address) && daemon.MetricsTokenFile is null)
                throw reader.Error("daemon.listen", $"'{listen}' is not a loopback address: set daemon.metrics_token_file so /metrics needs a token");
            daemon = daemon with { Listen = listen };
        }
        return daemon;
    }

    /// <summary>ADDRESS:PORT (an IP address, [v6]:port, or localhost), or null.</summary>
    public static IPEndPoint? ParseListen(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0) return null;
        string host = text[..colon];
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535) return null;
        if (host == "localhost") return new IPEndPoint(IPAddress.Loopback, port);
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) return null;
        return IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port) : null;
    }

    private static TimeSpan Span(Reader reader, YamlMappingNode map, string key, TimeSpan fallback, bool allowZero)
    {
        if (reader.String(map, key, "daemon." + key) is not { } text) return fallback;
        if (allowZero && text.Trim() == "0") return TimeSpan.Zero;
        if (!Units.TryParseDuration(text, out var span))
            throw reader.Error("daemon." + key, $"'{text}' must be a span such as 30s, 10m or 1h{(allowZero ? " (or 0)" : "")}");
        return span;
    }

    private static IReadOnlyList<ScheduleSpec> ReadSchedules(Reader reader, YamlMappingNode cm, string where)
    {
        if (reader.Get(cm, "schedules") is not { } node || node is YamlScalarNode { Value: null or "" }) return [];
        where += ".schedules";
        if (node is not YamlSequenceNode list) throw reader.Error(where, "must be a list of {task:, cron: | every: | daily_at:}");
        var schedules = new List<ScheduleSpec>();
        for (int i = 0; i < list.Children.Count; i++)
        {
            string at = $"{where}[{i}]";
            var map = reader.Mapping(list.Children[i], at);
            reader.CheckKeys(map, at + ".", ScheduleKeys);
            string taskText = reader.String(map, "task", at + ".task") ?? throw reader.Error(at + ".task", "is required (backup, verify, drill, expire or wal-stream)");
            var task = taskText switch
            {
                "backup" => ScheduledTaskKind.Backup,
                "verify" => ScheduledTaskKind.Verify,
                "drill" => ScheduledTaskKind.Drill,
                "expire" => ScheduledTaskKind.Expire,
                "wal-stream" => ScheduledTaskKind.WalStream,
                _ => throw reader.Error(at + ".task", $"'{taskText}' is not a task (allowed: backup, verify, drill, expire, wal-stream)"),
            };
            string? type = reader.String(map, "type", at + ".type");
            if (task == ScheduledTaskKind.Backup)
            {
                type ??= "logical";
                if (!BackupTypes.Contains(type)) throw reader.Error(at + ".type", $"'{type}' is not a backup type (allowed: {string.Join(", ", BackupTypes)})");
            }
            else if (type != null) throw reader.Error(at + ".type", "applies to task: backup only");
            var databases = new List<string>();
            if (reader.Get(map, "databases") is { } dbNode and not YamlScalarNode { Value: null or "" })
            {
                if (task != ScheduledTaskKind.Backup || type != "logical") throw reader.Error(at + ".databases", "applies to logical backups only");
                if (dbNode is YamlScalarNode one) databases.Add(one.Value!);
                else if (dbNode is YamlSequenceNode dbs) databases.AddRange(dbs.Children.Select(d => (d as YamlScalarNode)?.Value ?? throw reader.Error(at + ".databases", "must be a list of database names")));
                else throw reader.Error(at + ".databases", "must be a list of database names");
            }
            string? target = reader.String(map, "target", at + ".target");
            if (target != null && task != ScheduledTaskKind.Drill) throw reader.Error(at + ".target", "applies to task: drill only");

            string? cron = reader.String(map, "cron", at + ".cron");
            string? every = reader.String(map, "every", at + ".every");
            string? dailyAt = reader.String(map, "daily_at", at + ".daily_at");
            int timings = (cron != null ? 1 : 0) + (every != null ? 1 : 0) + (dailyAt != null ? 1 : 0);
            if (task == ScheduledTaskKind.WalStream)
            {
                // Streaming never ends: the daemon runs it from start to stop, restarting it after a failure.
                if (timings != 0 || map.Children.ContainsKey(new YamlScalarNode("time_zone")))
                    throw reader.Error(at, "task: wal-stream runs continuously: it takes no cron:, every:, daily_at: or time_zone:");
                if (schedules.Any(s => s.Task == ScheduledTaskKind.WalStream))
                    throw reader.Error(at + ".task", "wal-stream is listed twice: one streamer per cluster");
                schedules.Add(new ScheduleSpec { Task = task, When = "continuously" });
                continue;
            }
            if (timings != 1)
                throw reader.Error(at, "needs exactly one of cron:, every: or daily_at:");
            var spec = new ScheduleSpec { Task = task, Type = type, Databases = databases, Target = target, When = cron != null ? $"cron \"{cron}\"" : every != null ? $"every {every}" : $"daily at {dailyAt}" };
            if (cron != null) spec = spec with { Cron = ParseCron(reader, cron, at + ".cron") };
            else if (dailyAt != null)
            {
                if (!TimeOnly.TryParseExact(dailyAt, ["H:mm", "HH:mm", "H:mm:ss", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
                    throw reader.Error(at + ".daily_at", $"'{dailyAt}' must be a time of day such as \"02:00\" or \"23:30:15\"");
                spec = spec with { Cron = CronExpression.Parse($"{time.Second} {time.Minute} {time.Hour} * * *", CronFormat.IncludeSeconds) };
            }
            else
            {
                if (!Units.TryParseDuration(every, out var span) || span < TimeSpan.FromSeconds(1))
                    throw reader.Error(at + ".every", $"'{every}' must be a span such as 30s, 15m, 6h or 1d");
                spec = spec with { Every = span };
            }
            if (reader.String(map, "time_zone", at + ".time_zone") is { } zone)
            {
                if (every != null) throw reader.Error(at + ".time_zone", "applies to cron: and daily_at: (every: counts from 1970-01-01T00:00Z)");
                try
                {
                    spec = spec with { TimeZone = TimeZoneInfo.FindSystemTimeZoneById(zone) };
                }
                catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
                {
                    throw reader.Error(at + ".time_zone", $"'{zone}' is not a known time zone (an IANA name such as Europe/Paris or UTC)");
                }
            }
            schedules.Add(spec);
        }
        return schedules;
    }

    /// <summary>Five fields (minute first), or six with seconds first.</summary>
    private static CronExpression ParseCron(Reader reader, string text, string where)
    {
        int fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (fields is not (5 or 6) && !text.TrimStart().StartsWith('@'))
            throw reader.Error(where, $"'{text}' has {fields} fields: a cron expression has 5 (minute hour day month weekday) or 6 (seconds first)");
        try
        {
            return CronExpression.Parse(text, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            throw reader.Error(where, $"'{text}' is not a valid cron expression: {FirstLine(e.Message)}");
        }
    }
}
