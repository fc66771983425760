using System.Diagnostics;
using PgVault.Core.Errors;

namespace PgVault.Core.PostgreSql;

/// <summary>
/// A running PostgreSQL client program (pg_dump, pg_restore, psql, ...). Arguments go through
/// ArgumentList (no shell); secrets only through the environment. Standard error is collected so a
/// failure can be reported in one line; cancellation kills the process. The environment is
/// <see cref="ChildEnvironment"/>'s allow-list plus what the caller adds.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private const int KeptErrorLines = 50;
    private readonly Process _process;
    private readonly Queue<string> _errors = new();
    private readonly Task _stderrPump;
    private readonly CancellationTokenRegistration _cancel;

    private ChildProcess(Process process, string description, CancellationToken ct)
    {
        _process = process;
        Description = description;
        _stderrPump = PumpErrorsAsync();
        _cancel = ct.Register(Kill);
    }

    public string Description { get; }

    public Stream StandardOutput => _process.StandardOutput.BaseStream;

    public Stream StandardInput => _process.StandardInput.BaseStream;

    public static ChildProcess Start(
        PgTool tool,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment,
        string description,
        bool redirectInput,
        bool redirectOutput,
        CancellationToken ct)
    {
        var psi = new ProcessStartInfo(tool.Path)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = redirectOutput,
        };
        foreach (var argument in arguments) psi.ArgumentList.Add(argument);
        ChildEnvironment.Apply(psi, environment);
        psi.Environment["LC_MESSAGES"] = "C";
        try
        {
            var process = Process.Start(psi) ?? throw new PgVaultException(ErrorCode.ToolFailed, $"unable to start {tool.Path}");
            return new ChildProcess(process, description, ct);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PgVaultException(ErrorCode.ToolFailed, $"unable to start {tool.Path}: {e.Message}");
        }
    }

    /// <summary>Waits for the exit; a non-zero exit becomes one clear error carrying the program's own message.</summary>
    public async Task WaitSuccessAsync(CancellationToken ct)
    {
        int code = await WaitAsync(ct).ConfigureAwait(false);
        if (code != 0)
            throw new PgVaultException(ErrorCode.ToolFailed, $"{Description} failed (exit code {code}): {LastError() ?? "no message"}");
    }

    public async Task<int> WaitAsync(CancellationToken ct)
    {
        await _process.WaitForExitAsync(ct).ConfigureAwait(false);
        await _stderrPump.ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>All collected error lines (the last 50).</summary>
    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (_errors) return [.. _errors];
        }
    }

    /// <summary>The most telling line of standard error: the last "error:"/"FATAL"/"ERROR" line, else the last line.</summary>
    public string? LastError()
    {
        var lines = ErrorLines;
        var telling = lines.LastOrDefault(l => l.Contains("error:", StringComparison.Ordinal) || l.Contains("FATAL", StringComparison.Ordinal) || l.Contains("ERROR", StringComparison.Ordinal));
        return (telling ?? lines.LastOrDefault())?.Trim();
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or AggregateException or NotSupportedException)
        {
            // already gone, or gone while its tree was walked
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cancel.DisposeAsync().ConfigureAwait(false);
        Kill();
        try
        {
            await _stderrPump.ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
        _process.Dispose();
    }

    private async Task PumpErrorsAsync()
    {
        while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (_errors)
            {
                _errors.Enqueue(line);
                if (_errors.Count > KeptErrorLines) _errors.Dequeue();
            }
        }
    }
}
