using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using PgVault.Core.Physical;
using PgVault.Core.PostgreSql;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>An archiving cluster with data checksums (hint bits are WAL-logged) and compressed full-page images.</summary>
public sealed class WalBlockMapFixture : PhysicalFixture
{
    protected override IReadOnlyDictionary<string, string> ExtraSettings => new Dictionary<string, string>(base.ExtraSettings)
    {
        ["wal_compression"] = "pglz",
    };
}

/// <summary>
/// Incrementals that read only the blocks the WAL lists (docs/physical-backups.md, "Incrementals
/// from WAL"): the record reader on WAL of a real cluster, and incrementals after pgbench and a
/// varied workload taken with --verify-block-map (every vouched file is also scanned page by page
/// and the backup fails if a page changed that the WAL did not list: the WAL set must be a
/// superset of the page-hash changes), restored, started and compared table by table.
/// </summary>
public sealed class WalBlockMapTests(WalBlockMapFixture fixture) : IClassFixture<WalBlockMapFixture>
{
    private string Port => fixture.Cluster.Port.ToString(CultureInfo.InvariantCulture);

    private Task Pgbench(string db, params string[] args) =>
        fixture.Cluster.RunToolAsync("pgbench", [.. args, "-h", fixture.Cluster.SocketDir, "-p", Port, "-U", "postgres", db], CancellationToken.None);

    /// <summary>The pagila sample in shared/data beside the repository (the work tree's or CI's clone).</summary>
    private static string Pagila
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "data", "pagila");
                if (File.Exists(Path.Combine(candidate, "pagila-data.sql"))) return candidate;
            }
            throw new InvalidOperationException("shared/data/pagila not found beside the repository");
        }
    }

    [Fact]
    public async Task The_record_reader_follows_real_WAL_across_pages_and_segments_and_lists_every_block_of_an_index_build()
    {
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS reader_t (id int, tags int[], pad text)");
        string from = await fixture.ScalarAsync<string>("postgres", "SELECT pg_current_wal_insert_lsn()::text");
        await fixture.ExecAsync("postgres", "CHECKPOINT");
        // Full-page images with holes (pglz-compressed), records far longer than a page and, over
        // 24 MiB of them, records that start in one segment and end in the next.
        await fixture.ExecAsync("postgres", "INSERT INTO reader_t SELECT g, ARRAY[g % 100, g % 7], repeat('p', 50) FROM generate_series(1, 20000) g; CHECKPOINT; " +
            "UPDATE reader_t SET pad = 'q' WHERE id % 50 = 0; " +
            "SELECT count(pg_logical_emit_message(false, 'pgvault', repeat('m', 200000))) FROM generate_series(1, 120); " +
            "CREATE INDEX reader_gin ON reader_t USING gin (tags)");
        string to = await fixture.ScalarAsync<string>("postgres", "SELECT pg_current_wal_insert_lsn()::text");
        string table = await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('reader_t')");
        string index = await fixture.ScalarAsync<string>("postgres", "SELECT pg_relation_filepath('reader_gin')");
        long indexBlocks = await fixture.ScalarAsync<long>("postgres", "SELECT pg_relation_size('reader_gin') / 8192");
        long tableBlocks = await fixture.ScalarAsync<long>("postgres", "SELECT pg_relation_size('reader_t') / 8192");
        long segmentSize = 16L << 20;
        string wal = Path.Combine(fixture.Cluster.DataDir, "pg_wal");

        var reader = new WalRecordReader(n =>
        {
            string path = Path.Combine(wal, WalSegments.Name(1, n, segmentSize));
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }, segmentSize, 1);
        var records = reader.Read(Lsn.ParseLsn(from), Lsn.ParseLsn(to)).Select(r => (r.Lsn, r.MainData.Length, r.Blocks.ToList(), r.ResourceManager)).ToList();
        var map = new WalBlockMap();
        foreach (var r in reader.Read(Lsn.ParseLsn(from), Lsn.ParseLsn(to))) map.Add(r);

        Assert.True(records.Count > 1000, $"{records.Count} records");
        Assert.Contains(records, r => r.Length > 200000); // a logical message: DATA_LONG over 25 pages
        Assert.Contains(records.Zip(records.Skip(1)), p => p.First.Lsn / (ulong)segmentSize != p.Second.Lsn / (ulong)segmentSize && p.Second.Lsn % (ulong)segmentSize != 40);
        Assert.Null(map.Unusable);
        Assert.Null(map.For(index)); // created in the range (SMGR create): not vouched for, scanned
        uint indexNode = uint.Parse(Path.GetFileName(index), CultureInfo.InvariantCulture);
        var indexBlocksInWal = records.SelectMany(r => r.Item3).Where(b => b.Relation == indexNode && b.Fork == 0).Select(b => b.Block).Distinct().Order();
        Assert.Equal(Enumerable.Range(0, (int)indexBlocks).Select(b => (uint)b), indexBlocksInWal); // log_newpage_range: every page of the build
        var tableListed = map.For(table);
        Assert.NotNull(tableListed);
        Assert.Equal(Enumerable.Range(0, (int)tableBlocks).Select(b => (uint)b), tableListed); // every page was inserted into
    }

    [Fact]
    public async Task Incrementals_after_pgbench_and_a_varied_workload_list_every_changed_page_and_restore_to_the_same_tables()
    {
        await fixture.ExecAsync("postgres", "DROP DATABASE IF EXISTS bench");
        await fixture.ExecAsync("postgres", "DROP DATABASE IF EXISTS pagila");
        await fixture.CreateDatabaseAsync("bench");
        await Pgbench("bench", "-i", "-s", "3", "-q");
        await fixture.CreateDatabaseAsync("pagila");
        await fixture.LoadFileAsync("pagila", Path.Combine(Pagila, "pagila-schema.sql"));
        await fixture.LoadFileAsync("pagila", Path.Combine(Pagila, "pagila-data.sql"));
        await fixture.ExecAsync("bench", "CREATE TABLE work (id int PRIMARY KEY, v text, big text, arr int[], pt point); " +
            "INSERT INTO work SELECT g, md5(g::text), CASE WHEN g % 500 = 0 THEN repeat(md5(g::text), 400) END, ARRAY[g % 10, g % 13], point(g % 97, g % 89) FROM generate_series(1, 40000) g; " +
            "CREATE TABLE victim AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g; CREATE INDEX victim_id ON victim (id); " +
            "CREATE TABLE doomed AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g");
        string full = await fixture.BackupAsync("full");

        // pgbench, then indexes of several kinds, VACUUM (FULL), TRUNCATE, CLUSTER, TOAST, pagila changes, new databases.
        await Pgbench("bench", "-n", "-c", "2", "-t", "300");
        // One statement per call: VACUUM and CREATE DATABASE refuse to run in a multi-statement batch.
        foreach (var sql in new[]
        {
            "UPDATE work SET v = v || 'u' WHERE id % 37 = 0", "DELETE FROM work WHERE id % 101 = 0",
            "UPDATE work SET big = repeat(md5(id::text), 300) WHERE id % 997 = 0",
            "CREATE INDEX work_v ON work (v)", "CREATE INDEX work_hash ON work USING hash (id)", "CREATE INDEX work_gin ON work USING gin (arr)",
            "CREATE INDEX work_gist ON work USING gist (pt)", "CREATE INDEX work_brin ON work USING brin (id)", "CREATE INDEX work_spgist ON work USING spgist (pt)",
            "VACUUM work", "VACUUM FULL victim", "TRUNCATE doomed", "INSERT INTO doomed SELECT g, 'again' FROM generate_series(1, 1000) g",
            "CLUSTER victim USING victim_id", "VACUUM pgbench_accounts",
        })
            await fixture.ExecAsync("bench", sql);
        foreach (var sql in new[]
        {
            "UPDATE film SET rental_rate = rental_rate + 1 WHERE film_id % 3 = 0", "DELETE FROM payment WHERE payment_id % 11 = 0",
            "UPDATE rental SET return_date = return_date + interval '1 day' WHERE rental_id % 5 = 0", "VACUUM ANALYZE",
        })
            await fixture.ExecAsync("pagila", sql);
        await fixture.ExecAsync("postgres", "DROP DATABASE IF EXISTS copied_fc");
        await fixture.ExecAsync("postgres", "DROP DATABASE IF EXISTS copied_wl");
        await fixture.ExecAsync("postgres", "CREATE DATABASE copied_fc TEMPLATE template1 STRATEGY file_copy");
        await fixture.ExecAsync("postgres", "CREATE DATABASE copied_wl TEMPLATE template1 STRATEGY wal_log");
        await fixture.ExecAsync("copied_wl", "CREATE TABLE w AS SELECT g FROM generate_series(1, 50000) g");

        var incr = await fixture.RunAsync("backup", "--type", "incr", "--verify-block-map", "--output", "json");
        Assert.True(incr.ExitCode == 0, incr.ToString());
        var map = incr.Json.GetProperty("wal_block_map");
        Assert.True(map.GetProperty("used").GetBoolean(), incr.ToString());
        Assert.True(map.GetProperty("verified").GetBoolean());
        Assert.True(map.GetProperty("files").GetInt32() >= 1, incr.ToString()); // pgbench_accounts at least

        // A second incremental on the first: deltas from the map on deltas from the map.
        await Pgbench("bench", "-n", "-c", "2", "-t", "200");
        await fixture.ExecAsync("pagila", "UPDATE customer SET active = 1 - active WHERE customer_id % 4 = 0");
        var incr2 = await fixture.RunAsync("backup", "--type", "incr", "--verify-block-map");
        Assert.True(incr2.ExitCode == 0, incr2.ToString());
        Assert.Contains("changed pages:", incr2.Stdout);
        Assert.Contains("blocks the WAL lists", incr2.Stdout);
        string id = (await fixture.RunAsync("list", "--output", "json")).Json.EnumerateArray().Last().GetProperty("id").GetString()!;

        var databases = new[] { "bench", "pagila", "copied_fc", "copied_wl", "postgres" };
        var before = new Dictionary<string, string>();
        foreach (var db in databases) before[db] = await TablesFingerprintAsync(fixture.Open(db));

        string dir = fixture.NewRestoreDir("walmap");
        var restore = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--target", "immediate", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        var verify = Process.Start(new ProcessStartInfo("/usr/lib/postgresql/15/bin/pg_verifybackup", ["--no-parse-wal", dir]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string verifyOutput = await verify.StandardOutput.ReadToEndAsync() + await verify.StandardError.ReadToEndAsync();
        await verify.WaitForExitAsync();
        Assert.True(verify.ExitCode == 0, verifyOutput);
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        foreach (var db in databases)
        {
            var builder = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = db };
            await using var connection = new NpgsqlConnection(builder.ConnectionString);
            await connection.OpenAsync();
            Assert.Equal(before[db], await TablesFingerprintAsync(connection));
        }
    }

    /// <summary>Every user table of a database: name, row count and md5 of its rows in a fixed order.</summary>
    internal static async Task<string> TablesFingerprintAsync(NpgsqlConnection connection)
    {
        await using (connection)
        {
            var tables = new List<string>();
            await using (var list = new NpgsqlCommand("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", connection))
            await using (var reader = await list.ExecuteReaderAsync())
                while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
            var parts = new List<string>();
            foreach (var table in tables)
            {
                await using var cmd = new NpgsqlCommand($"SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t", connection);
                parts.Add(table + "=" + (string)(await cmd.ExecuteScalarAsync())!);
            }
            return string.Join("\n", parts);
        }
    }
}
