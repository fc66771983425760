using System.Globalization;
using PgVault.Core.Errors;

namespace PgVault.Core.PostgreSql;

/// <summary>
/// Segment arithmetic: the 24-hex-digit names (timeline, log, segment) and the segment number an
/// LSN falls in, for a given wal_segment_size.
/// </summary>
public static class WalSegments
{
    public static ulong SegmentOf(ulong lsn, long segmentSize) => lsn / (ulong)segmentSize;

    /// <summary>The segment holding the byte just before <paramref name="lsn"/> (PostgreSQL's XLByteToPrevSeg).</summary>
    public static ulong PreviousSegmentOf(ulong lsn, long segmentSize) => (lsn - 1) / (ulong)segmentSize;

    public static string Name(uint timeline, ulong segment, long segmentSize)
    {
        ulong perLog = 0x1_0000_0000UL / (ulong)segmentSize;
        return $"{timeline:X8}{segment / perLog:X8}{segment % perLog:X8}";
    }

    /// <summary>Timeline and segment number of a segment name (24 hex digits).</summary>
    public static (uint Timeline, ulong Segment) Parse(string name, long segmentSize)
    {
        if (name.Length < 24 || !ulong.TryParse(name.AsSpan(8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong log)
            || !ulong.TryParse(name.AsSpan(16, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong seg)
            || !uint.TryParse(name.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint tli))
            throw new PgVaultException(ErrorCode.WalDamaged, $"'{name}' is not a WAL segment name");
        return (tli, log * (0x1_0000_0000UL / (ulong)segmentSize) + seg);
    }
}

/// <summary>One timeline of a history: it runs from <see cref="Begin"/> (inclusive) to <see cref="End"/> (exclusive; ulong.MaxValue for the newest).</summary>
internal sealed record TimelineSpan(uint Timeline, ulong Begin, ulong End);

/// <summary>
/// Timeline history files (NNNNNNNN.history): one line per ancestor, "parentTLI switchpoint reason".
/// <see cref="Spans"/> turns a history into the ranges of WAL each timeline covers, oldest first.
/// </summary>
internal static class TimelineHistory
{
    public static List<TimelineSpan> Spans(uint timeline, string? historyContent)
    {
        var spans = new List<TimelineSpan>();
        ulong begin = 0;
        if (historyContent != null)
        {
            foreach (var raw in historyContent.Split('\n'))
            {
                string line = raw.Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                var parts = line.Split((char[])['\t', ' '], 3, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 2 || !uint.TryParse(parts[0], CultureInfo.InvariantCulture, out uint parent))
                    throw new PgVaultException(ErrorCode.WalDamaged, $"timeline history of timeline {timeline} is damaged: '{line}'");
                ulong end = PostgreSql.Lsn.ParseLsn(parts[1]);
                spans.Add(new TimelineSpan(parent, begin, end));
                begin = end;
            }
        }
        spans.Add(new TimelineSpan(timeline, begin, ulong.MaxValue));
        return spans;
    }
}
