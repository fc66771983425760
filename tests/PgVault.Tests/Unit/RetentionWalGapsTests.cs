using PgVault.Core.Retention;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>The WAL continuity check expire runs after it removed WAL (RetentionStore.Gaps).</summary>
public sealed class RetentionWalGapsTests
{
    private static List<WalObject> Segments(uint log, uint from, uint to) =>
        Enumerable.Range((int)from, (int)(to - from + 1)).Select(s => $"00000001{log:X8}{s:X8}").Select(n => new WalObject($"wal/{n}-0123456789abcdef.lz4", n, 100)).ToList();

    [Fact]
    public void Small_segments_past_the_256th_of_a_log_are_not_a_gap()
    {
        // initdb --wal-segsize=1: 4096 segments per log file; a listing that has not yet left log 0
        // goes on from ...000000FF to ...00000100 in the same log.
        Assert.Empty(RetentionStore.Gaps(Segments(0, 0x20, 0x1A0), "0000000000000020"));
    }

    [Fact]
    public void A_missing_segment_inside_a_log_and_across_a_log_boundary_is_a_gap()
    {
        var wal = Segments(0, 0xF0, 0xFF).Concat(Segments(1, 0, 5)).Where(o => !o.FileName.EndsWith("00000003", StringComparison.Ordinal)).ToList();
        Assert.Equal(["0000000100000003..0000000100000003"], RetentionStore.Gaps(wal, "00000000000000F0"));
        var cut = Segments(0, 0xF0, 0xFE).Concat(Segments(1, 0, 0xFF)).Concat(Segments(2, 0, 1)).ToList(); // ...FF of log 0 missing; log 1 shows 256 per log
        Assert.Equal(["00000000000000FF..00000000000000FF"], RetentionStore.Gaps(cut, "00000000000000F0"));
    }
}
