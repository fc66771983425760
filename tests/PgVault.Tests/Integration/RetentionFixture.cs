using System.Text.Json;
using Npgsql;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// A cluster with continuous WAL archiving and seven physical backups, one row per transaction
/// into <c>ticks</c> between them (commit time stamps on):
/// F1, I1, D1, then 20 WAL switches, F2, I2, F3, I3. The tests apply retention to copies of the
/// repository (<see cref="PhysicalFixture.CopyRepository"/>), so they do not disturb each other.
/// </summary>
public sealed class RetentionFixture : PhysicalFixture
{
    public string F1 { get; private set; } = "";
    public string I1 { get; private set; } = "";
    public string D1 { get; private set; } = "";
    public string F2 { get; private set; } = "";
    public string I2 { get; private set; } = "";
    public string F3 { get; private set; } = "";
    public string I3 { get; private set; } = "";

    public IReadOnlyList<string> All => [F1, I1, D1, F2, I2, F3, I3];

    /// <summary>Rows committed before each backup started (none is written while one runs).</summary>
    public Dictionary<string, long> RowsAt { get; } = new(StringComparer.Ordinal);

    /// <summary>A time between two commits after F2 (before I2), and the rows committed by then.</summary>
    public (long Rows, string Time) PitrTarget { get; private set; }

    /// <summary>A commit time between D1 and F2: before the window once F1, I1 and D1 are gone.</summary>
    public string BeforeF2 { get; private set; } = "";

    public long TotalRows { get; private set; }

    private long _rows;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecAsync("postgres", "CREATE TABLE ticks (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
        F1 = await TakeAsync("full");
        await InsertAsync(5);
        I1 = await TakeAsync("incr");
        await InsertAsync(5);
        D1 = await TakeAsync("diff");
        // Many WAL segments between D1 and F2: what a policy keeping F2 on removes (and time for a kill -9 to land mid-way).
        for (int i = 0; i < 20; i++)
        {
            await InsertAsync(1);
            if (i == 10) BeforeF2 = (await CommitTimeAsync(_rows)).ToString("yyyy-MM-dd HH:mm:ss.ffffff+00");
            await SwitchWalAsync();
        }
        await InsertAsync(5);
        F2 = await TakeAsync("full");
        await InsertAsync(10);
        var a = await CommitTimeAsync(_rows - 5);
        var b = await CommitTimeAsync(_rows - 4);
        PitrTarget = (_rows - 5, new DateTime(a.Ticks + (b.Ticks - a.Ticks) / 2, DateTimeKind.Utc).ToString("yyyy-MM-dd HH:mm:ss.ffffff+00"));
        I2 = await TakeAsync("incr");
        await InsertAsync(5);
        F3 = await TakeAsync("full");
        await InsertAsync(5);
        I3 = await TakeAsync("incr");
        await InsertAsync(5);
        TotalRows = _rows;
        await ArchiveEverythingAsync();
    }

    private async Task<string> TakeAsync(string type)
    {
        long rows = _rows;
        string id = await BackupAsync(type);
        RowsAt[id] = rows;
        return id;
    }

    private async Task InsertAsync(int count)
    {
        await using var connection = Open();
        for (int i = 0; i < count; i++)
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO ticks (id) VALUES ({++_rows})", connection);
            await insert.ExecuteNonQueryAsync();
        }
    }

    private Task<DateTime> CommitTimeAsync(long id) => ScalarAsync<DateTime>("postgres", $"SELECT pg_xact_commit_timestamp(xmin) FROM ticks WHERE id = {id}");
}

/// <summary>What the retention tests share: configs with a policy, listings, file sets, restores.</summary>
internal static class Retention
{
    /// <summary>Writes <paramref name="policy"/> (YAML lines, e.g. "full: 2") as clusters.main.retention of the config file.</summary>
    public static string WithPolicy(string config, params string[] policy)
    {
        string text = File.ReadAllText(config);
        string block = "clusters:\n  main:\n    retention:\n" + string.Concat(policy.Select(l => $"      {l}\n"));
        File.WriteAllText(config, text.Replace("clusters:\n  main:\n", block, StringComparison.Ordinal));
        return config;
    }

    /// <summary>
    /// A copy of the fixture's repository with a config naming it and this policy, owned by
    /// postgres like the original (a restored server's restore_command reads it as postgres).
    /// </summary>
    public static async Task<(string Config, string Repo)> CopyAsync(PhysicalFixture fixture, params string[] policy)
    {
        var (config, repo) = fixture.CopyRepository();
        await ArchivingFixture.Chown("-R", "postgres:postgres", Path.GetDirectoryName(repo)!);
        return (WithPolicy(config, policy), repo);
    }

    public static Task<CliResult> RunAsync(string config, params string[] args) => PgVaultCli.RunAsync(["--config", config, .. args]);

    public static async Task<CliResult> OkAsync(string config, params string[] args)
    {
        var result = await RunAsync(config, args);
        Assert.True(result.ExitCode == 0, $"pgvault {string.Join(' ', args)}: {result}");
        return result;
    }

    public static async Task<List<string>> ListAsync(string config, params string[] extra)
    {
        var list = await OkAsync(config, ["list", "--output", "json", .. extra]);
        return list.Json.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
    }

    public static async Task<string> StartWalAsync(string config, string id, params string[] extra)
    {
        var info = await OkAsync(config, [.. extra, "info", id, "--output", "json"]);
        return info.Json.GetProperty("physical").GetProperty("start_wal").GetString()!;
    }

    /// <summary>Decisions of the only repository with a policy in an expire's JSON: id -> (keep, reasons).</summary>
    public static Dictionary<string, (bool Keep, string Reasons)> Decisions(CliResult expire, string repository = "local")
    {
        var repo = expire.Json.GetProperty("repositories").EnumerateArray().Single(r => r.GetProperty("repository").GetString() == repository);
        return repo.GetProperty("decisions").EnumerateArray().ToDictionary(d => d.GetProperty("id").GetString()!,
            d => (d.GetProperty("keep").GetBoolean(), string.Join("; ", d.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()))));
    }

    public static JsonElement Repository(CliResult expire, string repository = "local") =>
        expire.Json.GetProperty("repositories").EnumerateArray().Single(r => r.GetProperty("repository").GetString() == repository);

    /// <summary>Position (log + segment, 16 hex digits) of a WAL file name.</summary>
    public static string Position(string walName) => walName[8..24];

    /// <summary>Every file under the cluster's backups/ and wal/ (relative paths with sizes), temporaries left out.</summary>
    public static SortedSet<string> Files(string repo)
    {
        string root = Path.Combine(repo, "clusters", "main");
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var sub in new[] { "backups", "wal" })
        {
            string dir = Path.Combine(root, sub);
            if (!Directory.Exists(dir)) continue;
            foreach (var f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
            {
                if (Path.GetFileName(f).StartsWith('.')) continue;
                files.Add($"{Path.GetRelativePath(root, f)} {new FileInfo(f).Length}");
            }
        }
        return files;
    }

    /// <summary>Files of one backup (relative to the cluster), empty when its directory is gone.</summary>
    public static List<string> BackupFiles(string repo, string id) =>
        Files(repo).Where(f => f.StartsWith($"backups/{id}/", StringComparison.Ordinal)).ToList();

    /// <summary>WAL segment names (24 hex digits) archived in a filesystem repository, without history files.</summary>
    public static List<string> Segments(string repo)
    {
        string dir = Path.Combine(repo, "clusters", "main", "wal");
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(Path.GetFileName)
                .Where(n => n!.Length > 25 && n[24] == '-').Select(n => n![..24]).Distinct().Order(StringComparer.Ordinal).ToList()
            : [];
    }

    /// <summary>Restores into a new directory, starts the server, waits for promotion and counts ticks (rows, max id).</summary>
    public static async Task<(long Count, long Max)> RestoreAndCountAsync(PhysicalFixture fixture, string config, string name, IReadOnlyList<string> globals, params string[] args)
    {
        string dir = fixture.NewRestoreDir(name);
        await OkAsync(config, [.. globals, "restore", "--pgdata", dir, "--archive-mode", "off", .. args]);
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        long count = await server.ScalarAsync<long>("SELECT count(*) FROM ticks");
        long max = await server.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM ticks");
        await server.StopAsync();
        Directory.Delete(dir, recursive: true);
        return (count, max);
    }

    /// <summary>Restores backup <paramref name="id"/> to its consistent point and checks it holds exactly the rows committed before it.</summary>
    public static async Task AssertRestoresAsync(PhysicalFixture fixture, string config, string id, long rows, params string[] globals)
    {
        var (count, max) = await RestoreAndCountAsync(fixture, config, "kept-" + id, globals, "--backup", id, "--target", "immediate", "--target-action", "promote");
        Assert.Equal((rows, rows), (count, max));
    }
}
