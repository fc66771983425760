using PgVault.Core.Config;
using PgVault.Core.PostgreSql;
using PgVault.Core.Streaming;
using PgVault.Core.Wal;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>The pure parts of wal-stream: where received WAL lands, names, timeline switches, backoff, the spool.</summary>
public sealed class WalStreamUnitTests
{
    private const long Segment = 16L << 20;

    [Fact]
    public void A_chunk_crossing_a_segment_boundary_is_split_there()
    {
        ulong start = 3 * (ulong)Segment - 100;
        var pieces = StreamMath.Split(start, 300, Segment);
        Assert.Equal(2, pieces.Count);
        Assert.Equal(new StreamMath.Piece(2, Segment - 100, 0, 100), pieces[0]);
        Assert.Equal(new StreamMath.Piece(3, 0, 100, 200), pieces[1]);
    }

    [Fact]
    public void A_chunk_inside_a_segment_is_one_piece_at_its_offset()
    {
        var piece = Assert.Single(StreamMath.Split(0x1_0300_0028UL, 8192, Segment));
        Assert.Equal(WalSegments.SegmentOf(0x1_0300_0028UL, Segment), piece.Segment);
        Assert.Equal(0x28, piece.Offset);
        Assert.Equal(0x1_0300_0000UL, StreamMath.SegmentStart(0x1_0300_0028UL, Segment));
    }

    [Fact]
    public void Partial_and_history_names_are_those_of_pg_receivewal()
    {
        Assert.Equal("0000000200000001000000FF.partial", StreamMath.PartialName(2, 0x1FF, Segment));
        Assert.Equal(WalFileKind.Partial, WalFileName.TryParse(StreamMath.PartialName(2, 0x1FF, Segment))!.Kind);
        Assert.Equal("0000000A.history", StreamMath.HistoryName(10));
    }

    [Fact]
    public void The_end_of_a_timeline_and_its_successor_come_from_the_newest_history()
    {
        var spans = TimelineHistory.Spans(3, "1\t0/3025708\tno recovery target specified\n2\t0/5000000\tafter promotion\n");
        Assert.Equal((0x3025708UL, 2u), StreamMath.SwitchOf(spans, 1));
        Assert.Equal((0x5000000UL, 3u), StreamMath.SwitchOf(spans, 2));
        Assert.Null(StreamMath.SwitchOf(spans, 3));
        Assert.Null(StreamMath.SwitchOf(spans, 7));
    }

    [Fact]
    public void Reconnection_backoff_doubles_to_its_limit()
    {
        var backoff = TimeSpan.Zero;
        var seen = new List<double>();
        for (int i = 0; i < 7; i++) seen.Add((backoff = StreamMath.NextBackoff(backoff, TimeSpan.FromSeconds(30))).TotalSeconds);
        Assert.Equal([1, 2, 4, 8, 16, 30, 30], seen);
    }

    [Fact]
    public void The_default_slot_name_is_a_valid_slot_name()
    {
        Assert.Equal("pgvault_main", StreamingConfig.DefaultName("main"));
        Assert.Equal("pgvault_prod_eu_1", StreamingConfig.DefaultName("Prod-EU-1"));
        Assert.True(ConfigLoader.IsSlotName(StreamingConfig.DefaultName("Prod-EU-1")));
        Assert.False(ConfigLoader.IsSlotName("Bad-Name"));
    }

    [Fact]
    public void The_spool_completes_a_segment_renames_it_and_refuses_a_second_holder()
    {
        const long small = 1 << 16; // a tiny "segment" keeps the test fast
        string dir = Path.Combine(Directory.CreateTempSubdirectory("pgvault-spool-").FullName, "stream");
        try
        {
            using (var spool = WalSpool.Open(dir, small))
            {
                var error = Assert.Throws<PgVault.Core.Errors.PgVaultException>(() => WalSpool.Open(dir, small));
                Assert.Equal(PgVault.Core.Errors.ErrorCode.StreamerRunning, error.Code);
                ulong start = 5 * (ulong)small;
                Assert.Empty(spool.Write(1, start, new byte[small - 10]));
                string partial = Path.Combine(dir, StreamMath.PartialName(1, 5, small));
                Assert.True(File.Exists(partial));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(partial));
                var done = spool.Write(1, start + (ulong)small - 10, new byte[20]);
                Assert.Equal(Path.Combine(dir, WalSegments.Name(1, 5, small)), Assert.Single(done));
                Assert.False(File.Exists(partial));
                Assert.Equal(start + (ulong)small + 10, spool.Sync());
                Assert.Equal([done[0]], spool.CompletedSegments());
                Assert.Single(spool.Partials());
                // The end of timeline 1 inside segment 6: the partial is cut there and zero-filled to the segment size.
                string? last = spool.FinishTimeline(1, start + (ulong)small + 4);
                Assert.NotNull(last);
                byte[] bytes = File.ReadAllBytes(last);
                Assert.Equal(small, bytes.Length);
            }
            using var again = WalSpool.Open(dir, small); // released on dispose
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true);
        }
    }

    [Fact]
    public void A_new_timelines_first_segment_may_start_with_its_parents_page_header()
    {
        // PostgreSQL copies the old segment up to the switch point into the new timeline's file, so
        // 000000020000000000000003 begins with a page of timeline 1; archive-push refused it.
        var parent = new WalSegmentHeader(WalSegmentHeader.MagicByMajor[15], 1, 0x3000000, 7, (uint)Segment, 8192);
        Assert.Null(WalArchive.HeaderProblem(parent, WalFileName.TryParse("000000020000000000000003")!, Segment));
        var newer = parent with { Timeline = 3 };
        Assert.NotNull(WalArchive.HeaderProblem(newer, WalFileName.TryParse("000000020000000000000003")!, Segment));
        var elsewhere = parent with { PageAddress = 0x4000000 };
        Assert.NotNull(WalArchive.HeaderProblem(elsewhere, WalFileName.TryParse("000000020000000000000003")!, Segment));
    }
}
