using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using PgVault.Core.Storage;

namespace PgVault.Core.Config;

/// <summary>
/// Reads the YAML configuration into <see cref="PgVaultConfig"/>. Every key is checked: an unknown
/// key or a bad value fails with the file, the key and what is allowed.
/// </summary>
public static partial class ConfigLoader
{
    public const string DefaultPath = "/etc/pgvault/pgvault.yaml";
    public const string EnvironmentVariable = "PGVAULT_CONFIG";

    private static readonly string[] TopKeys = ["repositories", "encryption", "clusters", "alerts", "daemon"];
    private static readonly string[] RepositoryTypes = ["filesystem", "s3"];
    private static readonly string[] FileSystemRepositoryKeys = ["name", "type", "path", "encrypted", "retention"];
    private static readonly string[] S3RepositoryKeys =
    [
        "name", "type", "encrypted", "endpoint", "bucket", "prefix", "region", "path_style", "access_key_id_env", "secret_access_key_env",
        "sse", "sse_kms_key_id", "verify_tls", "part_size_mb", "upload_concurrency", "retention",
    ];
    private static readonly string[] EncryptionKeys = ["passphrase_file", "passphrase_env"];
    private static readonly string[] ClusterKeys =
        ["connection", "pgdata", "bindir", "compression", "parallel", "wal_compression", "archive_async", "spool_path", "archive_async_processes", "archive_timeout", "retention", "drills", "thresholds", "objectives", "schedules", "catalog_table", "streaming"];

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
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"unable to read config '{path}': {e.Message}", "pass --config FILE or set PGVAULT_CONFIG");
        }
        var config = Parse(text, Path.GetFullPath(path));
        FilePermissions.CheckConfigFile(path, config.Clusters.Values.Any(c => PostgreSql.ConnInfo.HasPassword(c.Connection) || PostgreSql.ConnInfo.HasPassword(c.CatalogTable?.Connection)));
        return config;
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
            throw new PgVaultException(ErrorCode.ConfigInvalid, $"config {file}: line {e.Start.Line}: {FirstLine(e.Message)}");
        }
        if (stream.Documents.Count == 0) return PgVaultConfig.Empty with { SourceFile = file };
        var reader = new Reader(file);
        var root = reader.Mapping(stream.Documents[0].RootNode, "(top level)");
        reader.CheckKeys(root, "", TopKeys);

        var repositories = new List<RepositoryConfig>();
        if (reader.Get(root, "repositories") is { } repoNode and not YamlScalarNode { Value: null or "" })
        {
            if (repoNode is not YamlSequenceNode list)
                throw reader.Error("repositories", "must be a list of repositories (each with name: and path:, or type: s3 and bucket:)");
            for (int i = 0; i < list.Children.Count; i++)
            {
                string where = $"repositories[{i}]";
                var map = reader.Mapping(list.Children[i], where);
                string type = reader.String(map, "type", where + ".type") ?? "filesystem";
                if (!RepositoryTypes.Contains(type))
                    throw reader.Error(where + ".type", $"'{type}' is not supported (allowed: {string.Join(", ", RepositoryTypes)})");
                reader.CheckKeys(map, where + ".", type == "s3" ? S3RepositoryKeys : FileSystemRepositoryKeys);
                string name = reader.String(map, "name", where + ".name") ?? throw reader.Error(where + ".name", "is required");
                if (!IsSimpleName(name)) throw reader.Error(where + ".name", $"'{name}' must be letters, digits, '-' or '_'");
                if (repositories.Any(r => r.Name == name)) throw reader.Error(where + ".name", $"'{name}' is used twice");
                bool? encrypted = reader.String(map, "encrypted", where + ".encrypted") switch
                {
                    null => null,
                    "true" or "yes" => true,
                    "false" or "no" => false,
                    var other => throw reader.Error(where + ".encrypted", $"'{other}' is not true or false"),
                };
                if (type == "s3")
                {
                    repositories.Add(new RepositoryConfig(name, type, null, ParseS3(reader, map, where)) { Encrypted = encrypted, Retention = ReadRetention(reader, map, where) });
                    continue;
                }
                string? repoPath = reader.String(map, "path", where + ".path");
                if (string.IsNullOrEmpty(repoPath)) throw reader.Error(where + ".path", "is required for a filesystem repository");
                repositories.Add(new RepositoryConfig(name, type, repoPath) { Encrypted = encrypted, Retention = ReadRetention(reader, map, where) });
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

        var alerts = ReadAlerts(reader, root);
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
                int parallel = ClusterConfig.DefaultParallel;
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
                    parallel,
                    ReadArchive(reader, cm, where),
                    ReadRetention(reader, cm, where))
                {
                    Drills = ReadDrills(reader, cm, where),
                    Thresholds = ReadThresholds(reader, cm, where, alerts.Thresholds),
                    Objectives = ReadObjectives(reader, cm, where),
                    Schedules = ReadSchedules(reader, cm, where),
                    CatalogTable = ReadCatalogTable(reader, cm, where),
                    Streaming = ReadStreaming(reader, cm, where),
                };
            }
        }
        return new PgVaultConfig(file, repositories, encryption, clusters) { Alerts = alerts, Daemon = ReadDaemon(reader, root), AlertDelivery = ReadAlertDelivery(reader, root) };
    }

    private static S3Settings ParseS3(Reader reader, YamlMappingNode map, string where)
    {
        string? Get(string key) => reader.String(map, key, $"{where}.{key}");
        PgVaultException Bad(string key, string what) => reader.Error($"{where}.{key}", what);

        string bucket = Get("bucket") ?? throw Bad("bucket", "is required for an s3 repository");
        if (!IsBucketName(bucket))
            throw Bad("bucket", $"'{bucket}' is not a valid bucket name (3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit)");

        string? endpoint = Get("endpoint");
        if (endpoint is not null)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0
                || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
                throw Bad("endpoint", $"'{endpoint}' must be an http:// or https:// URL such as https://s3.example.com:9000");
            endpoint = endpoint.TrimEnd('/');
        }

        string prefix = Get("prefix") ?? "";
        if (S3Settings.NormalisePrefix(prefix) is not { } normalised)
            throw Bad("prefix", $"'{prefix}' must be '/'-separated names without empty, '.' or '..' parts (e.g. pgvault/prod)");

        string region = Get("region") ?? S3Settings.DefaultRegion;
        if (region.Length > 64 || !region.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            throw Bad("region", $"'{region}' must be a region name such as us-east-1 (lowercase letters, digits, '-')");

        bool pathStyle = Boolean(Get("path_style"), "path_style", false);

        string? keyEnv = Get("access_key_id_env");
        string? secretEnv = Get("secret_access_key_env");
        if ((keyEnv is null) != (secretEnv is null))
            throw reader.Error(where, "needs both access_key_id_env and secret_access_key_env, or neither (for the AWS default credentials)");
        // The values are not echoed: a key pasted here by mistake must not end up in a log.
        if (keyEnv is not null && !IsVariableName(keyEnv))
            throw Bad("access_key_id_env", "must be the name of an environment variable (letters, digits, '_'), not the key itself");
        if (secretEnv is not null && !IsVariableName(secretEnv))
            throw Bad("secret_access_key_env", "must be the name of an environment variable (letters, digits, '_'), not the key itself");

        string? sse = Get("sse");
        if (sse is not null and not (S3Settings.SseAes256 or S3Settings.SseKms))
            throw Bad("sse", $"'{sse}' is not supported (allowed: {S3Settings.SseAes256}, {S3Settings.SseKms})");
        string? kmsKey = Get("sse_kms_key_id");
        if (kmsKey is not null && sse != S3Settings.SseKms)
            throw Bad("sse_kms_key_id", $"is only allowed with sse: {S3Settings.SseKms}");

        bool verifyTls = Boolean(Get("verify_tls"), "verify_tls", true);
        if (!verifyTls && (endpoint is null || !endpoint.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
            throw Bad("verify_tls", "false is only allowed with an https:// endpoint (a server with a self-signed certificate)");

        int partSize = Integer(Get("part_size_mb"), "part_size_mb", S3Settings.DefaultPartSizeMb, S3Settings.MinPartSizeMb, S3Settings.MaxPartSizeMb);
        int concurrency = Integer(Get("upload_concurrency"), "upload_concurrency", S3Settings.DefaultUploadConcurrency, 1, S3Settings.MaxUploadConcurrency);

        return new S3Settings(bucket, endpoint, normalised, region, pathStyle, keyEnv, secretEnv, sse, kmsKey, verifyTls, partSize, concurrency);

        bool Boolean(string? text, string key, bool fallback) => text switch
        {
            null => fallback,
            "true" or "True" or "TRUE" => true,
            "false" or "False" or "FALSE" => false,
            _ => throw Bad(key, $"'{text}' must be true or false"),
        };

        int Integer(string? text, string key, int fallback, int min, int max)
        {
            if (text is null) return fallback;
            if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value) || value < min || value > max)
                throw Bad(key, $"'{text}' must be a whole number from {min} to {max}");
            return value;
        }
    }

    private static bool IsBucketName(string name) =>
        name.Length is >= 3 and <= 63
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-')
        && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]);

    private static bool IsVariableName(string name) =>
        name.Length is > 0 and <= 128 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static readonly string[] ArchiveKeys = ["wal_compression", "archive_async", "spool_path", "archive_async_processes", "archive_timeout"];

    /// <summary>The cluster's archiving settings, or null when it sets none (the defaults apply).</summary>
    private static ArchiveConfig? ReadArchive(Reader reader, YamlMappingNode cm, string where)
    {
        if (!ArchiveKeys.Any(k => reader.Get(cm, k) != null)) return null;
        var archive = ArchiveConfig.Default;
        if (reader.String(cm, "wal_compression", where + ".wal_compression") is { } wtext)
        {
            try { archive = archive with { Compression = CompressionSpec.Parse(wtext) }; }
            catch (PgVaultException e) { throw reader.Error(where + ".wal_compression", e.Message); }
        }
        if (reader.String(cm, "archive_async", where + ".archive_async") is { } atext)
        {
            archive = atext switch
            {
                "true" or "on" or "yes" => archive with { Async = true },
                "false" or "off" or "no" => archive with { Async = false },
                _ => throw reader.Error(where + ".archive_async", $"'{atext}' must be true or false"),
            };
        }
        if (reader.String(cm, "spool_path", where + ".spool_path") is { } spool) archive = archive with { SpoolPath = spool };
        if (reader.String(cm, "archive_async_processes", where + ".archive_async_processes") is { } ptext)
        {
            if (!int.TryParse(ptext, out int processes) || processes < 1 || processes > 32)
                throw reader.Error(where + ".archive_async_processes", $"'{ptext}' must be a whole number from 1 to 32");
            archive = archive with { AsyncProcesses = processes };
        }
        if (reader.String(cm, "archive_timeout", where + ".archive_timeout") is { } ttext)
        {
            if (!int.TryParse(ttext, out int seconds) || seconds < 1 || seconds > 86400)
                throw reader.Error(where + ".archive_timeout", $"'{ttext}' must be a number of seconds from 1 to 86400");
            archive = archive with { TimeoutSeconds = seconds };
        }
        return archive;
    }

    internal static bool IsSimpleName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    private sealed class Reader(string file)
    {
        public PgVaultException Error(string key, string what) =>
            new PgVaultException(ErrorCode.ConfigInvalid, $"config {file}: '{key}' {what}");

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
                    throw new PgVaultException(ErrorCode.ConfigInvalid, $"config {file}: unknown key '{prefix}{name}' (allowed: {string.Join(", ", allowed)})");
            }
        }
    }
}
