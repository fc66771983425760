using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace PgVault.Tests.Infrastructure;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement;

    /// <summary>The stderr lines that are not progress logs (what the user reads as the error).</summary>
    public IReadOnlyList<string> ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Where(l => l.StartsWith("pgvault:", StringComparison.Ordinal) || l.StartsWith("HINT:", StringComparison.Ordinal)).ToList();

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs the real pgvault CLI as a child process: the binary named by <c>PGVAULT_TEST_BINARY</c>
/// (<c>./test</c> sets it to the Native AOT build of the launcher, the binary users run), else
/// <c>dotnet pgvault.dll</c> built next to the tests (a JIT start costs ten times the CPU).
/// </summary>
public static class PgVaultCli
{
    public static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "pgvault.dll");

    /// <summary>The dotnet host, resolved to its real path (the server runs archive_command with a bare PATH).</summary>
    public static readonly string Dotnet = ResolveDotnet();

    /// <summary>The program and leading arguments that run pgvault (absolute paths: usable as another user, from any directory).</summary>
    public static readonly IReadOnlyList<string> Command = ResolveCommand();

    /// <summary>
    /// The program and leading arguments that run pgvault-wal, the WAL commands' own binary: next to
    /// <c>PGVAULT_TEST_BINARY</c> (the launcher builds both), else <c>dotnet pgvault-wal.dll</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> WalCommand = ResolveWalCommand();

    /// <summary>A shell command line that runs this pgvault.</summary>
    public static string ShellCommand(params string[] args) => Shell(Command, args);

    /// <summary>A shell command line that runs pgvault-wal (for archive_command / restore_command, as `setup` writes them).</summary>
    public static string WalShellCommand(params string[] args) => Shell(WalCommand, args);

    private static string Shell(IReadOnlyList<string> command, string[] args) =>
        string.Join(' ', command.Concat(args).Select(a => a == "%p" || a == "%f" ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));

    private static IReadOnlyList<string> ResolveWalCommand()
    {
        string sibling = Path.Combine(Path.GetDirectoryName(Command[^1])!, Command.Count == 1 ? "pgvault-wal" : "pgvault-wal.dll");
        if (!File.Exists(sibling))
            throw new InvalidOperationException($"{sibling} is missing: the launcher and the test build make pgvault-wal next to pgvault");
        return [.. Command.SkipLast(1), sibling];
    }

    private static IReadOnlyList<string> ResolveCommand()
    {
        string? binary = Environment.GetEnvironmentVariable("PGVAULT_TEST_BINARY");
        if (string.IsNullOrEmpty(binary)) return [Dotnet, Dll];
        if (!Path.IsPathFullyQualified(binary) || !File.Exists(binary))
            throw new InvalidOperationException($"PGVAULT_TEST_BINARY='{binary}' is not the absolute path of a pgvault binary");
        return [binary];
    }

    private static string ResolveDotnet()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var file = new FileInfo(Path.Combine(dir, "dotnet"));
            if (file.Exists) return file.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? file.FullName;
        }
        return "/usr/share/dotnet/dotnet";
    }

    /// <summary>Starts pgvault (or <paramref name="program"/>, e.g. <see cref="WalCommand"/>) with a clean PG*/PGVAULT_CONFIG environment.</summary>
    public static Process Start(IEnumerable<string> args, IDictionary<string, string?>? env = null, string? workingDirectory = null, IReadOnlyList<string>? program = null)
    {
        program ??= Command;
        var psi = new ProcessStartInfo(program[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (workingDirectory != null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in program.Skip(1)) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("PGVAULT_CONFIG");
        foreach (var key in new[] { "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE" }) psi.Environment.Remove(key);
        if (env != null)
        {
            foreach (var (k, v) in env)
            {
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
            }
        }
        return Process.Start(psi)!;
    }

    public static async Task<CliResult> RunAsync(IEnumerable<string> args, IDictionary<string, string?>? env = null, string? stdin = null, int timeoutSeconds = 300,
        string? workingDirectory = null, IReadOnlyList<string>? program = null)
    {
        using var process = Start(args, env, workingDirectory, program);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin != null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(true);
            throw new TimeoutException($"pgvault {string.Join(' ', args)} did not finish in {timeoutSeconds}s");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
