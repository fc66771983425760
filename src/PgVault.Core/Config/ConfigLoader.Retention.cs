using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

public static partial class ConfigLoader
{
    private static readonly string[] RetentionKeys = ["pitr_window", "full", "gfs", "logical", "min_redundancy", "expire_after_backup", "time_zone"];
    private static readonly string[] GfsKeys = ["daily", "weekly", "monthly", "yearly"];
    private static readonly string[] LogicalRetentionKeys = ["count", "gfs"];

    /// <summary>The <c>retention:</c> mapping under <paramref name="where"/>, or null when there is none.</summary>
    private static RetentionPolicy? ReadRetention(Reader reader, YamlMappingNode parent, string where)
    {
        if (reader.Get(parent, "retention") is not { } node || node is YamlScalarNode { Value: null or "" }) return null;
        where += ".retention";
        var map = reader.Mapping(node, where);
        reader.CheckKeys(map, where + ".", RetentionKeys);
        var policy = new RetentionPolicy();
        if (reader.String(map, "pitr_window", where + ".pitr_window") is { } window)
        {
            if (!Units.TryParseDuration(window, out var span))
                throw reader.Error(where + ".pitr_window", $"'{window}' must be a span such as 14d, 36h or 2w");
            policy = policy with { PitrWindow = span };
        }
        if (Count(reader, map, "full", where, 1) is { } full) policy = policy with { Full = full };
        policy = policy with { Gfs = ReadGfs(reader, map, where) };
        if (reader.Get(map, "logical") is { } logicalNode and not YamlScalarNode { Value: null or "" })
        {
            var logical = reader.Mapping(logicalNode, where + ".logical");
            reader.CheckKeys(logical, where + ".logical.", LogicalRetentionKeys);
            policy = policy with { Logical = new LogicalRetention(Count(reader, logical, "count", where + ".logical", 1), ReadGfs(reader, logical, where + ".logical")) };
        }
        if (Count(reader, map, "min_redundancy", where, 1) is { } redundancy) policy = policy with { MinRedundancy = redundancy };
        if (reader.String(map, "expire_after_backup", where + ".expire_after_backup") is { } after)
        {
            policy = policy with
            {
                ExpireAfterBackup = after switch
                {
                    "true" or "yes" or "on" => true,
                    "false" or "no" or "off" => false,
                    _ => throw reader.Error(where + ".expire_after_backup", $"'{after}' must be true or false"),
                },
            };
        }
        if (reader.String(map, "time_zone", where + ".time_zone") is { } zone)
        {
            try
            {
                policy = policy with { TimeZone = TimeZoneInfo.FindSystemTimeZoneById(zone) };
            }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                throw reader.Error(where + ".time_zone", $"'{zone}' is not a known time zone (use an IANA name such as Europe/Berlin or UTC)");
            }
        }
        if (policy.PitrWindow is null && policy.Full is null && policy.Gfs is null && policy.Logical is null)
            throw reader.Error(where, "needs at least one of pitr_window, full, gfs or logical");
        return policy;
    }

    private static GfsRule? ReadGfs(Reader reader, YamlMappingNode parent, string where)
    {
        if (reader.Get(parent, "gfs") is not { } node || node is YamlScalarNode { Value: null or "" }) return null;
        var map = reader.Mapping(node, where + ".gfs");
        reader.CheckKeys(map, where + ".gfs.", GfsKeys);
        var rule = new GfsRule(
            Count(reader, map, "daily", where + ".gfs", 0) ?? 0,
            Count(reader, map, "weekly", where + ".gfs", 0) ?? 0,
            Count(reader, map, "monthly", where + ".gfs", 0) ?? 0,
            Count(reader, map, "yearly", where + ".gfs", 0) ?? 0);
        return rule.Any ? rule : null;
    }

    private static int? Count(Reader reader, YamlMappingNode map, string key, string where, int min)
    {
        if (reader.String(map, key, $"{where}.{key}") is not { } text) return null;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > 100_000)
            throw reader.Error($"{where}.{key}", $"'{text}' must be a whole number from {min} to 100000");
        return value;
    }
}
