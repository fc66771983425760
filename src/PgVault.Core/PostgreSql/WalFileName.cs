using System.Globalization;

namespace PgVault.Core.PostgreSql;

/// <summary>What kind of file PostgreSQL hands to archive_command.</summary>
public enum WalFileKind
{
    /// <summary>A WAL segment: 24 hex digits (timeline, log, segment).</summary>
    Segment,
    /// <summary>A partial segment left at a timeline switch: SEGMENT.partial.</summary>
    Partial,
    /// <summary>A backup history file: SEGMENT.XXXXXXXX.backup.</summary>
    BackupHistory,
    /// <summary>A timeline history file: TTTTTTTT.history.</summary>
    TimelineHistory,
}

/// <summary>Names of files in pg_wal, as PostgreSQL forms them.</summary>
internal sealed record WalFileName(string Name, WalFileKind Kind)
{
    public const int SegmentNameLength = 24;

    /// <summary>The 24-hex-digit segment the file belongs to (null for timeline history files).</summary>
    public string? Segment => Kind == WalFileKind.TimelineHistory ? null : Name[..SegmentNameLength];

    /// <summary>Timeline the file belongs to.</summary>
    public uint Timeline => uint.Parse(Name.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>True for files that start with a WAL page header (segments and partial segments).</summary>
    public bool HasPageHeader => Kind is WalFileKind.Segment or WalFileKind.Partial;

    public static WalFileName? TryParse(string name)
    {
        if (name.Length == SegmentNameLength && IsHex(name)) return new WalFileName(name, WalFileKind.Segment);
        if (name.Length == SegmentNameLength + 8 && name.EndsWith(".partial", StringComparison.Ordinal) && IsHex(name[..SegmentNameLength]))
            return new WalFileName(name, WalFileKind.Partial);
        if (name.Length == SegmentNameLength + 16 && name[SegmentNameLength] == '.' && name.EndsWith(".backup", StringComparison.Ordinal)
            && IsHex(name[..SegmentNameLength]) && IsHex(name.Substring(SegmentNameLength + 1, 8)))
            return new WalFileName(name, WalFileKind.BackupHistory);
        if (name.Length == 16 && name.EndsWith(".history", StringComparison.Ordinal) && IsHex(name[..8]))
            return new WalFileName(name, WalFileKind.TimelineHistory);
        return null;
    }

    private static bool IsHex(string text) => text.All(char.IsAsciiHexDigitUpper) || text.All(c => char.IsAsciiDigit(c) || c is >= 'A' and <= 'F');
}
