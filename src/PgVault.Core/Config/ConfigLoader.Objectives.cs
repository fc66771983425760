using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

public static partial class ConfigLoader
{
    private static readonly string[] ObjectivesKeys = ["rpo", "rto", "drill_max_age", "verify_max_age"];

    /// <summary>The <c>objectives:</c> mapping of a cluster, or null.</summary>
    private static ObjectivesConfig? ReadObjectives(Reader reader, YamlMappingNode cluster, string where)
    {
        if (reader.Get(cluster, "objectives") is not { } node || node is YamlScalarNode { Value: null or "" }) return null;
        where += ".objectives";
        var map = reader.Mapping(node, where);
        reader.CheckKeys(map, where + ".", ObjectivesKeys);
        TimeSpan? Span(string key)
        {
            if (reader.String(map, key, $"{where}.{key}") is not { } text) return null;
            return Units.TryParseDuration(text, out var span) ? span : throw reader.Error($"{where}.{key}", $"'{text}' must be a span such as 5m, 30m, 7d");
        }
        return new ObjectivesConfig { Rpo = Span("rpo"), Rto = Span("rto"), DrillMaxAge = Span("drill_max_age"), VerifyMaxAge = Span("verify_max_age") };
    }
}
