using PgVault.Core.Errors;
using PgVault.Core.Repository;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class BackupIdTests
{
    [Theory]
    [InlineData("20261123T143012Z-L", BackupKind.Logical)]
    [InlineData("20261123T143012Z-F", BackupKind.Full)]
    [InlineData("20261123T143012Z-D", BackupKind.Diff)]
    [InlineData("20261123T143012Z-I", BackupKind.Incr)]
    public void Parse_reads_the_start_second_and_the_kind(string text, BackupKind kind)
    {
        var id = BackupId.Parse(text);

        Assert.Equal(kind, id.Kind);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 14, 30, 12, TimeSpan.Zero), id.Start);
        Assert.Equal(text, id.ToString());
        Assert.Equal("20261123T143012Z", id.Stamp);
        Assert.Equal(text[^1], kind.Letter());
        Assert.True(BackupKinds.TryFromName(kind.Name(), out var named) && named == kind);
    }

    [Theory]
    [InlineData("20261123T143012Z-X")]
    [InlineData("20261123T143012Z_F")]
    [InlineData("20261323T143012Z-F")]
    [InlineData("20261123T143012-F")]
    [InlineData("latest")]
    [InlineData("")]
    public void Malformed_ids_are_a_usage_error(string text)
    {
        Assert.False(BackupId.IsValid(text));
        var e = Assert.Throws<PgVaultException>(() => BackupId.Parse(text));
        Assert.Equal(ErrorKind.Usage, e.Kind);
    }

    [Fact]
    public void Create_truncates_to_the_utc_second_and_ids_sort_by_time()
    {
        var id = BackupId.Create(new DateTimeOffset(2026, 1, 1, 1, 0, 5, 900, TimeSpan.FromHours(2)), BackupKind.Diff);

        Assert.Equal("20251231T230005Z-D", id.Text);
        Assert.True(id.CompareTo(BackupId.Create(id.Start.AddSeconds(1), BackupKind.Logical)) < 0);
    }

    [Fact]
    public void Manifest_kind_comes_from_its_type_or_for_an_old_manifest_its_id()
    {
        Assert.Equal(BackupKind.Diff, new BackupManifest { Id = "20261123T143012Z-D", Type = "diff" }.Kind);
        Assert.True(new BackupManifest { Id = "20261123T143012Z-I", Type = "" }.IsPhysical);
        Assert.False(new BackupManifest { Id = "20261123T143012Z-L" }.IsPhysical);
    }
}
