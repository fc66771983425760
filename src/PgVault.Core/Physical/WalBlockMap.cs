using System.Buffers.Binary;
using System.Globalization;

namespace PgVault.Core.Physical;

/// <summary>
/// The blocks of each relation's main fork that WAL records changed between two positions (the
/// reference backup's start and this backup's start), and what the WAL cannot vouch for. Built
/// from <see cref="WalRecordReader"/> records the way pg_rewind reads WAL (parsexlog.c): block
/// references of the main fork; SMGR create/truncate and commits/aborts that drop relations make
/// those relations not vouched for; DBASE
/// records (create by either strategy, drop) make the whole database not vouched for; any other
/// record flagged XLR_SPECIAL_REL_UPDATE, or of a resource manager PostgreSQL 15 does not have
/// built in, makes the whole map unusable (<see cref="Unusable"/>). Other forks are never vouched
/// for: the free space map is not WAL-logged, and heap records clear visibility-map bits without
/// a block reference to the map page. Memory: one entry per changed block.
/// </summary>
internal sealed class WalBlockMap
{
    public const uint DefaultTablespace = 1663, GlobalTablespace = 1664;
    public const uint BlocksPerSegment = 131072; // RELSEG_SIZE: 1 GiB of 8 KiB blocks

    private const byte XlrSpecialRelUpdate = 0x01;
    private const byte RmXact = 1, RmSmgr = 2, RmDbase = 4, RmMaxBuiltin = 21;
    private const byte SmgrCreate = 0x10, SmgrTruncate = 0x20;
    private const byte DbaseCreateFileCopy = 0x00, DbaseCreateWalLog = 0x10, DbaseDrop = 0x20;

    private readonly Dictionary<(uint Spc, uint Db, uint Rel), HashSet<uint>> _blocks = [];
    private readonly HashSet<(uint Spc, uint Db, uint Rel)> _relations = [];
    private readonly HashSet<(uint Spc, uint Db)> _databases = [];

    /// <summary>Why the map cannot be used at all, or null.</summary>
    public string? Unusable { get; private set; }

    /// <summary>Records read and main-fork blocks listed (a block changed by several records counts once).</summary>
    public long Records { get; private set; }
    public long Blocks { get; private set; }

    public void Add(in WalRecord record)
    {
        Records++;
        byte kind = (byte)(record.Info & 0xF0);
        var data = record.MainData.Span;
        if (record.ResourceManager == RmSmgr)
        {
            // xl_smgr_create {RelFileNode rnode; ForkNumber forkNum}; xl_smgr_truncate {BlockNumber blkno; RelFileNode rnode; int flags}
            int at = kind == SmgrCreate ? 0 : kind == SmgrTruncate ? 4 : -1;
            if (at < 0 || data.Length < at + 12) { Refuse($"an SMGR record of kind 0x{kind:X2} at {PostgreSql.Lsn.FormatLsn(record.Lsn)}"); return; }
            _relations.Add((U32(data, at), U32(data, at + 4), U32(data, at + 8)));
        }
        else if (record.ResourceManager == RmDbase)
        {
            // create: {Oid db_id; Oid tablespace_id; ...}; drop: {Oid db_id; int ntablespaces; Oid tablespace_ids[]}
            if ((kind is DbaseCreateFileCopy or DbaseCreateWalLog) && data.Length >= 8) _databases.Add((U32(data, 4), U32(data, 0)));
            else if (kind == DbaseDrop && data.Length >= 8 && (int)U32(data, 4) is var n && n >= 0 && data.Length >= 8 + 4 * n)
                for (int i = 0; i < n; i++) _databases.Add((U32(data, 8 + 4 * i), U32(data, 0)));
            else Refuse($"a DBASE record of kind 0x{kind:X2} at {PostgreSql.Lsn.FormatLsn(record.Lsn)}");
        }
        else if (record.ResourceManager == RmXact && (record.Info & XlrSpecialRelUpdate) != 0)
        {
            // A commit or abort that drops relations: their files go (pg_rewind ignores these; a
            // relfilenode used again comes with an SMGR create). Withdrawn all the same.
            if (DroppedRelations(kind, record.Info, data) is { } dropped) _relations.UnionWith(dropped);
            else Refuse($"an XACT record of kind 0x{kind:X2} at {PostgreSql.Lsn.FormatLsn(record.Lsn)}");
        }
        else if (record.ResourceManager > RmMaxBuiltin)
        {
            Refuse($"a record of resource manager {record.ResourceManager} (not built into PostgreSQL 15) at {PostgreSql.Lsn.FormatLsn(record.Lsn)}");
        }
        else if ((record.Info & XlrSpecialRelUpdate) != 0)
        {
            Refuse($"a record of resource manager {record.ResourceManager} that changes relation files without block references at {PostgreSql.Lsn.FormatLsn(record.Lsn)}");
        }
        foreach (var block in record.Blocks)
        {
            if (block.Fork != 0) continue; // only the main fork is vouched for
            var key = (block.Tablespace, block.Database, block.Relation);
            if (!_blocks.TryGetValue(key, out var set)) _blocks[key] = set = [];
            if (set.Add(block.Block)) Blocks++;
        }
    }

    /// <summary>
    /// The relations a commit/abort (prepared or not) record drops (ParseCommitRecord /
    /// ParseAbortRecord of PostgreSQL 15: xact_time, then with XLOG_XACT_HAS_INFO the xinfo word,
    /// dbinfo, subxacts and relfilenodes in that order, packed); null when it is not such a record.
    /// </summary>
    internal static List<(uint, uint, uint)>? DroppedRelations(byte kind, byte info, ReadOnlySpan<byte> data)
    {
        if ((kind & 0x70) is not (0x00 or 0x20 or 0x30 or 0x40)) return null; // commit, abort, commit prepared, abort prepared
        int at = 8;
        uint xinfo = 0;
        if ((info & 0x80) != 0)
        {
            if (data.Length < at + 4) return null;
            xinfo = U32(data, at);
            at += 4;
        }
        if ((xinfo & 0x04) == 0) return null; // XACT_XINFO_HAS_RELFILENODES: the flag says there are some
        if ((xinfo & 0x01) != 0) at += 8; // dbinfo
        if ((xinfo & 0x02) != 0)
        {
            if (data.Length < at + 4) return null;
            at += 4 + 4 * (int)Math.Min(U32(data, at), 1u << 20);
        }
        if (data.Length < at + 4) return null;
        uint count = U32(data, at);
        at += 4;
        if (count > (uint)(data.Length - at) / 12) return null;
        var dropped = new List<(uint, uint, uint)>((int)count);
        for (int i = 0; i < count; i++, at += 12) dropped.Add((U32(data, at), U32(data, at + 4), U32(data, at + 8)));
        return dropped;
    }

    private void Refuse(string what) => Unusable ??= what + " is not understood";

    private static uint U32(ReadOnlySpan<byte> data, int at) => BinaryPrimitives.ReadUInt32LittleEndian(data[at..]);

    /// <summary>
    /// The changed blocks of the file at <paramref name="path"/> (relative to the data directory,
    /// block numbers within that 1 GiB segment file, ascending), or null when the WAL cannot vouch
    /// for it: not a relation's main fork, or its relation or database was created, truncated or
    /// dropped in the range.
    /// </summary>
    public uint[]? For(string path)
    {
        if (Unusable != null || Parse(path) is not { } file) return null;
        if (_databases.Contains((file.Spc, file.Db)) || _relations.Contains((file.Spc, file.Db, file.Rel))) return null;
        if (!_blocks.TryGetValue((file.Spc, file.Db, file.Rel), out var set)) return [];
        uint first = file.Segment * BlocksPerSegment;
        var list = new List<uint>();
        foreach (uint block in set)
            if (block >= first && block - first < BlocksPerSegment) list.Add(block - first);
        list.Sort();
        return [.. list];
    }

    /// <summary>
    /// The relation main-fork file a data-directory path names: base/DB/REL[.SEG] (tablespace
    /// 1663), global/REL[.SEG] (1664, database 0), pg_tblspc/SPC/PG_*/DB/REL[.SEG]; null for
    /// anything else (other forks, temporary relations, non-relation files).
    /// </summary>
    internal static (uint Spc, uint Db, uint Rel, uint Segment)? Parse(string path)
    {
        var parts = path.Split('/');
        (uint Spc, uint Db, string Name)? where = parts switch
        {
            ["base", var db, var name] when Oid(db) is { } d => (DefaultTablespace, d, name),
            ["global", var name] => (GlobalTablespace, 0, name),
            ["pg_tblspc", var spc, var version, var db, var name] when version.StartsWith("PG_", StringComparison.Ordinal)
                && Oid(spc) is { } s && Oid(db) is { } d => (s, d, name),
            _ => null,
        };
        if (where is not { } w) return null;
        string relation = w.Name;
        uint segment = 0;
        int dot = relation.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            if (Oid(relation[(dot + 1)..]) is not { } seg) return null;
            segment = seg;
            relation = relation[..dot];
        }
        return Oid(relation) is { } rel ? (w.Spc, w.Db, rel, segment) : null;
    }

    private static uint? Oid(string text) =>
        text.Length is > 0 and <= 10 && text.All(char.IsAsciiDigit) && uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint v) ? v : null;
}
