using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

/// <summary>The streaming: section of a cluster (pgvault wal-stream).</summary>
public static partial class ConfigLoader
{
    private static readonly string[] StreamingKeys = ["slot", "application_name", "synchronous", "status_interval"];

    private static StreamingConfig? ReadStreaming(Reader reader, YamlMappingNode cm, string where)
    {
        if (reader.Get(cm, "streaming") is not { } node || node is YamlScalarNode { Value: null or "" }) return null;
        where += ".streaming";
        var map = reader.Mapping(node, where);
        reader.CheckKeys(map, where + ".", StreamingKeys);
        string? slot = reader.String(map, "slot", where + ".slot");
        if (slot != null && !IsSlotName(slot)) throw reader.Error(where + ".slot", $"'{slot}' must be 1 to 63 lower-case letters, digits or '_'");
        string? application = reader.String(map, "application_name", where + ".application_name");
        if (application != null && (application.Length > 63 || !application.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
            throw reader.Error(where + ".application_name", $"'{application}' must be up to 63 letters, digits, '_' or '-'");
        bool synchronous = reader.String(map, "synchronous", where + ".synchronous") switch
        {
            null or "false" or "off" or "no" => false,
            "true" or "on" or "yes" => true,
            var other => throw reader.Error(where + ".synchronous", $"'{other}' must be true or false"),
        };
        int? interval = null;
        if (reader.String(map, "status_interval", where + ".status_interval") is { } itext)
        {
            if (!int.TryParse(itext, out int seconds) || seconds < 1 || seconds > 3600)
                throw reader.Error(where + ".status_interval", $"'{itext}' must be a number of seconds from 1 to 3600");
            interval = seconds;
        }
        return new StreamingConfig(slot, application, synchronous, interval);
    }

    /// <summary>A physical replication slot name PostgreSQL accepts: lower-case letters, digits and '_', at most 63.</summary>
    internal static bool IsSlotName(string name) =>
        name.Length is > 0 and <= 63 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');
}
