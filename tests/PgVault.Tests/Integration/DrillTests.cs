using System.Diagnostics;
using System.Text.Json;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// `pgvault drill` on a real archiving cluster: logical drills into a sandbox cluster, physical
/// drills to a random time and to a restore point, user checks passing and failing, a corrupted
/// backup, and a drill killed with -9 whose leftovers the next drill removes. Every drill's
/// scratch place must be gone afterwards.
/// </summary>
public sealed partial class DrillTests(DrillFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<DrillFixture>
{
    [Fact]
    public async Task Logical_drill_passes_with_a_passing_user_check_and_stores_its_record()
    {
        var result = await fixture.RunAsync("drill", "--backup", fixture.LogicalBackup, "--output", "json");
        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 0, result.ToString());
        var record = result.Json;
        Assert.Equal("passed", record.GetProperty("result").GetString());
        Assert.Equal(fixture.LogicalBackup, record.GetProperty("backup").GetString());
        Assert.Equal("sandbox", record.GetProperty("place").GetString());
        var checks = record.GetProperty("checks").EnumerateArray().ToList();
        Assert.Contains(checks, c => c.GetProperty("kind").GetString() == "user" && c.GetProperty("name").GetString() == "orders-present" && c.GetProperty("result").GetString() == "passed");
        Assert.Contains(checks, c => c.GetProperty("kind").GetString() == "amcheck" && c.GetProperty("result").GetString() == "passed");
        Assert.Contains(checks, c => c.GetProperty("kind").GetString() == "tables" && c.GetProperty("name").GetString() == "shop" && c.GetProperty("result").GetString() == "passed");
        foreach (var phase in new[] { "rto_seconds", "restore_seconds", "startup_seconds", "wal_replay_seconds", "checks_seconds" })
            Assert.True(record.GetProperty(phase).GetDouble() >= 0, phase);
        Assert.True(record.GetProperty("rto_seconds").GetDouble() > 0);
        Assert.True(record.GetProperty("bytes_restored").GetInt64() > 0);
        fixture.AssertNoScratchLeft();

        var list = await fixture.RunAsync("drill", "--list", "--output", "json");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains(list.Json.EnumerateArray(), r => r.GetProperty("id").GetString() == record.GetProperty("id").GetString() && r.GetProperty("result").GetString() == "passed");
    }

    [Fact]
    public async Task A_failing_user_check_fails_the_drill_with_a_non_zero_exit_and_the_failed_record_is_stored()
    {
        string checks = Path.Combine(fixture.Root, "failing-checks.yaml");
        File.WriteAllText(checks, "- name: exactly-five-orders\n  sql: select count(*) from orders\n  expect: \"= 5\"\n  database: shop\n");
        var result = await fixture.RunAsync("drill", "--backup", fixture.LogicalBackup, "--checks", checks, "--output", "json");
        Assert.Equal(1, result.ExitCode);
        var record = result.Json;
        Assert.Equal("failed", record.GetProperty("result").GetString());
        Assert.Equal("checks", record.GetProperty("failed_phase").GetString());
        Assert.Contains("exactly-five-orders", record.GetProperty("failure").GetString());
        Assert.Contains("got 200, expected = 5", record.GetProperty("failure").GetString());
        Assert.Contains("exactly-five-orders", result.Stderr);
        fixture.AssertNoScratchLeft();

        var list = await fixture.RunAsync("drill", "--list", "--output", "json");
        Assert.Contains(list.Json.EnumerateArray(), r => r.GetProperty("id").GetString() == record.GetProperty("id").GetString() && r.GetProperty("result").GetString() == "failed");
    }

    [Fact]
    public async Task Physical_drill_to_a_random_time_passes_and_records_the_time_it_chose()
    {
        var result = await fixture.RunAsync("drill", "--backup", fixture.PhysicalBackup, "--target", "random", "--output", "json");
        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 0, result.ToString());
        var record = result.Json;
        Assert.Equal("passed", record.GetProperty("result").GetString());
        Assert.Equal("random", record.GetProperty("target").GetString());
        var chosen = DateTimeOffset.Parse(record.GetProperty("target_value").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(chosen >= fixture.PhysicalStop, $"{chosen} before the backup's end {fixture.PhysicalStop}");
        Assert.Equal("datadir", record.GetProperty("place").GetString());
        Assert.True(record.GetProperty("bytes_restored").GetInt64() > 0);
        Assert.True(record.GetProperty("wal_replayed_bytes").GetInt64() > 0);
        Assert.Contains(record.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == "orders-present" && c.GetProperty("result").GetString() == "passed");
        fixture.AssertNoScratchLeft();
    }

    [Fact]
    public async Task Physical_drill_to_a_restore_point_passes()
    {
        var result = await fixture.RunAsync("drill", "--backup", fixture.PhysicalBackup, "--target", "drill-point", "--output", "json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var record = result.Json;
        Assert.Equal("passed", record.GetProperty("result").GetString());
        Assert.Equal("name", record.GetProperty("target").GetString());
        Assert.Equal("drill-point", record.GetProperty("target_value").GetString());
        Assert.Contains(record.GetProperty("checks").EnumerateArray(), c => c.GetProperty("kind").GetString() == "amcheck" && c.GetProperty("result").GetString() == "passed");
        fixture.AssertNoScratchLeft();
    }

    [Fact]
    public async Task A_drill_of_a_corrupted_backup_fails_names_what_broke_and_leaves_no_scratch_dir()
    {
        var (config, repo) = fixture.CopyRepository();
        string packs = Path.Combine(repo, "clusters", "main", "backups", fixture.PhysicalBackup, "pg");
        string pack = Directory.GetFiles(packs).OrderByDescending(f => new FileInfo(f).Length).First();
        var bytes = File.ReadAllBytes(pack);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(pack, bytes);

        var result = await PgVaultCli.RunAsync(["--config", config, "drill", "--backup", fixture.PhysicalBackup, "--target", "immediate", "--output", "json"]);
        Assert.Equal(1, result.ExitCode);
        var record = result.Json;
        Assert.Equal("failed", record.GetProperty("result").GetString());
        Assert.Equal("restore", record.GetProperty("failed_phase").GetString());
        string failure = record.GetProperty("failure").GetString()!;
        Assert.Contains(fixture.PhysicalBackup, failure); // what broke: the stored copy of a file of this backup
        Assert.Contains("damaged", failure);
        Assert.Equal("object-corrupt", record.GetProperty("failure_code").GetString());
        fixture.AssertNoScratchLeft();

        var list = await PgVaultCli.RunAsync(["--config", config, "drill", "--list", "--output", "json"]);
        Assert.Contains(list.Json.EnumerateArray(), r => r.GetProperty("result").GetString() == "failed" && r.GetProperty("failed_phase").GetString() == "restore");
    }

    [Fact]
    public async Task A_drill_killed_with_minus_9_leaves_a_running_scratch_server_that_the_next_drill_stops_and_removes()
    {
        using var process = PgVaultCli.Start(["--config", fixture.ConfigFile, "drill", "--backup", fixture.PhysicalBackup, "--target", "latest"]);
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        string pidFile = await WaitForScratchServerAsync(process);
        process.Kill(entireProcessTree: false); // SIGKILL: no clean-up runs
        await process.WaitForExitAsync();
        string leftover = Path.GetDirectoryName(Path.GetDirectoryName(pidFile))!;
        int postmaster = await WaitForPostmasterPidAsync(pidFile);
        Assert.True(Directory.Exists(leftover));
        Assert.True(Directory.Exists($"/proc/{postmaster}"), "the scratch server should outlive the killed drill");

        var next = await fixture.RunAsync("drill", "--backup", fixture.LogicalBackup);
        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.Contains("did not finish", next.Stderr);
        Assert.False(Directory.Exists(leftover));
        Assert.False(File.Exists(leftover + ".json"));
        for (int i = 0; i < 100 && Directory.Exists($"/proc/{postmaster}") && !IsZombie(postmaster); i++) await Task.Delay(100);
        Assert.True(!Directory.Exists($"/proc/{postmaster}") || IsZombie(postmaster), "the leftover scratch server still runs");
        fixture.AssertNoScratchLeft();
    }

    [Fact]
    public async Task Into_cluster_drill_restores_into_scratch_databases_on_the_server_and_drops_them()
    {
        var result = await fixture.RunAsync("drill", "--backup", fixture.LogicalBackup, "--into-cluster", "--output", "json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("passed", result.Json.GetProperty("result").GetString());
        Assert.Equal("cluster", result.Json.GetProperty("place").GetString());
        Assert.Contains(result.Json.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == "orders-present" && c.GetProperty("result").GetString() == "passed");
        Assert.Equal(0L, await fixture.ScalarAsync<long>("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgvault_drill_%'"));
        fixture.AssertNoScratchLeft();
    }

    [Fact]
    public async Task A_drill_interrupted_with_sigint_stops_its_scratch_server_and_removes_the_scratch_place()
    {
        using var process = PgVaultCli.Start(["--config", fixture.ConfigFile, "drill", "--backup", fixture.PhysicalBackup, "--target", "latest"]);
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        string pidFile = await WaitForScratchServerAsync(process);
        int postmaster = await WaitForPostmasterPidAsync(pidFile);
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {await stderr}");
        Assert.False(Directory.Exists(Path.GetDirectoryName(Path.GetDirectoryName(pidFile))), await stderr);
        for (int i = 0; i < 100 && Directory.Exists($"/proc/{postmaster}") && !IsZombie(postmaster); i++) await Task.Delay(100);
        Assert.True(!Directory.Exists($"/proc/{postmaster}") || IsZombie(postmaster), "the scratch server still runs");
        fixture.AssertNoScratchLeft();
    }

    private async Task<string> WaitForScratchServerAsync(Process process)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120) && !process.HasExited, "the drill never started its scratch server");
            if (Directory.Exists(fixture.ScratchDir)
                && Directory.GetDirectories(fixture.ScratchDir, "drill-*").Select(d => Path.Combine(d, "data", "postmaster.pid")).FirstOrDefault(File.Exists) is { } found)
                return found;
            await Task.Delay(20);
        }
    }

    private static async Task<int> WaitForPostmasterPidAsync(string pidFile)
    {
        for (int i = 0; ; i++)
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault()?.Trim(), out int pid)) return pid;
            Assert.True(i < 100, "no postmaster.pid");
            await Task.Delay(50);
        }
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}

/// <summary>
/// The cluster of <see cref="DrillTests"/>: database shop with 200 orders (analysed, so the backups
/// record estimates), a logical backup of it, a physical full backup, more rows, a restore point
/// and more rows again, everything archived. Drills put their scratch places under Root/scratch;
/// the configuration holds one check (orders present).
/// </summary>
public sealed class DrillFixture : PhysicalFixture
{
    public string ScratchDir => Path.Combine(Root, "scratch");

    protected override string ExtraClusterYaml => base.ExtraClusterYaml +
        $"    drills:\n      scratch_dir: {ScratchDir}\n      checks:\n" +
        "        - name: orders-present\n          sql: select count(*) from orders\n          expect: \"> 0\"\n          database: shop\n";

    public string LogicalBackup { get; private set; } = "";
    public string PhysicalBackup { get; private set; } = "";
    public DateTimeOffset PhysicalStop { get; private set; }

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CreateDatabaseAsync("shop");
        await ExecAsync("shop", "CREATE TABLE orders (id int PRIMARY KEY, amount numeric NOT NULL); INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 200) g; ANALYZE orders");
        var logical = await RunAsync("backup", "--type", "logical", "--db", "shop", "--output", "json");
        if (logical.ExitCode != 0) throw new InvalidOperationException(logical.ToString());
        LogicalBackup = logical.Json.GetProperty("id").GetString()!;
        PhysicalBackup = await BackupAsync("full");
        var info = await RunAsync("info", PhysicalBackup, "--output", "json");
        PhysicalStop = DateTimeOffset.Parse(info.Json.GetProperty("physical").GetProperty("stop_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        for (int i = 0; i < 20; i++) await ExecAsync("shop", $"INSERT INTO orders VALUES ({1000 + i}, 1)");
        var point = await RunAsync("restore-point", "drill-point");
        if (point.ExitCode != 0) throw new InvalidOperationException(point.ToString());
        for (int i = 0; i < 20; i++) await ExecAsync("shop", $"INSERT INTO orders VALUES ({2000 + i}, 1)");
        await ArchiveEverythingAsync();
    }

    /// <summary>No drill directory (nor marker) is left in the scratch directory.</summary>
    public void AssertNoScratchLeft()
    {
        if (!Directory.Exists(ScratchDir)) return;
        Assert.Empty(Directory.GetFileSystemEntries(ScratchDir));
    }
}
