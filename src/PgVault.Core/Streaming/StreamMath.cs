using PgVault.Core.PostgreSql;

namespace PgVault.Core.Streaming;

/// <summary>The pure arithmetic of streaming: where a chunk of WAL lands in segment files, partial names, timeline switches, backoff.</summary>
internal static class StreamMath
{
    /// <summary>The first LSN of the segment holding <paramref name="lsn"/>.</summary>
    public static ulong SegmentStart(ulong lsn, long segmentSize) => lsn - lsn % (ulong)segmentSize;

    /// <summary>The byte offset of <paramref name="lsn"/> in its segment file.</summary>
    public static long Offset(ulong lsn, long segmentSize) => (long)(lsn % (ulong)segmentSize);

    /// <summary>One piece of a received chunk: its segment, the offset in that segment's file, and where it is in the chunk.</summary>
    public readonly record struct Piece(ulong Segment, long Offset, int From, int Count);

    /// <summary>
    /// Splits the chunk of <paramref name="length"/> bytes starting at <paramref name="start"/> at segment
    /// boundaries (the server may send a chunk that crosses one).
    /// </summary>
    public static List<Piece> Split(ulong start, int length, long segmentSize)
    {
        var pieces = new List<Piece>(2);
        int from = 0;
        while (from < length)
        {
            ulong lsn = start + (ulong)from;
            long offset = Offset(lsn, segmentSize);
            int count = (int)Math.Min(length - from, segmentSize - offset);
            pieces.Add(new Piece(WalSegments.SegmentOf(lsn, segmentSize), offset, from, count));
            from += count;
        }
        return pieces;
    }

    /// <summary>The spool (and archive) name of a segment still being written, as pg_receivewal and Barman name it: SEGMENT.partial.</summary>
    public static string PartialName(uint timeline, ulong segment, long segmentSize) => WalSegments.Name(timeline, segment, segmentSize) + ".partial";

    /// <summary>The history file of <paramref name="timeline"/>: TTTTTTTT.history.</summary>
    public static string HistoryName(uint timeline) => $"{timeline:X8}.history";

    /// <summary>
    /// Where <paramref name="timeline"/> ends in the history of a newer timeline (its spans, oldest
    /// first) and which timeline follows it; null when the history does not contain it or it is the newest.
    /// </summary>
    public static (ulong End, uint Next)? SwitchOf(IReadOnlyList<TimelineSpan> spans, uint timeline)
    {
        for (int i = 0; i + 1 < spans.Count; i++)
        {
            if (spans[i].Timeline == timeline) return (spans[i].End, spans[i + 1].Timeline);
        }
        return null;
    }

    /// <summary>The next reconnection delay: doubled, at most <paramref name="max"/>.</summary>
    public static TimeSpan NextBackoff(TimeSpan current, TimeSpan max) =>
        current <= TimeSpan.Zero ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(Math.Min(current.Ticks * 2, max.Ticks));
}
