using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

/// <summary>
/// The top-level <c>alerts:</c> section (thresholds; channels are read by the alerting code from the
/// same mapping), <c>clusters.NAME.thresholds</c> (overrides key by key) and <c>clusters.NAME.objectives</c>.
/// </summary>
public static partial class ConfigLoader
{
    /// <summary>Every key allowed under <c>alerts:</c>. One list, so each part of the section adds its key here.</summary>
    private static readonly string[] AlertsKeys = ["thresholds", "channels", "repeat_interval"];
    private static readonly string[] ThresholdKeys = ["backup_max_age", "wal_max_age", "archive_failures", "drill_max_age", "verify_max_age", "repo_min_free"];
    private static readonly string[] ThresholdLevelKeys = ["warning", "critical"];

    private static AlertsConfig ReadAlerts(Reader reader, YamlMappingNode root)
    {
        if (reader.Get(root, "alerts") is not { } node || node is YamlScalarNode { Value: null or "" }) return AlertsConfig.Default;
        var map = reader.Mapping(node, "alerts");
        reader.CheckKeys(map, "alerts.", AlertsKeys);
        return new AlertsConfig { Thresholds = ReadThresholds(reader, map, "alerts", ThresholdSet.Default) };
    }

    /// <summary>The <c>thresholds:</c> mapping under <paramref name="parent"/>: each key given replaces the one of <paramref name="inherited"/>.</summary>
    private static ThresholdSet ReadThresholds(Reader reader, YamlMappingNode parent, string where, ThresholdSet inherited)
    {
        if (reader.Get(parent, "thresholds") is not { } node || node is YamlScalarNode { Value: null or "" }) return inherited;
        where += ".thresholds";
        var map = reader.Mapping(node, where);
        reader.CheckKeys(map, where + ".", ThresholdKeys);
        return inherited with
        {
            BackupMaxAge = Level(reader, map, "backup_max_age", where, Age) ?? inherited.BackupMaxAge,
            WalMaxAge = Level(reader, map, "wal_max_age", where, Age) ?? inherited.WalMaxAge,
            ArchiveFailures = Level(reader, map, "archive_failures", where, Count) ?? inherited.ArchiveFailures,
            DrillMaxAge = Level(reader, map, "drill_max_age", where, Age) ?? inherited.DrillMaxAge,
            VerifyMaxAge = Level(reader, map, "verify_max_age", where, Age) ?? inherited.VerifyMaxAge,
            RepoMinFree = Level(reader, map, "repo_min_free", where, Percent) ?? inherited.RepoMinFree,
        };

        static double? Age(string text) => Units.TryParseDuration(text, out var span) ? span.TotalSeconds : null;

        static double? Count(string text) =>
            long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n is >= 1 and <= 1_000_000_000 ? n : null;

        static double? Percent(string text) =>
            double.TryParse(text.Trim().TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out double p) && p is > 0 and < 100 ? p : null;
    }

    /// <summary>One threshold: a value ("26h", "off"), or a mapping {warning: X, critical: Y}.</summary>
    private static Threshold? Level(Reader reader, YamlMappingNode map, string key, string where, Func<string, double?> parse)
    {
        where += "." + key;
        if (reader.Get(map, key) is not { } node || node is YamlScalarNode { Value: null or "" }) return null;
        string kind = key switch
        {
            "archive_failures" => "a whole number from 1 (e.g. 1)",
            "repo_min_free" => "a percentage between 0 and 100 (e.g. 10%)",
            _ => "a span such as 15m, 26h or 7d",
        };
        double Value(string text, string at) => parse(text) ?? throw reader.Error(at, $"'{text}' must be {kind}, or off");
        if (node is YamlScalarNode scalar)
        {
            string text = scalar.Value!.Trim();
            return text is "off" or "false" or "none" ? Threshold.Disabled : new Threshold(Value(text, where));
        }
        var levels = reader.Mapping(node, where);
        reader.CheckKeys(levels, where + ".", ThresholdLevelKeys);
        string warning = reader.String(levels, "warning", where + ".warning") ?? throw reader.Error(where + ".warning", "is required");
        double w = Value(warning, where + ".warning");
        double? c = reader.String(levels, "critical", where + ".critical") is { } critical ? Value(critical, where + ".critical") : null;
        bool lowerIsWorse = key == "repo_min_free";
        if (c is { } cv && (lowerIsWorse ? cv > w : cv < w))
            throw reader.Error(where, $"critical must be {(lowerIsWorse ? "at most" : "at least")} warning");
        return new Threshold(w, c);
    }
}
