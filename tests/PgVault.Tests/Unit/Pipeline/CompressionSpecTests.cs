using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit.Pipeline;

public sealed class CompressionSpecTests
{
    [Theory]
    [InlineData("zstd", CompressionType.Zstd, 3, "zstd:3", "zst")]
    [InlineData("zstd:1", CompressionType.Zstd, 1, "zstd:1", "zst")]
    [InlineData("zstd:19", CompressionType.Zstd, 19, "zstd:19", "zst")]
    [InlineData("ZSTD:7", CompressionType.Zstd, 7, "zstd:7", "zst")]
    [InlineData(" zstd:3 ", CompressionType.Zstd, 3, "zstd:3", "zst")]
    [InlineData("lz4", CompressionType.Lz4, 0, "lz4", "lz4")]
    [InlineData("lz4:0", CompressionType.Lz4, 0, "lz4", "lz4")]
    [InlineData("lz4:9", CompressionType.Lz4, 9, "lz4:9", "lz4")]
    [InlineData("lz4:12", CompressionType.Lz4, 12, "lz4:12", "lz4")]
    [InlineData("gzip", CompressionType.Gzip, 6, "gzip:6", "gz")]
    [InlineData("gzip:1", CompressionType.Gzip, 1, "gzip:1", "gz")]
    [InlineData("gzip:9", CompressionType.Gzip, 9, "gzip:9", "gz")]
    [InlineData("none", CompressionType.None, 0, "none", "raw")]
    public void Parse_accepts_valid_forms(string text, CompressionType type, int level, string canonical, string extension)
    {
        CompressionSpec spec = CompressionSpec.Parse(text);

        Assert.Equal(type, spec.Type);
        Assert.Equal(level, spec.Level);
        Assert.Equal(canonical, spec.ToString());
        Assert.Equal(extension, spec.FileExtension);
        Assert.Equal(spec, CompressionSpec.Parse(spec.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("zstd:")]
    [InlineData("zstd:0")]
    [InlineData("zstd:20")]
    [InlineData("zstd:-1")]
    [InlineData("zstd:+3")]
    [InlineData("zstd:3.0")]
    [InlineData("zstd:abc")]
    [InlineData("zstd:3:1")]
    [InlineData("lz4:13")]
    [InlineData("lz4:-1")]
    [InlineData("gzip:0")]
    [InlineData("gzip:10")]
    [InlineData("none:0")]
    [InlineData("brotli")]
    [InlineData("xz:6")]
    [InlineData("zst")]
    public void Parse_rejects_bad_values_naming_value_and_allowed_forms(string text)
    {
        var ex = Assert.Throws<PgVaultException>(() => CompressionSpec.Parse(text));

        Assert.Equal(ErrorKind.Usage, ex.Kind);
        Assert.Contains($"'{text}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("zstd:1..19", ex.Message, StringComparison.Ordinal);
        Assert.Contains("gzip:1..9", ex.Message, StringComparison.Ordinal);
        Assert.Contains("lz4:0..12", ex.Message, StringComparison.Ordinal);
        Assert.Contains("none", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zstd", CompressionType.Zstd)]
    [InlineData("lz4", CompressionType.Lz4)]
    [InlineData("gzip", CompressionType.Gzip)]
    [InlineData("none", CompressionType.None)]
    public void ParseType_round_trips_manifest_names(string name, CompressionType type)
    {
        Assert.Equal(type, CompressionSpec.ParseType(name));
        Assert.Equal(name, CompressionSpec.TypeName(type));
    }

    [Theory]
    [InlineData("zstd:3")]
    [InlineData("bzip2")]
    [InlineData("")]
    public void ParseType_rejects_unknown_names(string name)
    {
        var ex = Assert.Throws<PgVaultException>(() => CompressionSpec.ParseType(name));
        Assert.Contains($"'{name}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_is_zstd_3()
    {
        Assert.Equal("zstd:3", CompressionSpec.Default.ToString());
    }

    [Fact]
    public void Out_of_range_levels_built_by_hand_are_refused_when_opening_a_stream()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Compression.CompressTo(Stream.Null, new CompressionSpec(CompressionType.Zstd, 40), leaveOpen: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => ObjectPipeline.OpenWrite(Stream.Null, new CompressionSpec(CompressionType.Gzip, 0), null));
    }
}
