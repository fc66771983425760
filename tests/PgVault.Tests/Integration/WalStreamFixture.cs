using System.Diagnostics;
using System.Text;
using Npgsql;
using PgVault.Core.Sandbox;
using PgVault.Tests.Infrastructure;

namespace PgVault.Tests.Integration;

/// <summary>
/// A cluster whose only archiver is `pgvault wal-stream` (archive_mode on, archive_command a no-op,
/// so nothing but the streamer fills the archive), with replication slots and senders, the
/// streaming spool under the fixture's spool path and a streaming: section in the configuration.
/// </summary>
public class WalStreamFixture : PhysicalFixture
{
    protected override SandboxOptions Options
    {
        get
        {
            var options = base.Options;
            var settings = new Dictionary<string, string>(options.Settings)
            {
                ["archive_command"] = "'/bin/true'",
                ["max_wal_senders"] = "5",
                ["max_replication_slots"] = "5",
                ["wal_sender_timeout"] = "20s",
            };
            return options with { Settings = settings };
        }
    }

    protected override string ExtraClusterYaml => base.ExtraClusterYaml + $"    spool_path: {SpoolPath}\n    streaming:\n      status_interval: 1\n";

    /// <summary>The streaming spool (the current segment as SEGMENT.partial).</summary>
    public string StreamSpool => Path.Combine(SpoolPath, "stream");

    /// <summary>Runs pgvault as the postgres OS user (as the streamer runs in production) and waits for it.</summary>
    public async Task<CliResult> RunAsPostgresAsync(params string[] args)
    {
        await using var streamer = Streamer.Start(ConfigFile, args);
        return await streamer.WaitAsync(TimeSpan.FromSeconds(120));
    }

    /// <summary>Waits until the streamer is connected (pg_stat_replication shows its application name streaming).</summary>
    public async Task WaitStreamingAsync(string application = "pgvault_main", string? syncState = null, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var state = await ScalarAsync<object>("postgres",
                $"SELECT coalesce((SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '{application}' LIMIT 1), '')") as string;
            if (state != null && state.StartsWith("streaming/", StringComparison.Ordinal) && (syncState is null || state.EndsWith("/" + syncState, StringComparison.Ordinal))) return;
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException($"the streamer is not streaming ({state})");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until the archive holds <paramref name="segment"/> (pushed by the streamer).</summary>
    public async Task WaitInArchiveAsync(string segment, int seconds = 90)
    {
        var clock = Stopwatch.StartNew();
        while (!ArchivedSegments().Contains(segment))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException($"segment {segment} not in the archive (newest: {ArchivedSegments().LastOrDefault()})");
            await Task.Delay(100);
        }
    }

    /// <summary>Kills the postmaster with SIGKILL (a crash: its children exit when they notice).</summary>
    public async Task KillPostmasterAsync()
    {
        string pid = File.ReadLines(Path.Combine(Cluster.DataDir, "postmaster.pid")).First().Trim();
        using (var kill = Process.Start("kill", ["-9", pid])) await kill.WaitForExitAsync();
        var clock = Stopwatch.StartNew();
        while (File.Exists($"/proc/{pid}/status") && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);
    }
}

/// <summary>`pgvault wal-stream` (or another pgvault command) as a child process running as the postgres OS user.</summary>
public sealed class Streamer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private Streamer(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_stdout) _stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public static Streamer Start(string config, params string[] args)
    {
        var psi = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var a in new[] { "--reuid=postgres", "--regid=postgres", "--init-groups", "--" }.Concat(PgVaultCli.Command).Concat(["--config", config]).Concat(args))
            psi.ArgumentList.Add(a);
        psi.Environment.Remove("PGVAULT_CONFIG");
        foreach (var key in new[] { "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE" }) psi.Environment.Remove(key);
        psi.Environment["HOME"] = "/tmp";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return new Streamer(Process.Start(psi)!);
    }

    /// <summary>Waits (bounded) until the process says <paramref name="text"/> on stderr.</summary>
    public async Task WaitForAsync(string text, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (!Stderr.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited) throw new InvalidOperationException($"the streamer exited ({_process.ExitCode}) before saying '{text}':\n{Stderr}");
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException($"the streamer did not say '{text}':\n{Stderr}");
            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM (a clean stop) and the outcome.</summary>
    public async Task<CliResult> StopAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }
        return await WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGKILL: a crash of the streamer.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async Task<CliResult> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            throw new TimeoutException("pgvault did not exit:\n" + Stderr);
        }
        _process.WaitForExit(); // drains the output handlers
        string stdout;
        lock (_stdout) stdout = _stdout.ToString();
        return new CliResult(_process.ExitCode, stdout, Stderr);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
