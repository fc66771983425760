using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using PgVault.Core.Errors;

namespace PgVault.Core.PostgreSql;

/// <summary>A PostgreSQL client program and its major version.</summary>
public sealed record PgTool(string Name, string Path, string Version, int Major);

/// <summary>
/// Finds pg_dump, pg_dumpall, pg_restore and psql of at least the server's major version: the
/// configured bindir first, then `pg_config --bindir`, then /usr/lib/postgresql/&lt;major&gt;/bin
/// (newest first), then PATH.
/// </summary>
public sealed partial class ToolLocator(string? configuredBinDir)
{
    private readonly ConcurrentDictionary<string, Lazy<PgTool?>> _cache = new(StringComparer.Ordinal);
    private readonly Lazy<string?> _pgConfigBinDir = new(PgConfigBinDir);

    /// <summary>
    /// Probes <paramref name="names"/> in the background (each probe runs the program with
    /// --version, some 20 ms), so that a <see cref="Find"/> after connecting to the server costs
    /// nothing. Never fails: Find reports what is missing.
    /// </summary>
    public void Prefetch(params string[] names)
    {
        if (string.IsNullOrEmpty(configuredBinDir)) _ = Task.Run(() => _pgConfigBinDir.Value);
        foreach (string name in names)
        {
            // Beside pg_config, not after it: the directories after it usually hold the same program.
            _ = Task.Run(() =>
            {
                try
                {
                    string? path = CandidateDirectories(skipPgConfig: true).Select(dir => System.IO.Path.Combine(dir, name)).FirstOrDefault(File.Exists);
                    if (path != null) Probe(name, path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Find looks again and says what it found
                }
            });
        }
    }

    public PgTool Find(string name, int serverMajor)
    {
        var candidates = CandidateDirectories().ToList();
        foreach (var dir in candidates)
        {
            string path = System.IO.Path.Combine(dir, name);
            if (!File.Exists(path)) continue;
            var tool = Probe(name, path);
            if (tool != null && tool.Major >= serverMajor) return tool;
        }
        throw new PgVaultException(ErrorCode.ToolMissing,
            $"no {name} of version {serverMajor} or newer found (looked in: {string.Join(", ", candidates.Distinct())})",
            $"install the PostgreSQL {serverMajor} client programs (e.g. apt-get install postgresql-client-{serverMajor}) or set 'bindir' for the cluster");
    }

    private IEnumerable<string> CandidateDirectories(bool skipPgConfig = false)
    {
        if (!string.IsNullOrEmpty(configuredBinDir))
        {
            yield return configuredBinDir;
            yield break; // an explicit bindir is what the user wants, nothing else
        }
        if (!skipPgConfig && _pgConfigBinDir.Value is { } fromPgConfig) yield return fromPgConfig;
        const string debian = "/usr/lib/postgresql";
        if (Directory.Exists(debian))
        {
            foreach (var dir in Directory.GetDirectories(debian)
                         .Select(d => (Dir: d, Ok: int.TryParse(System.IO.Path.GetFileName(d), out int v), Version: v))
                         .Where(x => x.Ok).OrderByDescending(x => x.Version))
            {
                yield return System.IO.Path.Combine(dir.Dir, "bin");
            }
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            yield return dir;
        }
    }

    private static string? PgConfigBinDir()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string pgConfig = System.IO.Path.Combine(dir, "pg_config");
            if (!File.Exists(pgConfig)) continue;
            string? output = Run(pgConfig, "--bindir");
            return string.IsNullOrWhiteSpace(output) ? null : output.Trim();
        }
        return null;
    }

    /// <summary>Runs <paramref name="path"/> --version once per path; a concurrent caller waits for the same run.</summary>
    private PgTool? Probe(string name, string path) =>
        _cache.GetOrAdd(path, p => new Lazy<PgTool?>(() => ProbeOnce(name, p))).Value;

    private static PgTool? ProbeOnce(string name, string path)
    {
        PgTool? tool = null;
        string? output = Run(path, "--version");
        if (output != null && VersionPattern().Match(output) is { Success: true } m)
        {
            tool = new PgTool(name, path, m.Groups[1].Value, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        return tool;
    }

    private static string? Run(string file, string argument)
    {
        try
        {
            var psi = new ProcessStartInfo(file, argument) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            ChildEnvironment.Apply(psi);
            using var process = Process.Start(psi)!;
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"\(PostgreSQL\)\s+((\d+)(?:\.\d+)?\S*)")]
    private static partial Regex VersionPattern();
}
