using System.Text;
using Npgsql;
using PgVault.Core.Errors;

namespace PgVault.Core.PostgreSql;

/// <summary>
/// A libpq-style connection description (<c>host=/run/postgresql port=5432 user=postgres</c>, or a
/// <c>postgresql://</c> URI), completed from PG* environment variables and defaults as libpq does.
/// It yields an Npgsql connection string for PgVault itself, and a password-free conninfo plus an
/// environment for pg_dump and friends: a password never reaches a command line.
/// </summary>
public sealed class ConnInfo
{
    private static readonly Dictionary<string, string> EnvironmentFallbacks = new()
    {
        ["host"] = "PGHOST", ["port"] = "PGPORT", ["user"] = "PGUSER", ["password"] = "PGPASSWORD",
        ["dbname"] = "PGDATABASE", ["sslmode"] = "PGSSLMODE", ["passfile"] = "PGPASSFILE",
        ["connect_timeout"] = "PGCONNECT_TIMEOUT", ["application_name"] = "PGAPPNAME",
    };

    private static readonly HashSet<string> Known =
    [
        "host", "hostaddr", "port", "user", "password", "dbname", "sslmode", "sslcert", "sslkey", "sslrootcert",
        "connect_timeout", "application_name", "passfile", "options", "target_session_attrs",
    ];

    private readonly Dictionary<string, string> _values;

    private ConnInfo(Dictionary<string, string> values) => _values = values;

    public string Host => _values["host"];

    public int Port => int.Parse(_values["port"], System.Globalization.CultureInfo.InvariantCulture);

    public string User => _values["user"];

    public string Database => _values.GetValueOrDefault("dbname") ?? User;

    public string? Password => _values.GetValueOrDefault("password");

    /// <summary>"host:port" or "socket dir:port" for messages.</summary>
    public string Describe() => $"{Host}:{Port}";

    /// <summary>True when <paramref name="text"/> itself (not the environment) carries a password; false when it does not parse.</summary>
    public static bool HasPassword(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return false;
        try
        {
            return ParseText(text).ContainsKey("password");
        }
        catch (PgVaultException)
        {
            return false;
        }
    }

    public static ConnInfo Parse(string? text)
    {
        var values = ParseText(text);
        foreach (var key in values.Keys)
        {
            if (!Known.Contains(key))
                throw PgVaultException.Usage($"connection setting '{key}' is not supported (allowed: {string.Join(", ", Known.Order())})");
        }
        if (values.Remove("hostaddr", out var addr) && !values.ContainsKey("host")) values["host"] = addr;
        foreach (var (key, env) in EnvironmentFallbacks)
        {
            if (!values.ContainsKey(key) && Environment.GetEnvironmentVariable(env) is { Length: > 0 } v) values[key] = v;
        }
        values.TryAdd("host", DefaultHost());
        values.TryAdd("port", "5432");
        values.TryAdd("user", Environment.UserName);
        if (!int.TryParse(values["port"], out int port) || port is < 1 or > 65535)
            throw PgVaultException.Usage("connection port is not a valid port number (1-65535)");
        return new ConnInfo(values);
    }

    /// <summary>
    /// Refuses a connection string given on pgvault's command line (<paramref name="flag"/>) that
    /// carries a password: argv is visible to every local user (ps, /proc). The password belongs in
    /// PGPASSWORD, ~/.pgpass or a passfile=, or in the (private) configuration file.
    /// </summary>
    public static void RefuseCommandLinePassword(string? text, string flag)
    {
        if (string.IsNullOrWhiteSpace(text)) return;
        if (ParseText(text).ContainsKey("password"))
            throw PgVaultException.Usage($"{flag} must not carry a password (it would show on the command line and in the process list)",
                "set PGPASSWORD, use ~/.pgpass or passfile= in the connection string, or put the connection in the configuration file");
    }

    /// <summary>The keys and values written in <paramref name="text"/> (keyword/value or URI form).</summary>
    private static Dictionary<string, string> ParseText(string? text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        text = text?.Trim() ?? "";
        if (text.StartsWith("postgresql://", StringComparison.Ordinal) || text.StartsWith("postgres://", StringComparison.Ordinal))
            ParseUri(text, values);
        else
            ParseKeywords(text, values);
        return values;
    }

    /// <summary>The same server, another database.</summary>
    public ConnInfo WithDatabase(string dbname) => new(new Dictionary<string, string>(_values) { ["dbname"] = dbname });

    public string ToNpgsqlConnectionString(string applicationName = "pgvault")
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = User,
            Database = Database,
            ApplicationName = _values.GetValueOrDefault("application_name") ?? applicationName,
            Timeout = _values.TryGetValue("connect_timeout", out var t) && int.TryParse(t, out int seconds) ? Math.Max(seconds, 1) : 15,
            CommandTimeout = 0,
            Pooling = false,
        };
        if (Password != null) b.Password = Password;
        if (_values.TryGetValue("passfile", out var passfile)) b.Passfile = passfile;
        if (_values.TryGetValue("sslmode", out var sslmode))
        {
            b.SslMode = sslmode switch
            {
                "disable" => SslMode.Disable,
                "allow" => SslMode.Allow,
                "prefer" => SslMode.Prefer,
                "require" => SslMode.Require,
                "verify-ca" => SslMode.VerifyCA,
                "verify-full" => SslMode.VerifyFull,
                _ => throw PgVaultException.Usage($"sslmode '{sslmode}' is not valid (allowed: disable, allow, prefer, require, verify-ca, verify-full)"),
            };
        }
        if (_values.TryGetValue("sslcert", out var cert)) b.SslCertificate = cert;
        if (_values.TryGetValue("sslkey", out var key)) b.SslKey = key;
        if (_values.TryGetValue("sslrootcert", out var root)) b.RootCertificate = root;
        if (_values.TryGetValue("options", out var options)) b.Options = options;
        return b.ConnectionString;
    }

    /// <summary>A keyword/value conninfo for libpq programs, without the password.</summary>
    public string ToLibpqConnInfo()
    {
        var sb = new StringBuilder();
        foreach (var (key, value) in _values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (key == "password") continue;
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(key).Append('=').Append(Quote(value));
        }
        return sb.ToString();
    }

    /// <summary>Environment additions for a libpq child process (the password travels here).</summary>
    public IReadOnlyDictionary<string, string> ChildEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Password != null) env["PGPASSWORD"] = Password;
        return env;
    }

    private static string Quote(string value) =>
        value.Length > 0 && value.All(c => !char.IsWhiteSpace(c) && c is not '\'' and not '\\')
            ? value
            : "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    private static string DefaultHost()
    {
        foreach (var dir in new[] { "/var/run/postgresql", "/run/postgresql", "/tmp" })
        {
            if (Directory.Exists(dir) && Directory.EnumerateFiles(dir, ".s.PGSQL.*").Any()) return dir;
        }
        return "localhost";
    }

    private static void ParseKeywords(string text, Dictionary<string, string> values)
    {
        int i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i >= text.Length) break;
            int eq = text.IndexOf('=', i);
            // Messages name keys and positions, never values: a value may be a password.
            if (eq < 0) throw PgVaultException.Usage($"invalid connection string: expected key=value at character {i + 1}");
            string key = text[i..eq].Trim();
            if (key.Length == 0 || key.Any(char.IsWhiteSpace))
                throw PgVaultException.Usage($"invalid connection string: expected key=value at character {i + 1}");
            i = eq + 1;
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '\'')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length) throw PgVaultException.Usage($"invalid connection string: unterminated quote in value of '{key}'");
                    char c = text[i++];
                    if (c == '\\' && i < text.Length) value.Append(text[i++]);
                    else if (c == '\'') break;
                    else value.Append(c);
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    char c = text[i++];
                    if (c == '\\' && i < text.Length) value.Append(text[i++]);
                    else value.Append(c);
                }
            }
            values[key] = value.ToString();
        }
    }

    private static void ParseUri(string text, Dictionary<string, string> values)
    {
        Uri uri;
        try
        {
            uri = new Uri(text);
        }
        catch (UriFormatException)
        {
            throw PgVaultException.Usage("invalid connection URI: expected postgresql://[user[:password]@][host][:port][/dbname][?key=value&...]");
        }
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            values["user"] = Uri.UnescapeDataString(parts[0]);
            if (parts.Length > 1) values["password"] = Uri.UnescapeDataString(parts[1]);
        }
        if (uri.Host.Length > 0) values["host"] = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host;
        if (!uri.IsDefaultPort && uri.Port > 0) values["port"] = uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0) values["dbname"] = Uri.UnescapeDataString(path);
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = pair.Split('=', 2);
            values[Uri.UnescapeDataString(kv[0])] = kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "";
        }
    }
}
