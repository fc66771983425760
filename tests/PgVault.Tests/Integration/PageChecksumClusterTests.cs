using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using PgVault.Core.Physical;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// PageChecksum against pages a real PostgreSQL 15 (initdb --data-checksums) wrote: every page of
/// freshly checkpointed relation files verifies at its block number, and PostgreSQL's own
/// pg_checksum_page (pageinspect's page_checksum) agrees with Compute.
/// </summary>
public sealed partial class PageChecksumClusterTests(ClusterFixture db) : IClassFixture<ClusterFixture>
{
    private const string Database = "postgres";

    /// <summary>A table of ~440 heap pages (+ its primary key), autovacuum off, hint bits set, checkpointed: its files are at rest.</summary>
    private async Task<(string Heap, string Index, ulong LsnBefore)> CreateTableAsync(string name)
    {
        ulong before = await CurrentLsnAsync();
        await db.ExecAsync(Database, $"CREATE TABLE {name} (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = off)");
        await db.ExecAsync(Database, $"INSERT INTO {name} SELECT i, md5(i::text) || repeat('x', 100) FROM generate_series(1, 20000) i");
        await db.ExecAsync(Database, $"SELECT count(*) FROM {name}");
        await db.ExecAsync(Database, "CHECKPOINT");
        string heap = await db.ScalarAsync<string>(Database, $"SELECT pg_relation_filepath('{name}')");
        string index = await db.ScalarAsync<string>(Database, $"SELECT pg_relation_filepath('{name}_pkey')");
        return (Path.Combine(db.Cluster.DataDir, heap), Path.Combine(db.Cluster.DataDir, index), before);
    }

    private async Task<ulong> CurrentLsnAsync() =>
        (ulong)await db.ScalarAsync<long>(Database, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint");

    private static List<byte[]> Pages(string file)
    {
        byte[] bytes = File.ReadAllBytes(file);
        Assert.Equal(0, bytes.Length % PageChecksum.PageSize);
        return bytes.Chunk(PageChecksum.PageSize).ToList();
    }

    [Fact]
    public async Task Every_page_of_a_multi_page_table_and_its_index_verifies_at_its_block_number()
    {
        var (heapFile, indexFile, _) = await CreateTableAsync("t_verify");
        var heap = Pages(heapFile);
        var index = Pages(indexFile);
        Assert.True(heap.Count > 300, $"the table should span many pages, has {heap.Count}");
        Assert.True(index.Count > 40, $"the index should span many pages, has {index.Count}");
        foreach (var pages in new[] { heap, index })
        {
            for (int block = 0; block < pages.Count; block++)
            {
                Assert.False(PageChecksum.IsNew(pages[block]), $"block {block} is new");
                Assert.Equal(PageChecksum.Stored(pages[block]), PageChecksum.Compute(pages[block], (uint)block));
                Assert.True(PageChecksum.Verify(pages[block], (uint)block));
            }
        }
    }

    [GeneratedRegex(@"^\d+(_fsm|_vm|_init)?(\.(?<segment>\d+))?$")]
    private static partial Regex RelationFile();

    [Fact]
    public async Task Every_relation_file_of_the_database_verifies_catalogs_fsm_and_vm_included()
    {
        await CreateTableAsync("t_all");
        await db.ExecAsync(Database, "VACUUM t_all"); // writes its free space map and visibility map
        await db.ExecAsync(Database, "CHECKPOINT");
        uint oid = await db.ScalarAsync<uint>(Database, "SELECT oid FROM pg_database WHERE datname = current_database()");
        int files = 0, checksummed = 0;
        var failures = new List<string>();
        foreach (string file in Directory.GetFiles(Path.Combine(db.Cluster.DataDir, "base", oid.ToString(CultureInfo.InvariantCulture))))
        {
            var match = RelationFile().Match(Path.GetFileName(file));
            if (!match.Success) continue;
            files++;
            uint segment = match.Groups["segment"].Success ? uint.Parse(match.Groups["segment"].Value, CultureInfo.InvariantCulture) : 0;
            var pages = Pages(file);
            for (int i = 0; i < pages.Count; i++)
            {
                uint block = segment * PageChecksum.BlocksPerSegment + (uint)i;
                if (!PageChecksum.IsNew(pages[i])) checksummed++;
                if (!PageChecksum.Verify(pages[i], block)) failures.Add($"{Path.GetFileName(file)} block {block}");
            }
        }
        Assert.Empty(failures);
        Assert.True(files > 100, $"only {files} relation files");
        Assert.True(checksummed > 500, $"only {checksummed} checksummed pages");
    }

    [Fact]
    public async Task A_flipped_byte_or_a_wrong_block_number_fails_verification()
    {
        var (heapFile, _, _) = await CreateTableAsync("t_damage");
        var pages = Pages(heapFile);
        uint block = (uint)pages.Count / 2;
        byte[] page = pages[(int)block];
        Assert.True(PageChecksum.Verify(page, block));

        Assert.False(PageChecksum.Verify(page, block + 1));
        Assert.False(PageChecksum.Verify(page, block - 1));
        Assert.False(PageChecksum.Verify(page, block + PageChecksum.BlocksPerSegment));

        foreach (int offset in new[] { 3, 10, 6000, PageChecksum.PageSize - 1 })
        {
            byte[] damaged = (byte[])page.Clone();
            damaged[offset] ^= 0x04;
            Assert.False(PageChecksum.Verify(damaged, block), $"a flipped bit at offset {offset} went unnoticed");
        }
        Assert.True(PageChecksum.Verify(page, block)); // the copies were damaged, not the page
    }

    [Fact]
    public async Task Compute_agrees_with_postgres_page_checksum_on_real_and_random_pages()
    {
        var (heapFile, _, _) = await CreateTableAsync("t_oracle");
        await db.ExecAsync(Database, "CREATE EXTENSION IF NOT EXISTS pageinspect");
        var pages = Pages(heapFile);
        var random = new Random(4242);
        var cases = new List<(byte[] Page, int Block)>();
        for (int i = 0; i < 20; i++) cases.Add((pages[random.Next(pages.Count)], random.Next())); // real pages, any block number
        for (int i = 0; i < 20; i++)
        {
            var page = new byte[PageChecksum.PageSize];
            random.NextBytes(page);
            page[15] |= 0x10; // pd_upper != 0: page_checksum returns NULL for new pages
            cases.Add((page, i < 10 ? i : random.Next()));
        }

        await using var connection = db.Open(Database);
        foreach (var (page, block) in cases)
        {
            await using var command = new NpgsqlCommand("SELECT page_checksum(@page, @block)", connection);
            command.Parameters.AddWithValue("page", page);
            command.Parameters.AddWithValue("block", block);
            ushort expected = unchecked((ushort)(short)(await command.ExecuteScalarAsync())!);
            Assert.Equal(expected, PageChecksum.Compute(page, (uint)block));
        }
    }

    [Fact]
    public async Task Page_lsns_lie_between_the_insert_and_the_current_wal_position_and_match_page_header()
    {
        var (heapFile, _, before) = await CreateTableAsync("t_lsn");
        ulong now = await CurrentLsnAsync();
        await db.ExecAsync(Database, "CREATE EXTENSION IF NOT EXISTS pageinspect");
        var pages = Pages(heapFile);
        for (int block = 0; block < pages.Count; block++)
        {
            ulong lsn = PageChecksum.PageLsn(pages[block]);
            Assert.True(lsn > before && lsn <= now, $"block {block}: LSN {lsn:X} outside ({before:X}, {now:X}]");
        }
        foreach (int block in new[] { 0, pages.Count / 2, pages.Count - 1 })
        {
            ulong header = (ulong)await db.ScalarAsync<long>(Database, $"SELECT (lsn - '0/0'::pg_lsn)::bigint FROM page_header(get_raw_page('t_lsn', {block}))");
            Assert.Equal(header, PageChecksum.PageLsn(pages[block]));
        }
    }

    [Fact]
    public async Task A_zero_page_is_new_and_valid_but_a_real_page_with_pd_upper_cleared_is_not()
    {
        var (heapFile, _, _) = await CreateTableAsync("t_zero");
        var pages = Pages(heapFile);
        byte[] zero = new byte[PageChecksum.PageSize];
        Assert.True(PageChecksum.IsNew(zero));
        Assert.True(PageChecksum.Verify(zero, (uint)pages.Count));

        // The first page with pd_upper cleared: new, but not zero, so not valid.
        byte[] page = (byte[])pages[0].Clone();
        Assert.False(PageChecksum.IsNew(page));
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(14), 0);
        Assert.True(PageChecksum.IsNew(page));
        Assert.False(PageChecksum.Verify(page, 0));
    }
}
