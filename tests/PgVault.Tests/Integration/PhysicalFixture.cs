using System.Diagnostics;
using Npgsql;
using PgVault.Tests.Infrastructure;

namespace PgVault.Tests.Integration;

/// <summary>
/// An archiving cluster (see <see cref="ArchivingFixture"/>) whose configuration also names its
/// data directory, so physical backups can run; commit time stamps are on for PITR checks.
/// </summary>
public class PhysicalFixture : ArchivingFixture
{
    protected override IReadOnlyDictionary<string, string> ExtraSettings => new Dictionary<string, string>
    {
        ["track_commit_timestamp"] = "on",
        ["max_wal_senders"] = "5",
    };

    protected override string ExtraClusterYaml => $"    pgdata: {Cluster.DataDir}\n    compression: zstd:3\n    parallel: 2\n    archive_timeout: 60\n";

    /// <summary>A new directory path (not created) under the fixture's root for a restore.</summary>
    public string NewRestoreDir(string name) => Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Takes a physical backup; returns its id.</summary>
    public async Task<string> BackupAsync(string type, params string[] extra)
    {
        var result = await RunAsync(["backup", "--type", type, "--output", "json", .. extra]);
        if (result.ExitCode != 0) throw new InvalidOperationException(result.ToString());
        return result.Json.GetProperty("id").GetString()!;
    }

    /// <summary>Forces a segment switch and waits until it is archived, so everything so far is restorable.</summary>
    public async Task ArchiveEverythingAsync()
    {
        string segment = await SwitchWalAsync();
        await WaitArchivedAsync(segment);
    }

    /// <summary>A copy of the fixture's repository with a config pointing at it (to damage it safely).</summary>
    public (string Config, string Repo) CopyRepository()
    {
        string root = NewRestoreDir("repo-copy");
        Directory.CreateDirectory(root);
        string repo = Path.Combine(root, "repo");
        CopyDirectory(RepoPath, repo);
        string config = Path.Combine(root, "pgvault.yaml");
        File.WriteAllText(config, File.ReadAllText(ConfigFile).Replace(RepoPath, repo, StringComparison.Ordinal));
        return (config, repo);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
        {
            if (Path.GetFileName(f).StartsWith('.')) continue; // a temporary the archiver is writing right now
            try
            {
                File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
            }
            catch (FileNotFoundException)
            {
                // renamed or removed while we copied
            }
        }
        foreach (var d in Directory.GetDirectories(from)) CopyDirectory(d, Path.Combine(to, Path.GetFileName(d)));
    }
}

/// <summary>
/// A PostgreSQL server started on a restored data directory (free port, socket in its parent
/// directory), stopped and removed with its directory when disposed.
/// </summary>
public sealed class RestoredServer : IAsyncDisposable
{
    private const string Bin = "/usr/lib/postgresql/15/bin";

    private RestoredServer(string dataDir, int port, string runDir)
    {
        DataDir = dataDir;
        Port = port;
        SocketDir = runDir;
    }

    public string DataDir { get; }

    public int Port { get; }

    /// <summary>A directory of the server's own (owned by postgres) for its socket and log.</summary>
    public string SocketDir { get; }

    public string ConnectionString => $"Host={SocketDir};Port={Port};Username=postgres;Database=postgres;Pooling=false;Timeout=30";

    /// <summary>Starts the server and waits until it accepts connections (hot standby: once consistent).</summary>
    public static async Task<RestoredServer> StartAsync(string dataDir)
    {
        int port = FreePort();
        string runDir = Directory.CreateTempSubdirectory("pgvault-restored-").FullName;
        await ArchivingFixture.Chown("postgres:postgres", runDir);
        var server = new RestoredServer(dataDir, port, runDir);
        var (code, output) = await RunAsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", dataDir, "-l", server.LogFile, "-w", "-t", "120",
            "-o", $"-p {port} -k {server.SocketDir} -c listen_addresses=''", "start");
        if (code != 0) throw new InvalidOperationException($"pg_ctl start failed: {output}\n{server.Log()}");
        return server;
    }

    public string LogFile => Path.Combine(SocketDir, "server.log");

    public string Log() => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "";

    public NpgsqlConnection Open()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        return connection;
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = Open();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Waits until recovery has ended (the server was promoted at its target).</summary>
    public async Task WaitPromotedAsync(int seconds = 120)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (!await ScalarAsync<bool>("SELECT pg_is_in_recovery()")) return;
            }
            catch (NpgsqlException) when (clock.Elapsed < TimeSpan.FromSeconds(seconds))
            {
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException("server still in recovery:\n" + Log());
            await Task.Delay(100);
        }
    }

    public async Task StopAsync()
    {
        await RunAsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", DataDir, "-m", "fast", "-w", "stop");
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", DataDir, "-m", "immediate", "-w", "stop");
        Directory.Delete(SocketDir, recursive: true);
    }

    internal static async Task<(int Code, string Output)> RunAsPostgresAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var a in new[] { "-u", "postgres", "--", program }.Concat(args)) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
