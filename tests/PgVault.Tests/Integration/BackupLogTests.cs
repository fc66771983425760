using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>A cluster with two small databases; the backup_log table lives in its postgres database.</summary>
public sealed class BackupLogFixture : ClusterFixture
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CreateDatabaseAsync("shop");
        await ExecAsync("shop", "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000)");
        await CreateDatabaseAsync("crm");
        await ExecAsync("crm", "CREATE TABLE people (id int); INSERT INTO people VALUES (1)");
    }
}

/// <summary>clusters.NAME.catalog_table: the seed's backup_log written by real backups, a failed backup and verify.</summary>
public sealed class BackupLogTests(BackupLogFixture db) : IClassFixture<BackupLogFixture>
{
    [Fact]
    public async Task Backups_a_failed_backup_and_verify_are_rows_the_seeds_queries_read()
    {
        using var ws = new Workspace(db, extraClusterYaml: $"    catalog_table: {{connection: \"{db.ConnectionString}\", table: ops.backup_log}}\n");
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "shop", "--db", "crm");
        var failed = await ws.RunAsync("backup", "--db", "nosuchdb");
        Assert.NotEqual(0, failed.ExitCode);
        await ws.OkAsync("verify");

        // The seed's query of recent backups, as written.
        var recent = await RowsAsync("""
            SELECT database_name, backup_type, backup_file, backup_size, status
            FROM ops.backup_log
            WHERE start_time > now() - interval '1 day' AND backup_type NOT IN ('verify', 'drill')
            ORDER BY start_time DESC, database_name
            """);
        Assert.Contains($"crm|logical|{id}|", recent[1] + "|");
        Assert.Contains(recent, r => r.StartsWith($"shop|logical|{id}|", StringComparison.Ordinal) && r.EndsWith("|SUCCESS", StringComparison.Ordinal));
        Assert.Contains("nosuchdb|logical|||FAILED", recent);
        Assert.All(recent.Where(r => r.EndsWith("|SUCCESS", StringComparison.Ordinal)), r => Assert.True(long.Parse(r.Split('|')[3]) > 0, r));

        // The seed's query of failed backups: the error is there too.
        var errors = await RowsAsync("SELECT database_name, error_message FROM ops.backup_log WHERE status = 'FAILED' ORDER BY start_time DESC");
        var error = Assert.Single(errors);
        Assert.StartsWith("nosuchdb|database-not-found: ", error);

        // The queries of docs/alerts.md, verbatim but for the table name.
        Assert.Equal(4, (await RowsAsync("""
            SELECT database_name, backup_type, backup_file, pg_size_pretty(backup_size), start_time, end_time - start_time AS duration, status
            FROM ops.backup_log WHERE start_time > now() - interval '7 days' ORDER BY start_time DESC
            """)).Count);
        Assert.Single(await RowsAsync("SELECT database_name, backup_type, start_time, error_message FROM ops.backup_log WHERE status = 'FAILED' ORDER BY start_time DESC"));

        // PgVault's additions: stored size and repository on backups, a verify row per backup.
        Assert.Equal(2, await db.ScalarAsync<long>("postgres", $"SELECT count(*) FROM ops.backup_log WHERE backup_file = '{id}' AND stored_size > 0 AND repository = 'local' AND end_time >= start_time"));
        Assert.Equal(1, await db.ScalarAsync<long>("postgres", $"SELECT count(*) FROM ops.backup_log WHERE backup_type = 'verify' AND backup_file = '{id}' AND status = 'SUCCESS'"));
    }

    [Fact]
    public async Task An_unreachable_backup_log_is_a_warning_and_the_backup_still_succeeds()
    {
        using var ws = new Workspace(db, extraClusterYaml: "    catalog_table: {connection: \"host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2\"}\n");
        await ws.InitAsync();
        var run = await ws.RunAsync("backup", "--db", "crm");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("pgvault: warning: unable to write 1 row(s) to pgvault.backup_log (catalog_table of cluster 'main')", run.Stderr);
        Assert.Single((await ws.OkAsync("list", "--output", "json")).Json.EnumerateArray());
    }

    private async Task<List<string>> RowsAsync(string sql)
    {
        await using var connection = db.Open();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        return rows;
    }
}
