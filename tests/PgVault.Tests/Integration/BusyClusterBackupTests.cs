using Npgsql;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// Backups of a busy cluster: a database of a few thousand relations while one session creates
/// and drops temporary tables in a tight loop and another creates and drops regular tables, so
/// relation files (and their directories' entries) vanish between listing, stat and open.
/// </summary>
public sealed class BusyClusterBackupTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    private const int Tables = 1500;

    [Fact]
    public async Task BusyCluster_FullAndIncrementalBackupsUnderTempTableChurn_AllSucceedAndTheLastRestoresEveryTable()
    {
        await fixture.CreateDatabaseAsync("busy");
        for (int from = 1; from <= Tables; from += 100)
        {
            // In batches: one transaction creating all of them would run out of lock slots.
            await fixture.ExecAsync("busy", $$"""
                DO $$ BEGIN
                  FOR i IN {{from}}..{{from + 99}} LOOP
                    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);
                    EXECUTE format('INSERT INTO t%s VALUES (1, ''x'')', i);
                  END LOOP;
                END $$
                """);
        }
        using var stop = new CancellationTokenSource();
        var churn = new[]
        {
            Task.Run(() => ChurnAsync("CREATE TEMP TABLE tmp_churn (id int PRIMARY KEY, v text); INSERT INTO tmp_churn SELECT g, 'x' FROM generate_series(1, 20) g; DROP TABLE tmp_churn", stop.Token)),
            Task.Run(() => ChurnAsync("CREATE TABLE churn (id int PRIMARY KEY, v text); INSERT INTO churn SELECT g, 'x' FROM generate_series(1, 20) g; DROP TABLE churn", stop.Token)),
        };
        var failures = new List<string>();
        string last = "";
        try
        {
            for (int i = 0; i < 20; i++)
            {
                string type = i % 5 == 0 ? "full" : "incr";
                var result = await fixture.RunAsync("backup", "--type", type, "--output", "json");
                if (result.ExitCode != 0) failures.Add($"backup {i + 1} ({type}): {result}");
                else last = result.Json.GetProperty("id").GetString()!;
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(churn);
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of 20 backups failed:\n" + string.Join("\n", failures));

        await fixture.ArchiveEverythingAsync();
        const string tablesSql = "SELECT count(*)::text || ' ' || md5(string_agg(relname, ',' ORDER BY relname)) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'";
        string primary = await fixture.ScalarAsync<string>("busy", tablesSql);
        Assert.StartsWith($"{Tables} ", primary, StringComparison.Ordinal);

        string dir = fixture.NewRestoreDir("busy");
        var restore = await fixture.RunAsync("restore", "--backup", last, "--pgdata", dir, "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = "busy" }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(tablesSql, connection);
        Assert.Equal(primary, (string)(await command.ExecuteScalarAsync())!);
        await using var sample = new NpgsqlCommand($"SELECT v FROM t{Tables}", connection);
        Assert.Equal("x", (string)(await sample.ExecuteScalarAsync())!);
    }

    /// <summary>Runs <paramref name="sql"/> over and over (hundreds of rounds a second) in one session of database busy until cancelled.</summary>
    private async Task ChurnAsync(string sql, CancellationToken ct)
    {
        await using var connection = fixture.Open("busy");
        while (!ct.IsCancellationRequested)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None);
            // A breath between rounds: two sessions spinning flat out would starve a two-core machine.
            await Task.Delay(5, CancellationToken.None);
        }
    }
}
