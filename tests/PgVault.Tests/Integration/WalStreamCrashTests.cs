using System.Globalization;
using Npgsql;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

public sealed class WalStreamCrashFixture : WalStreamFixture;

/// <summary>
/// The streamer killed with SIGKILL under load and started again: the archive stays continuous, no
/// segment is stored twice with different content, the slot is where the archive ends; a second
/// streamer and the refusals of the preflight are one clear line each.
/// </summary>
public sealed class WalStreamCrashTests(WalStreamCrashFixture db) : IClassFixture<WalStreamCrashFixture>
{
    private static ulong Number(string name) =>
        ulong.Parse(name.AsSpan(8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture) * 256 + ulong.Parse(name.AsSpan(16, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [Fact]
    public async Task Kill_9_of_the_streamer_under_load_then_a_restart_leaves_no_gap_and_no_conflicting_duplicate()
    {
        var created = await db.RunAsPostgresAsync("wal-stream", "--create-slot");
        Assert.True(created.ExitCode == 0, created.ToString());
        string first = await db.ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
        var streamer = Streamer.Start(db.ConfigFile, "wal-stream");
        await db.WaitStreamingAsync();

        // A second streamer of the same cluster is refused (the slot is in use, the spool is locked).
        var second = await db.RunAsPostgresAsync("wal-stream");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("in use by another process", second.Stderr);

        await db.ExecAsync("postgres", "CREATE TABLE load (i bigserial PRIMARY KEY, pad text)");
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            await using var conn = db.Open();
            while (!stop.IsCancellationRequested)
            {
                await using var insert = new NpgsqlCommand("INSERT INTO load (pad) SELECT repeat('y', 1000) FROM generate_series(1, 2000)", conn);
                await insert.ExecuteNonQueryAsync();
            }
        });
        try
        {
            await WaitArchivedCountAsync(2);
            await streamer.KillAsync();
            await streamer.DisposeAsync();
            int before = db.ArchivedSegments().Count;
            await Task.Delay(500);
            streamer = Streamer.Start(db.ConfigFile, "wal-stream");
            await WaitArchivedCountAsync(before + 2);
        }
        finally
        {
            await stop.CancelAsync();
            await load;
        }
        string last = await db.SwitchWalAsync();
        await db.WaitInArchiveAsync(last);
        // The slot advances once the segment is in every repository (the report follows the push; wait for it, bounded).
        const string slotSegment = "SELECT pg_walfile_name(restart_lsn - 1) FROM pg_replication_slots WHERE slot_name = 'pgvault_main'";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await db.ScalarAsync<string>("postgres", slotSegment) != last && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(100);
        var stopped = await streamer.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());

        var archived = db.ArchivedSegments().Where(s => string.CompareOrdinal(s, first) >= 0 && string.CompareOrdinal(s, last) <= 0).ToList();
        Assert.Equal(first, archived[0]);
        Assert.Equal((int)(Number(last) - Number(first)) + 1, archived.Count);
        // One object per segment: a segment streamed again after the kill was accepted as the same content.
        var objects = Directory.GetFiles(Path.Combine(db.RepoPath, "clusters", "main", "wal"), "*", SearchOption.AllDirectories)
            .Select(Path.GetFileName).Where(n => n!.Length > 25 && n[24] == '-').ToList();
        Assert.Equal(objects.Count, objects.Select(n => n![..24]).Distinct().Count());
        var verify = await db.RunAsync("verify", "--wal-only");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        // The slot's restart point is the end of what the archive holds.
        Assert.Equal(last, await db.ScalarAsync<string>("postgres", slotSegment));
    }

    [Fact]
    public async Task A_missing_slot_is_one_clear_error()
    {
        var result = await db.RunAsPostgresAsync("wal-stream", "--slot", "no_such_slot");
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Contains("replication slot \"no_such_slot\" does not exist", line);
        Assert.Contains("--create-slot", result.Stderr);
    }

    [Fact]
    public async Task A_role_without_replication_is_one_clear_error()
    {
        await db.ExecAsync("postgres", "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plain') THEN CREATE ROLE plain LOGIN; END IF; END$$");
        var result = await db.RunAsPostgresAsync("--connection", $"host={db.Cluster.SocketDir} port={db.Cluster.Port} user=plain dbname=postgres", "wal-stream", "--output", "json");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("role \"plain\" has no REPLICATION attribute", result.Stderr);
        Assert.Equal("replication-not-permitted", result.Json.GetProperty("error").GetProperty("code").GetString());
    }

    private async Task WaitArchivedCountAsync(int count)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (db.ArchivedSegments().Count < count)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(120)) throw new TimeoutException($"only {db.ArchivedSegments().Count} segments archived");
            await Task.Delay(100);
        }
    }
}

/// <summary>A server with wal_level = minimal cannot stream: one clear error, before anything is created.</summary>
public sealed class WalStreamMinimalFixture : ClusterFixture
{
    protected override PgVault.Core.Sandbox.SandboxOptions Options => new()
    {
        Settings = new Dictionary<string, string> { ["wal_level"] = "minimal", ["max_wal_senders"] = "0", ["archive_mode"] = "off" },
    };
}

public sealed class WalStreamMinimalTests(WalStreamMinimalFixture db) : IClassFixture<WalStreamMinimalFixture>
{
    [Fact]
    public async Task Wal_level_minimal_is_one_clear_error()
    {
        string root = Directory.CreateTempSubdirectory("pgvault-minimal-").FullName;
        try
        {
            string config = Path.Combine(root, "pgvault.yaml");
            File.WriteAllText(config, $"repositories:\n  - name: local\n    path: {root}/repo\nclusters:\n  main:\n    connection: {db.ConnectionString}\n    spool_path: {root}/spool\n");
            File.SetUnixFileMode(config, (UnixFileMode)0b110_100_100);
            var result = await PgVaultCli.RunAsync(["--config", config, "wal-stream"]);
            Assert.Equal(1, result.ExitCode);
            var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
            Assert.Contains("wal_level = minimal", line);
            Assert.False(Directory.Exists(Path.Combine(root, "spool")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
