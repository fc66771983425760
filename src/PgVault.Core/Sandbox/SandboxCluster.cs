using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Sandbox;

/// <summary>Settings of a throw-away cluster.</summary>
public sealed record SandboxOptions
{
    /// <summary>Directory of initdb/pg_ctl; default: the newest installed PostgreSQL.</summary>
    public string? BinDir { get; init; }

    /// <summary>Extra postgresql.conf settings (name = value).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>pg_hba.conf lines placed before the default trust lines.</summary>
    public IReadOnlyList<string> HbaLines { get; init; } = [];

    public bool DataChecksums { get; init; } = true;

    /// <summary>
    /// Variables the server (and so its archive_command and restore_command) gets on top of the
    /// allow-listed environment — what an administrator would set in the service's unit, e.g. the
    /// S3 credential variables an S3 repository names. Nothing else of the caller's environment passes.
    /// </summary>
    public IReadOnlyDictionary<string, string> ServerEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// An existing empty directory to hold the cluster (data/, socket, log), already owned by the
    /// server's OS user; default: a new directory in the system's temporary directory.
    /// </summary>
    public string? Root { get; init; }

    /// <summary>More server options at start (<c>-c name=value ...</c>), after PgVault's own.</summary>
    public string ServerOptions { get; init; } = "";
}

/// <summary>
/// A PostgreSQL cluster of its own in a temporary directory on a free port: initdb + pg_ctl, run
/// as the `postgres` OS user when the caller is root (the server refuses root). Used by
/// `pgvault demo` and by the integration tests. Disposing stops it and removes every file.
/// </summary>
public sealed class SandboxCluster : IAsyncDisposable
{
    private readonly string _binDir;
    private readonly IReadOnlyDictionary<string, string>? _serverEnvironment;
    private readonly string _serverOptions;
    private bool _running;

    private SandboxCluster(string root, string binDir, int port, IReadOnlyDictionary<string, string>? serverEnvironment, string serverOptions = "")
    {
        _serverOptions = serverOptions;
        _serverEnvironment = serverEnvironment;
        Root = root;
        _binDir = binDir;
        Port = port;
    }

    /// <summary>Temporary directory holding data/, the socket and the server log.</summary>
    public string Root { get; }

    public string DataDir => Path.Combine(Root, "data");

    public string SocketDir => Root;

    public string LogFile => Path.Combine(Root, "server.log");

    public int Port { get; }

    public string BinDir => _binDir;

    /// <summary>libpq conninfo: Unix socket, superuser postgres.</summary>
    public string ConnectionString => $"host={SocketDir} port={Port} user=postgres dbname=postgres";

    public ConnInfo Connection => ConnInfo.Parse(ConnectionString);

    public static async Task<SandboxCluster> StartAsync(SandboxOptions? options, CancellationToken ct)
    {
        options ??= new SandboxOptions();
        string binDir = options.BinDir ?? Path.GetDirectoryName(new ToolLocator(null).Find("initdb", 0).Path)!;
        string root = options.Root ?? Directory.CreateTempSubdirectory("pgvault-sandbox-").FullName;
        try
        {
            if (options.Root is null)
            {
                File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                await GiveToServerUserAsync(root, recursive: false, ct).ConfigureAwait(false);
            }
            var args = new List<string> { "-D", Path.Combine(root, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync" };
            if (options.DataChecksums) args.Add("--data-checksums");
            await RunAsync(Path.Combine(binDir, "initdb"), args, asOwner: true, ct).ConfigureAwait(false);
            await ConfigureAsync(root, options, ct).ConfigureAwait(false);
            return await StartExistingAsync(root, binDir, options.ServerOptions, wait: true, ct, options.ServerEnvironment).ConfigureAwait(false);
        }
        catch
        {
            if (options.Root is null) TryDelete(root); // a given root is its owner's to remove
            throw;
        }
    }

    /// <summary>
    /// Starts a server on an existing data directory at <paramref name="root"/>/data (a restored
    /// copy, say) on a free port; <paramref name="root"/> holds the socket and log and must be
    /// writable by the server's OS user. Disposing stops it and removes <paramref name="root"/>.
    /// </summary>
    public static async Task<SandboxCluster> StartExistingAsync(string root, string binDir, CancellationToken ct,
        IReadOnlyDictionary<string, string>? serverEnvironment = null) =>
        await StartExistingAsync(root, binDir, "", wait: true, ct, serverEnvironment).ConfigureAwait(false);

    /// <summary>
    /// <see cref="StartExistingAsync(string, string, CancellationToken, IReadOnlyDictionary{string, string}?)"/>
    /// with more server options (<c>-c name=value ...</c>); without <paramref name="wait"/>, pg_ctl
    /// returns once the postmaster is launched and the caller watches it come up (a recovery may take long).
    /// </summary>
    public static async Task<SandboxCluster> StartExistingAsync(string root, string binDir, string serverOptions, bool wait, CancellationToken ct,
        IReadOnlyDictionary<string, string>? serverEnvironment = null)
    {
        for (int attempt = 1; ; attempt++)
        {
            var cluster = new SandboxCluster(root, binDir, FreePort(), serverEnvironment, serverOptions);
            try
            {
                await cluster.StartServerAsync(wait, ct).ConfigureAwait(false);
                return cluster;
            }
            catch (PgVaultException) when (attempt < 3)
            {
                // The port was taken between probing and binding: try another.
            }
        }
    }

    /// <summary>Starts the server again after <see cref="StopAsync"/>.</summary>
    public Task StartServerAsync(CancellationToken ct) => StartServerAsync(wait: true, ct);

    private async Task StartServerAsync(bool wait, CancellationToken ct)
    {
        _running = true; // from here on, disposing stops whatever was started
        await RunAsync(Path.Combine(_binDir, "pg_ctl"),
            ["-D", DataDir, "-l", LogFile, wait ? "-w" : "-W", "-t", "60", "-o", $"-p {Port} -k {SocketDir} -c listen_addresses=127.0.0.1 {_serverOptions}".TrimEnd(), "start"],
            asOwner: true, ct, _serverEnvironment).ConfigureAwait(false);
    }

    public async Task StopAsync(string mode = "fast")
    {
        if (!_running) return;
        await RunAsync(Path.Combine(_binDir, "pg_ctl"), ["-D", DataDir, "-m", mode, "-w", "-t", "60", "stop"], asOwner: true, CancellationToken.None).ConfigureAwait(false);
        _running = false;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync("immediate").ConfigureAwait(false);
        }
        catch (PgVaultException)
        {
            // already stopped
        }
        TryDelete(Root);
    }

    /// <summary>
    /// Stops whatever server runs on <paramref name="dataDir"/> (pg_ctl stop -m immediate, as the
    /// server's OS user) — a leftover of a killed process; false when none ran or it would not stop.
    /// </summary>
    public static async Task<bool> StopLeftoverAsync(string binDir, string dataDir, CancellationToken ct)
    {
        if (!File.Exists(Path.Combine(dataDir, "postmaster.pid"))) return false;
        try
        {
            await RunAsync(Path.Combine(binDir, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"], asOwner: true, ct).ConfigureAwait(false);
            return true;
        }
        catch (PgVaultException)
        {
            return false; // not running (a stale postmaster.pid) or already gone
        }
    }

    /// <summary>Runs a program of the cluster's bindir (psql, pgbench, ...) as the cluster's owner.</summary>
    public Task<string> RunToolAsync(string tool, IEnumerable<string> arguments, CancellationToken ct) =>
        RunAsync(Path.Combine(_binDir, tool), arguments.ToList(), asOwner: true, ct);

    public static bool RunningAsRoot => Environment.UserName == "root";

    /// <summary>chown of a path to the server's OS user (postgres) when running as root; nothing otherwise.</summary>
    public static async Task GiveToServerUserAsync(string path, bool recursive, CancellationToken ct)
    {
        if (!RunningAsRoot) return;
        await RunAsync("chown", recursive ? ["-R", "postgres:postgres", path] : ["postgres:postgres", path], asOwner: false, ct).ConfigureAwait(false);
    }

    private static async Task ConfigureAsync(string root, SandboxOptions options, CancellationToken ct)
    {
        string data = Path.Combine(root, "data");
        var settings = new Dictionary<string, string>
        {
            ["fsync"] = "off", // a sandbox: speed over durability
            ["max_connections"] = "50",
            ["shared_buffers"] = "32MB",
            ["log_min_messages"] = "warning",
        };
        foreach (var (k, v) in options.Settings) settings[k] = v;
        await File.AppendAllLinesAsync(Path.Combine(data, "postgresql.conf"), settings.Select(kv => $"{kv.Key} = {kv.Value}"), ct).ConfigureAwait(false);
        var hba = options.HbaLines.Concat(["local all all trust", "host all all 127.0.0.1/32 trust", "local replication all trust", "host replication all 127.0.0.1/32 trust"]);
        await File.WriteAllLinesAsync(Path.Combine(data, "pg_hba.conf"), hba, ct).ConfigureAwait(false);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> RunAsync(string program, List<string> arguments, bool asOwner, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        if (asOwner && RunningAsRoot)
        {
            psi.FileName = "runuser";
            foreach (var a in new[] { "-u", "postgres", "--", program }) psi.ArgumentList.Add(a);
        }
        else
        {
            psi.FileName = program;
        }
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        ChildEnvironment.Apply(psi, environment); // initdb, pg_ctl and the server (and its archive/restore commands) see no secrets but those given
        using var process = Process.Start(psi) ?? throw new PgVaultException(ErrorCode.ToolFailed, $"unable to start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        string output = await stdout.ConfigureAwait(false);
        string error = await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
            throw new PgVaultException(ErrorCode.ToolFailed, $"{Path.GetFileName(program)} {string.Join(' ', arguments)} failed (exit {process.ExitCode}): {error.Trim().Split('\n').LastOrDefault()}");
        return output;
    }

    private static void TryDelete(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
