using PgVault.Core.Errors;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

/// <summary>The drills: section of a cluster, and a --checks FILE of the same shape.</summary>
public static partial class ConfigLoader
{
    private static readonly string[] DrillKeys = ["checks", "scratch_dir"];
    private static readonly string[] CheckKeys = ["name", "sql", "expect", "database"];

    private static DrillConfig ReadDrills(Reader reader, YamlMappingNode cm, string where)
    {
        if (reader.Get(cm, "drills") is not { } node || node is YamlScalarNode { Value: null or "" }) return DrillConfig.Default;
        where += ".drills";
        var map = reader.Mapping(node, where);
        reader.CheckKeys(map, where + ".", DrillKeys);
        string? scratch = reader.String(map, "scratch_dir", where + ".scratch_dir");
        if (scratch != null && !Path.IsPathFullyQualified(scratch)) throw reader.Error(where + ".scratch_dir", $"'{scratch}' must be an absolute path");
        var checks = reader.Get(map, "checks") is { } list and not YamlScalarNode { Value: null or "" } ? ReadChecks(reader, list, where + ".checks") : [];
        return new DrillConfig(checks, scratch);
    }

    /// <summary>
    /// A --checks FILE: a YAML list of checks, or a mapping with a checks: list (the shape of
    /// clusters.NAME.drills in the configuration).
    /// </summary>
    public static IReadOnlyList<DrillCheck> LoadChecks(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"unable to read checks file '{path}': {e.Message}");
        }
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"checks file {path}: line {e.Start.Line}: {FirstLine(e.Message)}");
        }
        if (stream.Documents.Count == 0) return [];
        var reader = new Reader(path);
        var root = stream.Documents[0].RootNode;
        if (root is YamlMappingNode map)
        {
            reader.CheckKeys(map, "", ["checks"]);
            root = reader.Get(map, "checks") ?? new YamlSequenceNode();
        }
        return ReadChecks(reader, root, "checks");
    }

    private static List<DrillCheck> ReadChecks(Reader reader, YamlNode node, string where)
    {
        if (node is not YamlSequenceNode sequence) throw reader.Error(where, "must be a list of {name, sql, expect}");
        var checks = new List<DrillCheck>();
        int i = 0;
        foreach (var item in sequence.Children)
        {
            string at = $"{where}[{i++}]";
            var map = reader.Mapping(item, at);
            reader.CheckKeys(map, at + ".", CheckKeys);
            string name = reader.String(map, "name", at + ".name") ?? throw reader.Error(at + ".name", "is required");
            string sql = reader.String(map, "sql", at + ".sql") ?? throw reader.Error(at + ".sql", "is required");
            string expect = reader.String(map, "expect", at + ".expect") ?? "not empty";
            var expectation = DrillExpectation.TryParse(expect)
                ?? throw reader.Error(at + ".expect", $"'{expect}' must be 'not empty', 'empty' or a comparison such as '> 0', '= 5', '!= 0'");
            if (checks.Any(c => c.Name == name)) throw reader.Error(at + ".name", $"'{name}' is used by two checks");
            checks.Add(new DrillCheck(name, sql, expectation, reader.String(map, "database", at + ".database")));
        }
        return checks;
    }
}
