using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>A database "shop" with three schemas and no cross-schema dependencies.</summary>
public sealed class ShopFixture : ClusterFixture
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecAsync("postgres", "CREATE ROLE pgv_globals_test NOLOGIN; CREATE ROLE pgv_lonely NOLOGIN; COMMENT ON ROLE pgv_lonely IS 'restored from globals'");
        await CreateDatabaseAsync("shop");
        await ExecAsync("shop", """
            CREATE TABLE customers (id int PRIMARY KEY, name text);
            INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 300) i;
            CREATE TABLE big_log (id bigint, line text);
            INSERT INTO big_log SELECT i, 'log ' || i FROM generate_series(1, 1000) i;
            CREATE SCHEMA sales;
            CREATE TABLE sales.orders (id int PRIMARY KEY, amount numeric);
            INSERT INTO sales.orders SELECT i, i * 2 FROM generate_series(1, 500) i;
            CREATE TABLE sales.lines (order_id int REFERENCES sales.orders, n int);
            INSERT INTO sales.lines SELECT i, 1 FROM generate_series(1, 500) i;
            CREATE FUNCTION sales.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.n := NEW.n + 1000; RETURN NEW; END $$;
            CREATE TRIGGER bump BEFORE INSERT ON sales.lines FOR EACH ROW EXECUTE FUNCTION sales.touch();
            CREATE SCHEMA archive;
            CREATE TABLE archive.old_orders (id int, amount numeric);
            INSERT INTO archive.old_orders SELECT i, i FROM generate_series(1, 200) i;
            GRANT SELECT ON customers TO pgv_globals_test;
            """);
        await CreateDatabaseAsync("other");
        await ExecAsync("other", "CREATE TABLE x (i int); INSERT INTO x VALUES (1), (2), (3)");
    }

    public Task<long> CountAsync(string db, string table) => ScalarAsync<long>(db, $"SELECT count(*) FROM {table}");

    public Task<bool> TableExistsAsync(string db, string table) => ScalarAsync<bool>(db, $"SELECT to_regclass('{table}') IS NOT NULL");
}

/// <summary>Include/exclude patterns, schema-only and data-only, on backup and on restore; --all and globals.</summary>
public sealed class SelectiveTests(ShopFixture db) : IClassFixture<ShopFixture>
{
    [Fact]
    public async Task Backup_of_one_schema_restores_only_that_schema()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "shop", "-n", "sales");
        await ws.OkAsync("restore", "--backup", id, "--db", "only_sales");
        Assert.Equal(500, await db.CountAsync("only_sales", "sales.orders"));
        Assert.False(await db.TableExistsAsync("only_sales", "public.customers"));
        Assert.False(await db.TableExistsAsync("only_sales", "archive.old_orders"));
    }

    [Fact]
    public async Task Excluded_schema_and_table_are_not_in_the_backup()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "shop", "-N", "archive", "-T", "public.big_*");
        await ws.OkAsync("restore", "--backup", id, "--db", "no_archive");
        Assert.Equal(300, await db.CountAsync("no_archive", "customers"));
        Assert.Equal(500, await db.CountAsync("no_archive", "sales.lines"));
        Assert.False(await db.TableExistsAsync("no_archive", "archive.old_orders"));
        Assert.False(await db.TableExistsAsync("no_archive", "public.big_log"));
        var info = await ws.OkAsync("info", id, "--output", "json");
        var options = info.Json.GetProperty("databases")[0].GetProperty("options").EnumerateArray().Select(o => o.GetString()).ToList();
        Assert.Contains("--exclude-schema=archive", options);
        Assert.Contains("--exclude-table=public.big_*", options);
    }

    [Fact]
    public async Task Schema_only_backup_then_data_only_backup_rebuild_the_database()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string schema = await ws.BackupAsync("--db", "shop", "--schema-only");
        string data = await ws.BackupAsync("--db", "shop", "--data-only");
        await ws.OkAsync("restore", "--backup", schema, "--db", "rebuilt");
        Assert.Equal(0, await db.CountAsync("rebuilt", "sales.orders"));
        await ws.OkAsync("restore", "--backup", data, "--db", "rebuilt");
        Assert.Equal(500, await db.CountAsync("rebuilt", "sales.orders"));
        // Triggers were disabled while loading: values are the dumped ones, not bumped again.
        Assert.Equal(500, await db.ScalarAsync<long>("rebuilt", "SELECT count(*) FROM sales.lines WHERE n = 1"));
        Assert.Equal(await db.DumpTextAsync("shop"), await db.DumpTextAsync("rebuilt"));
    }

    [Fact]
    public async Task Selective_restore_from_a_full_backup()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "shop");

        await ws.OkAsync("restore", "--backup", id, "--db", "just_customers", "-t", "customers");
        Assert.Equal(300, await db.CountAsync("just_customers", "customers"));
        Assert.False(await db.TableExistsAsync("just_customers", "public.big_log"));

        await ws.OkAsync("restore", "--backup", id, "--db", "just_sales", "-n", "sales", "--jobs", "2");
        Assert.Equal(500, await db.CountAsync("just_sales", "sales.lines"));
        Assert.False(await db.TableExistsAsync("just_sales", "public.customers"));

        await ws.OkAsync("restore", "--backup", id, "--db", "just_schema", "--schema-only");
        Assert.True(await db.TableExistsAsync("just_schema", "archive.old_orders"));
        Assert.Equal(0, await db.CountAsync("just_schema", "archive.old_orders"));
    }

    [Fact]
    public async Task All_databases_with_globals_and_restore_of_roles()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--all");
        var info = await ws.OkAsync("info", id, "--output", "json");
        var names = info.Json.GetProperty("databases").EnumerateArray().Select(d => d.GetProperty("name").GetString()).ToList();
        Assert.Contains("shop", names);
        Assert.Contains("other", names);
        Assert.Contains("postgres", names);
        Assert.DoesNotContain("template1", names);
        Assert.Equal("all", info.Json.GetProperty("globals").GetProperty("scope").GetString());

        var ambiguous = await ws.RunAsync("restore", "--backup", id, "--db", "x");
        Assert.Equal(2, ambiguous.ExitCode);
        Assert.Contains("holds several databases", ambiguous.Stderr, StringComparison.Ordinal);

        await ws.OkAsync("restore", "--backup", id, "--source-db", "other", "--db", "other_copy");
        Assert.Equal(3, await db.CountAsync("other_copy", "x"));

        // Roles: drop one, restore globals (existing roles such as postgres are not an error).
        await db.ExecAsync("postgres", "DROP ROLE pgv_lonely");
        var restored = await ws.OkAsync("restore", "--backup", id, "--globals", "--output", "json");
        Assert.True(restored.Json.GetProperty("globals_restored").GetBoolean());
        Assert.Equal("restored from globals", await db.ScalarAsync<string>("postgres",
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'pgv_lonely'"));
    }

    [Fact]
    public async Task Globals_only_backup_by_scope()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--globals", "roles");
        var info = await ws.OkAsync("info", id, "--output", "json");
        Assert.Equal(0, info.Json.GetProperty("databases").GetArrayLength());
        Assert.Equal("roles", info.Json.GetProperty("globals").GetProperty("scope").GetString());
        var noDb = await ws.RunAsync("restore", "--backup", id, "--db", "nothing");
        Assert.Equal(2, noDb.ExitCode);
        Assert.Contains("holds only cluster globals", noDb.Stderr, StringComparison.Ordinal);
        await ws.OkAsync("restore", "--backup", id, "--globals");
    }

    [Fact]
    public async Task Restore_of_a_table_or_schema_the_backup_lacks_fails_instead_of_restoring_nothing()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", "shop");

        var table = await ws.RunAsync("restore", "--backup", id, "--db", "typo_table", "-t", "custmers");
        Assert.Equal(1, table.ExitCode);
        Assert.Contains("custmers", table.Stderr, StringComparison.Ordinal);
        Assert.False(await db.DatabaseExistsAsync("typo_table"));

        var schema = await ws.RunAsync("restore", "--backup", id, "--db", "typo_schema", "-n", "sails", "--jobs", "2");
        Assert.Equal(1, schema.ExitCode);
        Assert.Contains("sails", schema.Stderr, StringComparison.Ordinal);
        Assert.False(await db.DatabaseExistsAsync("typo_schema"));

        // Into an existing empty database: the schema created for -n is dropped again.
        await db.CreateDatabaseAsync("typo_existing");
        var existing = await ws.RunAsync("restore", "--backup", id, "--db", "typo_existing", "-n", "sails");
        Assert.Equal(1, existing.ExitCode);
        Assert.True(await db.DatabaseExistsAsync("typo_existing"));
        Assert.False(await db.ScalarAsync<bool>("typo_existing", "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'sails')"));
        foreach (var r in new[] { table, schema, existing })
        {
            Assert.Single(r.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
            Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        }
    }
}
