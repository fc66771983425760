using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PgVault.Core.Config;

/// <summary>
/// Reads the YAML configuration into <see cref="PgVaultConfig"/>. Every key is checked: an unknown
/// key or a bad value fails with the file, the key and what is allowed.
/// </summary>
public static class ConfigLoader
{
    public const string DefaultPath = "/etc/pgvault/pgvault.yaml";
    public const string EnvironmentVariable = "PGVAULT_CONFIG";

    private static readonly string[] TopKeys = ["repositories", "encryption", "clusters"];
    private static readonly string[] RepositoryKeys = ["name", "type", "path"];
    private static readonly string[] EncryptionKeys = ["passphrase_file", "passphrase_env"];
    private static readonly string[] ClusterKeys = ["connection", "pgdata", "bindir", "compression", "parallel"];

    /// <summary>
    /// The file to read: the flag, else $PGVAULT_CONFIG, else /etc/pgvault/pgvault.yaml when it
    /// exists; null when none applies (flags alone).
    /// </summary>
    public static string? Locate(string? flag)
    {
        if (!string.IsNullOrEmpty(flag)) return flag;
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env)) return env;
        return File.Exists(DefaultPath) ? DefaultPath : null;
    }

    public static PgVaultConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw PgVaultException.Usage($"unable to read config '{path}': {e.Message}", "pass --config FILE or set PGVAULT_CONFIG");
        }
        return Parse(text, Path.GetFullPath(path));
    }

    public static PgVaultConfig Parse(string text, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw PgVaultException.Usage($"config {file}: line {e.Start.Line}: {FirstLine(e.Message)}");
        }
        if (stream.Documents.Count == 0) return PgVaultConfig.Empty with { SourceFile = file };
        var reader = new Reader(file);
        var root = reader.Mapping(stream.Documents[0].RootNode, "(top level)");
        reader.CheckKeys(root, "", TopKeys);

        var repositories = new List<RepositoryConfig>();
        if (reader.Get(root, "repositories") is { } repoNode and not YamlScalarNode { Value: null or "" })
        {
            if (repoNode is not YamlSequenceNode list)
                throw reader.Error("repositories", "must be a list of repositories (each with name: and path:)");
            for (int i = 0; i < list.Children.Count; i++)
            {
                string where = $"repositories[{i}]";
                var map = reader.Mapping(list.Children[i], where);
                reader.CheckKeys(map, where + ".", RepositoryKeys);
                string name = reader.String(map, "name", where + ".name") ?? throw reader.Error(where + ".name", "is required");
                if (!IsSimpleName(name)) throw reader.Error(where + ".name", $"'{name}' must be letters, digits, '-' or '_'");
                if (repositories.Any(r => r.Name == name)) throw reader.Error(where + ".name", $"'{name}' is used twice");
                string type = reader.String(map, "type", where + ".type") ?? "filesystem";
                if (type != "filesystem") throw reader.Error(where + ".type", $"'{type}' is not supported (allowed: filesystem)");
                string? repoPath = reader.String(map, "path", where + ".path");
                if (string.IsNullOrEmpty(repoPath)) throw reader.Error(where + ".path", "is required for a filesystem repository");
                repositories.Add(new RepositoryConfig(name, type, repoPath));
            }
        }

        EncryptionConfig? encryption = null;
        if (reader.Get(root, "encryption") is { } encNode and not YamlScalarNode { Value: null or "" })
        {
            var map = reader.Mapping(encNode, "encryption");
            reader.CheckKeys(map, "encryption.", EncryptionKeys);
            string? file2 = reader.String(map, "passphrase_file", "encryption.passphrase_file");
            string? env = reader.String(map, "passphrase_env", "encryption.passphrase_env");
            if ((file2 is null) == (env is null))
                throw reader.Error("encryption", "needs exactly one of passphrase_file or passphrase_env");
            encryption = new EncryptionConfig(file2, env);
        }

        var clusters = new Dictionary<string, ClusterConfig>(StringComparer.Ordinal);
        if (reader.Get(root, "clusters") is { } clusterNode and not YamlScalarNode { Value: null or "" })
        {
            var map = reader.Mapping(clusterNode, "clusters");
            foreach (var (keyNode, valueNode) in map.Children)
            {
                string name = ((YamlScalarNode)keyNode).Value ?? "";
                string where = "clusters." + name;
                if (!IsSimpleName(name)) throw reader.Error(where, $"cluster name '{name}' must be letters, digits, '-' or '_'");
                var cm = valueNode is YamlScalarNode { Value: null or "" } ? new YamlMappingNode() : reader.Mapping(valueNode, where);
                reader.CheckKeys(cm, where + ".", ClusterKeys);
                var compression = ClusterConfig.DefaultCompression;
                if (reader.String(cm, "compression", where + ".compression") is { } ctext)
                {
                    try { compression = CompressionSpec.Parse(ctext); }
                    catch (PgVaultException e) { throw reader.Error(where + ".compression", e.Message); }
                }
                int parallel = 2;
                if (reader.String(cm, "parallel", where + ".parallel") is { } ptext)
                {
                    if (!int.TryParse(ptext, out parallel) || parallel < 1 || parallel > 64)
                        throw reader.Error(where + ".parallel", $"'{ptext}' must be a whole number from 1 to 64");
                }
                clusters[name] = new ClusterConfig(
                    name,
                    reader.String(cm, "connection", where + ".connection"),
                    reader.String(cm, "pgdata", where + ".pgdata"),
                    reader.String(cm, "bindir", where + ".bindir"),
                    compression,
                    parallel);
            }
        }
        return new PgVaultConfig(file, repositories, encryption, clusters);
    }

    internal static bool IsSimpleName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    private sealed class Reader(string file)
    {
        public PgVaultException Error(string key, string what) =>
            PgVaultException.Usage($"config {file}: '{key}' {what}");

        public YamlMappingNode Mapping(YamlNode node, string where) =>
            node as YamlMappingNode ?? throw Error(where, "must be a mapping of key: value");

        public YamlNode? Get(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

        public string? String(YamlMappingNode map, string key, string where)
        {
            var node = Get(map, key);
            if (node is null) return null;
            if (node is not YamlScalarNode scalar) throw Error(where, "must be a single value");
            return string.IsNullOrEmpty(scalar.Value) ? null : scalar.Value;
        }

        public void CheckKeys(YamlMappingNode map, string prefix, string[] allowed)
        {
            foreach (var key in map.Children.Keys)
            {
                string name = (key as YamlScalarNode)?.Value ?? key.ToString();
                if (!allowed.Contains(name))
                    throw PgVaultException.Usage($"config {file}: unknown key '{prefix}{name}' (allowed: {string.Join(", ", allowed)})");
            }
        }
    }
}
