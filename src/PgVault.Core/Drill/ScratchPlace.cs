using System.Globalization;
using System.Text.Json;
using PgVault.Core.IO;
using PgVault.Core.Sandbox;
using PgVault.Core.Storage;

namespace PgVault.Core.Drill;

/// <summary>Written beside a scratch directory: who made it and which binaries stop its server.</summary>
public sealed record ScratchMarker
{
    public int Pid { get; init; }
    public long StartTicks { get; init; }
    public string Host { get; init; } = "";
    public string DrillId { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public string? BinDir { get; init; }
}

/// <summary>
/// The scratch place of one drill: a directory made with mkdtemp (mode 0700, owned by the server's
/// OS user) named after this process and its start time — drill-PID-START-XXXXXX — with a marker
/// file beside it (drill-...json) naming the binaries that can stop a server in it. Disposing
/// stops that server (pg_ctl stop -m immediate) and removes both. A drill killed with -9 leaves
/// them behind; the next drill finds them by name, sees the process is gone, and removes them.
/// </summary>
public sealed class ScratchPlace : IAsyncDisposable
{
    /// <summary>Where scratch places go by default: /var/tmp (on disk, unlike a tmpfs /tmp) when it exists.</summary>
    public static string DefaultParent => Directory.Exists("/var/tmp") ? "/var/tmp/pgvault-drills" : Path.Combine(Path.GetTempPath(), "pgvault-drills");

    private const string Prefix = "drill-";
    private readonly string _marker;
    private readonly string _drillId;

    private ScratchPlace(string root, string drillId)
    {
        Root = root;
        _drillId = drillId;
        _marker = root + ".json";
    }

    /// <summary>The scratch directory.</summary>
    public string Root { get; }

    /// <summary>Makes the directory under <paramref name="parent"/> (created 0711 when missing) and gives it to uid/gid.</summary>
    public static ScratchPlace Create(string parent, string drillId, int? uid, int? gid)
    {
        if (!Directory.Exists(parent)) Directory.CreateDirectory(parent, (UnixFileMode)0b111_001_001);
        CheckParent(parent);
        string root = SafeFiles.MakeUniqueDirectory(parent, $"{Prefix}{ProcessIdentity.Tag}-");
        var place = new ScratchPlace(root, drillId);
        place.WriteMarker(null);
        if (uid is { } u) SafeFiles.SetDirectory(root, 0b111_000_000, u, gid);
        return place;
    }

    /// <summary>
    /// The parent must be a real directory of this user that nobody else may write: in a shared
    /// place like /var/tmp another user could otherwise have made it, and swap a drill's directory
    /// for a link before it is removed.
    /// </summary>
    private static void CheckParent(string parent)
    {
        var info = new DirectoryInfo(parent);
        bool foreign = Posix.IsRoot && Posix.GetOwner(parent).Uid != 0;
        bool shared = (info.UnixFileMode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0;
        if (info.LinkTarget != null || foreign || shared)
            throw new Errors.PgVaultException(Errors.ErrorCode.RestoreTargetInvalid,
                $"the drill scratch directory '{parent}' is {(info.LinkTarget != null ? "a symbolic link" : foreign ? "owned by another user" : "writable by others")}",
                "remove it (PgVault creates it, mode 0711) or set clusters.NAME.drills.scratch_dir / --scratch-dir to a directory only this user may write");
    }

    /// <summary>Records the binaries of the server about to run in the place (so a leftover can be stopped).</summary>
    public void WriteMarker(string? binDir)
    {
        var marker = new ScratchMarker
        {
            Pid = ProcessIdentity.Pid,
            StartTicks = ProcessIdentity.StartTicks,
            Host = Environment.MachineName,
            DrillId = _drillId,
            CreatedAt = DateTimeOffset.UtcNow,
            BinDir = binDir,
        };
        SafeFiles.WriteAllBytes(_marker, JsonSerializer.SerializeToUtf8Bytes(marker, DrillJson.Default.ScratchMarker), 0b110_000_000, null, null);
    }

    public async ValueTask DisposeAsync() => await RemoveAsync(Root, _marker, CancellationToken.None).ConfigureAwait(false);

    /// <summary>
    /// Removes the scratch places under <paramref name="parent"/> whose process is gone (stopping
    /// a server left running in one first); returns the directories removed.
    /// </summary>
    public static async Task<List<string>> RemoveLeftoversAsync(string parent, Action<string> warn, CancellationToken ct)
    {
        var removed = new List<string>();
        if (!Directory.Exists(parent)) return removed;
        foreach (var dir in new DirectoryInfo(parent).EnumerateDirectories(Prefix + "*").ToList())
        {
            string[] parts = dir.Name[Prefix.Length..].Split('-');
            if (parts.Length != 3 || ProcessIdentity.ParseTag(parts[0] + "-" + parts[1]) is not { } owner) continue;
            if (ProcessIdentity.IsAlive(owner.Pid, owner.StartTicks)) continue; // a drill running now
            if (dir.LinkTarget != null) continue;
            try
            {
                await RemoveAsync(dir.FullName, dir.FullName + ".json", ct).ConfigureAwait(false);
                removed.Add(dir.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warn($"could not remove the leftover drill directory '{dir.FullName}': {e.Message}");
            }
        }
        return removed;
    }

    private static async Task RemoveAsync(string root, string markerPath, CancellationToken ct)
    {
        string? binDir = null;
        try
        {
            binDir = JsonSerializer.Deserialize(SafeFiles.ReadAllBytes(markerPath), DrillJson.Default.ScratchMarker)?.BinDir;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            // no marker (or a damaged one): look for a server anyway
        }
        string data = Path.Combine(root, "data");
        if (File.Exists(Path.Combine(data, "postmaster.pid")))
        {
            if (binDir is null || !await SandboxCluster.StopLeftoverAsync(binDir, data, ct).ConfigureAwait(false))
                KillPostmaster(data);
        }
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        if (File.Exists(markerPath)) File.Delete(markerPath);
    }

    /// <summary>Without pg_ctl: SIGKILL to the postmaster named in postmaster.pid, when it is a postgres process.</summary>
    private static void KillPostmaster(string data)
    {
        try
        {
            string first = File.ReadLines(Path.Combine(data, "postmaster.pid")).FirstOrDefault() ?? "";
            if (!int.TryParse(first.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) return;
            string comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
            if (comm is not ("postgres" or "postmaster")) return;
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            process.Kill();
            process.WaitForExit(10_000);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // gone already
        }
    }
}
