using PgVault.Core.Physical;
using PgVault.Core.Wal;
using Xunit;
using PgVault.Core.PostgreSql;

namespace PgVault.Tests.Unit;

/// <summary>What a physical backup copies from a data directory, on a fake one.</summary>
public sealed class DataDirectoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgvault-datadir-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Touch(string relative, int bytes = 10)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[bytes]);
    }

    [Fact]
    public void Leaves_out_what_postgresql_says_not_to_back_up_and_keeps_the_rest()
    {
        string[] kept =
        [
            "PG_VERSION", "postgresql.conf", "postgresql.auto.conf", "global/pg_control", "global/1262", "base/5/16384", "base/5/16384.1",
            "base/5/16384_fsm", "base/5/16384_vm", "base/5/16390_init", "pg_xact/0000", "pg_logical/replorigin_checkpoint", "log/postgresql.log",
        ];
        string[] left =
        [
            "postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map", "backup_manifest", "postgresql.auto.conf.tmp",
            "current_logfiles.tmp", "recovery.signal", "standby.signal", "pg_wal/000000010000000000000001", "pg_wal/archive_status/x.ready",
            "pg_replslot/slot/state", "pg_stat_tmp/global.stat", "pg_subtrans/0000", "pg_notify/0000", "pg_serial/0000", "pg_snapshots/x",
            "pg_dynshmem/x", "base/5/pg_internal.init", "global/pg_internal.init", "base/5/t3_16400", "base/5/t3_16400_fsm",
            "base/pgsql_tmp/pgsql_tmp123.0", "base/5/16390", "base/5/16390_fsm", "base/5/16390.2",
        ];
        foreach (var f in kept.Concat(left)) Touch(f);

        var (directories, files) = DataDirectory.Scan(_root, []);
        var paths = files.Select(f => f.Path).ToHashSet();
        foreach (var f in kept) Assert.Contains(f, paths);
        foreach (var f in left) Assert.DoesNotContain(f, paths);
        var dirs = directories.Select(d => d.Path).ToHashSet();
        foreach (var d in new[] { "pg_wal", "pg_wal/archive_status", "pg_replslot", "pg_stat_tmp", "pg_subtrans", "base/5", "global" }) Assert.Contains(d, dirs);
        Assert.DoesNotContain("pg_replslot/slot", dirs);
        Assert.DoesNotContain("base/pgsql_tmp", dirs);
    }

    [Fact]
    public void Tablespace_links_are_followed_and_other_links_kept_as_directories()
    {
        string elsewhere = Directory.CreateTempSubdirectory("pgvault-tblspc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(elsewhere, "PG_15_202209061", "5"));
            File.WriteAllBytes(Path.Combine(elsewhere, "PG_15_202209061", "5", "16500"), new byte[8192]);
            Directory.CreateDirectory(Path.Combine(_root, "pg_tblspc"));
            File.CreateSymbolicLink(Path.Combine(_root, "pg_tblspc", "16499"), elsewhere);
            Touch("PG_VERSION");

            var (directories, files) = DataDirectory.Scan(_root, []);
            var file = Assert.Single(files, f => f.Path.StartsWith("pg_tblspc/", StringComparison.Ordinal));
            Assert.Equal("pg_tblspc/16499/PG_15_202209061/5/16500", file.Path);
            Assert.Equal(8192, file.Size);
            Assert.Contains(directories, d => d.Path == "pg_tblspc/16499");
        }
        finally
        {
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [Fact]
    public void A_missing_data_directory_is_a_clear_error()
    {
        var e = Assert.Throws<PgVault.Core.Errors.PgVaultException>(() => DataDirectory.Scan(Path.Combine(_root, "nope"), []));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public async Task VanishingEntries_AreLeftOutNeverReadAsDirectoriesOrModeMinusOne()
    {
        // A database directory whose relation files and subdirectories are deleted and created
        // again in a tight loop (as temporary relations and dropped databases are) while it is
        // scanned: every scan succeeds and records no mode or size of -1.
        Touch("PG_VERSION");
        Touch("global/pg_control");
        var stop = new CancellationTokenSource();
        var churn = Task.Run(() =>
        {
            int round = 0;
            while (!stop.IsCancellationRequested)
            {
                string db = Path.Combine(_root, "base", (16384 + round % 3).ToString(System.Globalization.CultureInfo.InvariantCulture));
                for (int i = 0; i < 200; i++)
                {
                    Directory.CreateDirectory(Path.Combine(db, "sub" + (i % 5)));
                    File.WriteAllBytes(Path.Combine(db, (20000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture)), [1, 2, 3]);
                    File.WriteAllBytes(Path.Combine(db, "sub" + (i % 5), i.ToString(System.Globalization.CultureInfo.InvariantCulture)), [1]);
                }
                try
                {
                    Directory.Delete(db, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // the scan's own reads do not hold anything open, but stay tolerant
                }
                round++;
            }
        });
        try
        {
            int filesSeen = 0;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            // At least 400 scans, and on until some overlapped the churn (its task may start late on a busy machine).
            for (int scan = 0; (scan < 400 || filesSeen == 0) && watch.Elapsed < TimeSpan.FromSeconds(60); scan++)
            {
                var (directories, files) = DataDirectory.Scan(_root, []);
                Assert.All(directories, d => Assert.True(d.Mode >= 0, $"{d.Path} mode {d.Mode}"));
                Assert.All(files, f => Assert.True(f.Mode >= 0 && f.Size >= 0, $"{f.Path} mode {f.Mode} size {f.Size}"));
                filesSeen += files.Count(f => f.Path.StartsWith("base/", StringComparison.Ordinal));
            }
            Assert.True(filesSeen > 0, "the churn never overlapped a scan");
        }
        finally
        {
            stop.Cancel();
            await churn;
        }
    }

    [Theory]
    [InlineData("base/5/16384", 0)]
    [InlineData("base/5/16384.3", 3)]
    [InlineData("base/5/16384_fsm", 0)]
    [InlineData("global/1262", 0)]
    [InlineData("pg_tblspc/16499/PG_15_202209061/5/16500.12", 12)]
    [InlineData("pg_xact/0000", null)]
    [InlineData("base/5/PG_VERSION", null)]
    [InlineData("base/5/pg_filenode.map", null)]
    [InlineData("postgresql.conf", null)]
    public void Relation_segments_are_recognised(string path, int? segment) => Assert.Equal(segment, DataDirectory.RelationSegment(path));
}

public sealed class WalSegmentsTests
{
    [Theory]
    [InlineData(1u, 0x3UL, 16L << 20, "000000010000000000000003")]
    [InlineData(2u, 0x1FFUL, 16L << 20, "0000000200000001000000FF")]
    [InlineData(1u, 0x40UL, 64L << 20, "000000010000000100000000")]
    public void Names_and_numbers_round_trip(uint timeline, ulong segment, long size, string name)
    {
        Assert.Equal(name, WalSegments.Name(timeline, segment, size));
        Assert.Equal((timeline, segment), WalSegments.Parse(name, size));
    }

    [Fact]
    public void The_segment_of_an_lsn_and_the_one_before_a_boundary()
    {
        long size = 16L << 20;
        Assert.Equal(3UL, WalSegments.SegmentOf(0x3000028, size));
        Assert.Equal(2UL, WalSegments.PreviousSegmentOf(0x3000000, size));
        Assert.Equal(3UL, WalSegments.PreviousSegmentOf(0x3000001, size));
    }

    [Fact]
    public void A_history_becomes_the_span_of_each_timeline()
    {
        var spans = TimelineHistory.Spans(3, "1\t0/3000000\tno recovery target specified\n\n2\t0/50000A0\tat restore point \"x\"\n");
        Assert.Equal(
            [new TimelineSpan(1, 0, 0x3000000), new TimelineSpan(2, 0x3000000, 0x50000A0), new TimelineSpan(3, 0x50000A0, ulong.MaxValue)],
            spans);
        Assert.Equal([new TimelineSpan(1, 0, ulong.MaxValue)], TimelineHistory.Spans(1, null));
        Assert.Throws<PgVault.Core.Errors.PgVaultException>(() => TimelineHistory.Spans(2, "garbage line\n"));
    }
}

public sealed class PageHashesAndCrcTests
{
    [Fact]
    public void Crc32c_matches_the_standard_check_value_in_both_implementations()
    {
        var crc = new PgVault.Core.Physical.Crc32C();
        crc.Append("123456789"u8);
        Assert.Equal(0xE3069283u, crc.Value);
        Assert.Equal("839206e3", crc.Hex()); // the value's bytes in memory order, as backup_manifest writes it
        var split = new PgVault.Core.Physical.Crc32C();
        split.Append("1234"u8);
        split.Append("56789"u8);
        Assert.Equal(crc.Value, split.Value);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(4095)]
    [InlineData(12288 + 9)]
    [InlineData(1 << 20)]
    [InlineData((1 << 20) + 12345)]
    public void Crc32c_of_long_inputs_in_pieces_matches_the_bitwise_definition(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        uint expected = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            expected ^= b;
            for (int k = 0; k < 8; k++) expected = (expected & 1) != 0 ? 0x82F63B78 ^ (expected >> 1) : expected >> 1;
        }
        expected = ~expected;
        var whole = new PgVault.Core.Physical.Crc32C();
        whole.Append(data);
        Assert.Equal(expected, whole.Value);
        // In pieces of odd sizes, so the vectorized steps start anywhere.
        var pieces = new PgVault.Core.Physical.Crc32C();
        var random = new Random(length + 1);
        for (int at = 0; at < length;)
        {
            int take = Math.Min(length - at, random.Next(1, 40000));
            pieces.Append(data.AsSpan(at, take));
            at += take;
        }
        Assert.Equal(expected, pieces.Value);
    }

    [Fact]
    public void Page_hashes_round_trip_and_damage_is_reported()
    {
        var files = new Dictionary<string, (long Size, ulong[] Hashes)>
        {
            ["base/5/16384"] = (3 * 8192 + 100, [1UL, ulong.MaxValue, 42UL, 7UL]),
            ["base/5/16384.1"] = (8192, [99UL]),
        };
        byte[] bytes = PageHashes.Serialize(files);
        var back = PageHashes.Deserialize(bytes, "k");
        Assert.Equal(2, back.Count);
        Assert.Equal(files["base/5/16384"].Hashes, back["base/5/16384"].Hashes);
        Assert.Equal(3 * 8192 + 100, back["base/5/16384"].Size);
        Assert.Equal(4, PageHashes.PageCount(3 * 8192 + 100));
        var e = Assert.Throws<PgVault.Core.Errors.PgVaultException>(() => PageHashes.Deserialize(bytes.AsSpan(0, bytes.Length - 3), "k"));
        Assert.Contains("corrupt object 'k'", e.Message);
    }
}
