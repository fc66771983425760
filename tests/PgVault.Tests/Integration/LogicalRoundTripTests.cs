using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// backup -> restore -> query, for every pg_dump format, plain and encrypted: the restored database
/// dumps (pg_dump, plain) to exactly the text of its source.
/// </summary>
public sealed class LogicalRoundTripTests(AllObjectsFixture db) : IClassFixture<AllObjectsFixture>
{
    [Theory]
    [InlineData("custom", false, 1)]
    [InlineData("custom", true, 2)]
    [InlineData("directory", false, 2)]
    [InlineData("directory", true, 1)]
    [InlineData("tar", false, 1)]
    [InlineData("tar", true, 1)]
    [InlineData("plain", false, 1)]
    [InlineData("plain", true, 1)]
    public async Task Restored_database_dumps_to_the_same_text(string format, bool encrypted, int restoreJobs)
    {
        using var ws = new Workspace(db, encrypted);
        await ws.InitAsync();
        var backupArgs = new List<string> { "--db", AllObjectsFixture.Source, "--format", format };
        if (format == "directory") backupArgs.AddRange(["--jobs", "2"]);
        string id = await ws.BackupAsync([.. backupArgs]);

        string target = $"rt_{format}_{(encrypted ? "enc" : "plain")}";
        var restore = await ws.OkAsync(["restore", "--backup", id, "--db", target, "--jobs", restoreJobs.ToString(), "--output", "json"]);
        Assert.Equal(target, restore.Json.GetProperty("target_database").GetString());
        Assert.True(restore.Json.GetProperty("created_database").GetBoolean());

        Assert.Equal(db.SourceDump, await db.DumpTextAsync(target));
        Assert.Equal(20000L, await db.ScalarAsync<long>(target, "SELECT count(*) FROM app.measurements"));

        if (encrypted)
        {
            // Nothing of the data is readable in the repository.
            foreach (var file in ws.BackupFiles())
            {
                string text = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(file));
                Assert.DoesNotContain("CREATE TABLE", text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Restore_without_db_creates_a_new_database_and_names_it()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string id = await ws.BackupAsync("--db", AllObjectsFixture.Source);
        var restore = await ws.OkAsync("restore", "--backup", "latest");
        string line = restore.Stdout.Trim();
        Assert.Contains($"of backup {id} into database src_restored_", line, StringComparison.Ordinal);
        string target = line[(line.IndexOf("into database ", StringComparison.Ordinal) + "into database ".Length)..].Split(' ')[0];
        Assert.True(await db.DatabaseExistsAsync(target));
        Assert.Equal(db.SourceDump, await db.DumpTextAsync(target));
    }

    [Fact]
    public async Task List_and_info_describe_the_backup()
    {
        using var ws = new Workspace(db, encrypted: true);
        await ws.InitAsync();
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        string id = await ws.BackupAsync("--db", AllObjectsFixture.Source, "--db", "postgres", "--globals", "roles", "--compression", "lz4");

        var list = await ws.OkAsync("list", "--output", "json");
        var entry = Assert.Single(list.Json.EnumerateArray());
        Assert.Equal(id, entry.GetProperty("id").GetString());
        Assert.Equal("logical", entry.GetProperty("type").GetString());
        Assert.Equal("main", entry.GetProperty("cluster").GetString());
        Assert.Equal(["src", "postgres"], entry.GetProperty("databases").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal("complete", entry.GetProperty("status").GetString());
        Assert.True(entry.GetProperty("started_at").GetDateTimeOffset() >= before);
        Assert.True(entry.GetProperty("finished_at").GetDateTimeOffset() >= entry.GetProperty("started_at").GetDateTimeOffset());
        Assert.True(entry.GetProperty("size_bytes").GetInt64() > 100_000);
        Assert.InRange(entry.GetProperty("stored_bytes").GetInt64(), 1, entry.GetProperty("size_bytes").GetInt64());
        Assert.True(entry.GetProperty("encrypted").GetBoolean());
        Assert.Equal("lz4", entry.GetProperty("compression").GetString());

        var info = await ws.OkAsync("info", id, "--output", "json");
        var dbs = info.Json.GetProperty("databases");
        Assert.Equal("custom", dbs[0].GetProperty("format").GetString());
        Assert.StartsWith("15.", dbs[0].GetProperty("pg_dump_version").GetString(), StringComparison.Ordinal);
        Assert.Matches("^[0-9a-f]{64}$", dbs[0].GetProperty("files")[0].GetProperty("sha256").GetString()!);
        Assert.Equal("roles", info.Json.GetProperty("globals").GetProperty("scope").GetString());
        Assert.StartsWith("15.", info.Json.GetProperty("server").GetProperty("version").GetString(), StringComparison.Ordinal);

        var text = await ws.OkAsync("info", "latest");
        Assert.Contains(id, text.Stdout, StringComparison.Ordinal);
        Assert.Contains("database src: custom format", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ids_sort_by_time_and_latest_is_the_newest()
    {
        using var ws = new Workspace(db);
        await ws.InitAsync();
        string first = await ws.BackupAsync("--db", "postgres");
        string second = await ws.BackupAsync("--db", "postgres");
        Assert.True(string.CompareOrdinal(first, second) < 0, $"{first} should sort before {second}");
        Assert.Equal([first, second], await ws.ListIdsAsync());
        var info = await ws.OkAsync("info", "latest", "--output", "json");
        Assert.Equal(second, info.Json.GetProperty("id").GetString());
    }
}
