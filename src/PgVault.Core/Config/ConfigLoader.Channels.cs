using System.Net.Mail;
using PgVault.Core.Errors;
using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

/// <summary>alerts.channels / alerts.repeat_interval, and clusters.NAME.catalog_table.</summary>
public static partial class ConfigLoader
{
    private static readonly string[] ChannelTypes = [AlertChannelConfig.Webhook, AlertChannelConfig.Smtp, AlertChannelConfig.Command];
    private static readonly string[] WebhookKeys = ["name", "type", "url", "secret_file", "timeout", "retries", "retry_delay"];
    private static readonly string[] SmtpKeys = ["name", "type", "host", "port", "starttls", "from", "to", "username", "password_file", "password_env", "timeout", "retries", "retry_delay"];
    private static readonly string[] CommandKeys = ["name", "type", "path", "args", "timeout"];
    private static readonly string[] CatalogTableKeys = ["connection", "table"];

    /// <summary>
    /// The top-level <c>alerts:</c> section as far as delivery goes (its keys are part of AlertsKeys).
    /// </summary>
    private static AlertDeliveryConfig ReadAlertDelivery(Reader reader, YamlMappingNode root)
    {
        if (reader.Get(root, "alerts") is not { } node || node is YamlScalarNode { Value: null or "" }) return AlertDeliveryConfig.None;
        var map = reader.Mapping(node, "alerts");
        // The keys of alerts: are checked once, against AlertsKeys, by ReadAlerts.
        return ReadAlertChannels(reader, map, "alerts");
    }

    /// <summary>alerts.channels and alerts.repeat_interval of the <c>alerts:</c> mapping.</summary>
    private static AlertDeliveryConfig ReadAlertChannels(Reader reader, YamlMappingNode alerts, string where)
    {
        var repeat = AlertDeliveryConfig.DefaultRepeatInterval;
        if (reader.String(alerts, "repeat_interval", where + ".repeat_interval") is { } rtext && !Units.TryParseDuration(rtext, out repeat))
            throw reader.Error(where + ".repeat_interval", $"'{rtext}' must be a duration such as 4h, 30m or 1d");
        var channels = new List<AlertChannelConfig>();
        if (reader.Get(alerts, "channels") is { } node and not YamlScalarNode { Value: null or "" })
        {
            if (node is not YamlSequenceNode list)
                throw reader.Error(where + ".channels", "must be a list of channels (each with type: webhook, smtp or command)");
            for (int i = 0; i < list.Children.Count; i++)
            {
                var channel = ReadChannel(reader, reader.Mapping(list.Children[i], $"{where}.channels[{i}]"), $"{where}.channels[{i}]", i);
                if (channels.Any(c => c.Name == channel.Name)) throw reader.Error($"{where}.channels[{i}].name", $"'{channel.Name}' is used twice");
                channels.Add(channel);
            }
        }
        return new AlertDeliveryConfig(channels, repeat);
    }

    private static AlertChannelConfig ReadChannel(Reader reader, YamlMappingNode map, string where, int index)
    {
        string? Get(string key) => reader.String(map, key, $"{where}.{key}");
        PgVaultException Bad(string key, string what) => reader.Error($"{where}.{key}", what);

        string type = Get("type") ?? throw Bad("type", $"is required ({string.Join(", ", ChannelTypes)})");
        if (!ChannelTypes.Contains(type)) throw Bad("type", $"'{type}' is not supported (allowed: {string.Join(", ", ChannelTypes)})");
        reader.CheckKeys(map, where + ".", type switch { AlertChannelConfig.Webhook => WebhookKeys, AlertChannelConfig.Smtp => SmtpKeys, _ => CommandKeys });
        string name = Get("name") ?? $"{type}-{index + 1}";
        if (!IsSimpleName(name)) throw Bad("name", $"'{name}' must be letters, digits, '-' or '_'");
        var channel = new AlertChannelConfig(name, type) { Timeout = Span("timeout", AlertChannelConfig.DefaultTimeout) };

        switch (type)
        {
            case AlertChannelConfig.Webhook:
                string url = Get("url") ?? throw Bad("url", "is required for a webhook channel");
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0)
                    throw Bad("url", "must be an http:// or https:// URL without user:password (sign with secret_file instead)");
                return channel with
                {
                    Url = uri,
                    SecretFile = AbsolutePath("secret_file"),
                    Retries = Count("retries", 3),
                    RetryDelay = Span("retry_delay", TimeSpan.FromSeconds(1)),
                };
            case AlertChannelConfig.Smtp:
                string host = Get("host") ?? throw Bad("host", "is required for an smtp channel");
                int port = 25;
                if (Get("port") is { } ptext && (!int.TryParse(ptext, out port) || port is < 1 or > 65535))
                    throw Bad("port", $"'{ptext}' must be a port number from 1 to 65535");
                bool startTls = Get("starttls") switch
                {
                    null or "false" or "no" => false,
                    "true" or "yes" => true,
                    var other => throw Bad("starttls", $"'{other}' must be true or false"),
                };
                string from = Get("from") ?? throw Bad("from", "is required for an smtp channel");
                if (!IsMailAddress(from)) throw Bad("from", $"'{from}' is not a mail address");
                var to = Strings(reader, map, "to", where);
                if (to.Count == 0) throw Bad("to", "needs at least one address");
                foreach (var address in to)
                    if (!IsMailAddress(address)) throw Bad("to", $"'{address}' is not a mail address");
                string? user = Get("username");
                string? passwordFile = AbsolutePath("password_file");
                string? passwordEnv = Get("password_env");
                if (passwordEnv is not null && !IsVariableName(passwordEnv))
                    throw Bad("password_env", "must be the name of an environment variable, not the password itself");
                if (passwordFile is not null && passwordEnv is not null) throw reader.Error(where, "needs one of password_file or password_env, not both");
                if (user is null != (passwordFile is null && passwordEnv is null))
                    throw reader.Error(where, "needs username together with password_file or password_env (a password is never written in the config)");
                return channel with
                {
                    Host = host,
                    Port = port,
                    StartTls = startTls,
                    From = from,
                    To = to,
                    Username = user,
                    PasswordFile = passwordFile,
                    PasswordEnv = passwordEnv,
                    Retries = Count("retries", 2),
                    RetryDelay = Span("retry_delay", TimeSpan.FromSeconds(2)),
                };
            default:
                string path = AbsolutePath("path") ?? throw Bad("path", "is required for a command channel (an absolute path; no shell is used)");
                return channel with { Path = path, Args = Strings(reader, map, "args", where), Timeout = Span("timeout", TimeSpan.FromSeconds(30)) };
        }

        TimeSpan Span(string key, TimeSpan fallback)
        {
            if (Get(key) is not { } text) return fallback;
            if (!Units.TryParseDuration(text, out var span) || span > TimeSpan.FromHours(1))
                throw Bad(key, $"'{text}' must be a duration such as 10s or 2m (at most 1h)");
            return span;
        }

        int Count(string key, int fallback)
        {
            if (Get(key) is not { } text) return fallback;
            if (!int.TryParse(text, out int n) || n is < 0 or > 10) throw Bad(key, $"'{text}' must be a whole number from 0 to 10");
            return n;
        }

        string? AbsolutePath(string key)
        {
            if (Get(key) is not { } text) return null;
            if (!System.IO.Path.IsPathFullyQualified(text)) throw Bad(key, $"'{text}' must be an absolute path");
            return text;
        }
    }

    private static List<string> Strings(Reader reader, YamlMappingNode map, string key, string where)
    {
        var node = reader.Get(map, key);
        switch (node)
        {
            case null or YamlScalarNode { Value: null or "" }:
                return [];
            case YamlScalarNode scalar:
                return [scalar.Value!];
            case YamlSequenceNode list:
                var values = new List<string>();
                foreach (var item in list.Children)
                {
                    if (item is not YamlScalarNode { Value: { } value }) throw reader.Error($"{where}.{key}", "must be a list of values");
                    values.Add(value);
                }
                return values;
            default:
                throw reader.Error($"{where}.{key}", "must be a value or a list of values");
        }
    }

    private static bool IsMailAddress(string text) => MailAddress.TryCreate(text, out _);

    /// <summary>clusters.NAME.catalog_table: {connection, table} (table defaults to pgvault.backup_log).</summary>
    private static CatalogTableConfig? ReadCatalogTable(Reader reader, YamlMappingNode cm, string where)
    {
        if (reader.Get(cm, "catalog_table") is not { } node || node is YamlScalarNode { Value: null or "" }) return null;
        where += ".catalog_table";
        var map = reader.Mapping(node, where);
        reader.CheckKeys(map, where + ".", CatalogTableKeys);
        string connection = reader.String(map, "connection", where + ".connection") ?? throw reader.Error(where + ".connection", "is required (a conninfo or URI of the database that holds the table)");
        string table = reader.String(map, "table", where + ".table") ?? "pgvault.backup_log";
        var parts = table.Split('.');
        if (parts.Length != 2 || !parts.All(IsSqlIdentifier))
            throw reader.Error(where + ".table", $"'{table}' must be schema.table of lowercase letters, digits and '_' (e.g. pgvault.backup_log)");
        return new CatalogTableConfig(connection, parts[0], parts[1]);
    }

    private static bool IsSqlIdentifier(string name) =>
        name.Length is > 0 and <= 63 && (char.IsAsciiLetterLower(name[0]) || name[0] == '_')
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');
}
