using System.Buffers.Binary;
using PgVault.Core.Errors;
using PgVault.Core.Repository;
using PgVault.Core.Wal;
using Xunit;
using PgVault.Core.PostgreSql;

namespace PgVault.Tests.Unit;

public sealed class WalFileNameTests
{
    [Theory]
    [InlineData("000000010000000000000003", WalFileKind.Segment)]
    [InlineData("0000000200000001000000FF.partial", WalFileKind.Partial)]
    [InlineData("000000010000000000000003.00000028.backup", WalFileKind.BackupHistory)]
    [InlineData("00000002.history", WalFileKind.TimelineHistory)]
    public void Names_postgres_archives_are_recognised(string name, WalFileKind kind)
    {
        Assert.Equal(kind, WalFileName.TryParse(name)!.Kind);
    }

    [Theory]
    [InlineData("00000001000000000000003")]
    [InlineData("00000001000000000000000g")]
    [InlineData("000000010000000000000003.ready")]
    [InlineData("pgvault.yaml")]
    [InlineData("0000000Z.history")]
    public void Other_names_are_not(string name) => Assert.Null(WalFileName.TryParse(name));

    [Fact]
    public void Layout_puts_segments_under_timeline_and_log_and_history_at_the_top()
    {
        string sha = new('a', 64);
        Assert.Equal("clusters/c/wal/0000000100000002/000000010000000200000003-aaaaaaaaaaaaaaaa.lz4",
            RepositoryLayout.WalObject("c", "000000010000000200000003", sha, "lz4"));
        Assert.Equal("clusters/c/wal/00000002.history-aaaaaaaaaaaaaaaa.zst", RepositoryLayout.WalObject("c", "00000002.history", sha, "zst"));
        Assert.Equal(("aaaaaaaaaaaaaaaa", "lz4"), RepositoryLayout.ParseWalObject("c", "000000010000000200000003",
            "clusters/c/wal/0000000100000002/000000010000000200000003-aaaaaaaaaaaaaaaa.lz4"));
        Assert.Null(RepositoryLayout.ParseWalObject("c", "000000010000000200000003",
            "clusters/c/wal/0000000100000002/000000010000000200000003.partial-aaaaaaaaaaaaaaaa.lz4"));
    }

    [Fact]
    public void Segment_header_gives_system_identifier_and_size()
    {
        byte[] page = new byte[WalSegmentHeader.Size];
        BinaryPrimitives.WriteUInt16LittleEndian(page, 0xD110);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(2), 0x0002);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(24), 7312345678901234567UL);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(32), 16 * 1024 * 1024);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(36), 8192);
        var header = WalSegmentHeader.Parse(page, "seg");
        Assert.Equal(7312345678901234567UL, header.SystemIdentifier);
        Assert.Equal(16u * 1024 * 1024, header.SegmentSize);
        Assert.Equal(15, header.MajorVersion);

        page[2] = 0; // no long header
        Assert.Throws<PgVaultException>(() => WalSegmentHeader.Parse(page, "seg"));
        Assert.Throws<PgVaultException>(() => WalSegmentHeader.Parse(page.AsSpan(0, 20), "seg"));
    }
}
