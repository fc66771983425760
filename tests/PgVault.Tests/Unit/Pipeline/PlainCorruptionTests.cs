using PgVault.Core.Pipeline;
using Xunit;
using static PgVault.Tests.Unit.Pipeline.PipelineTestData;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>Unencrypted objects rely on the manifest's size and SHA-256 (and the codec's own checks).</summary>
public sealed class PlainCorruptionTests
{
    private static readonly byte[] Data = [.. PgbenchText(300_000), .. RandomBytes(100_000, 11), .. PgbenchText(100_000, 5000)];

    public static TheoryData<string> Specs() => new() { "none", "zstd:3", "lz4", "gzip:6" };

    /// <summary>
    /// A flip that changes the content must be reported. Some flips in compressed data change
    /// nothing that matters — gzip's mtime/OS header bytes, a zstd window-size bit, an LZ4 match
    /// offset that points at identical bytes — and then the content read back must be exactly the
    /// original; they must stay rare.
    /// </summary>
    [Theory]
    [MemberData(nameof(Specs))]
    public async Task A_flipped_byte_is_corrupt_unless_the_content_is_unchanged(string specText)
    {
        CompressionSpec spec = CompressionSpec.Parse(specText);
        (byte[] stored, PipelineResult result) = await StoreAsync(Data, spec, null);

        var positions = new SortedSet<int> { 0, 1, 2, 10, 20, stored.Length / 3, stored.Length / 2, stored.Length - 9, stored.Length - 5, stored.Length - 1 };
        var random = new Random(1);
        for (int i = 0; i < 60; i++)
        {
            positions.Add(random.Next(stored.Length));
        }

        int cases = 0;
        var benign = new List<string>();
        foreach (int position in positions)
        {
            foreach (byte mask in (byte[])[0x01, 0x40])
            {
                byte[] damaged = (byte[])stored.Clone();
                damaged[position] ^= mask;
                cases++;
                try
                {
                    byte[] content = await LoadAsync(damaged, spec.Type, null, result.SourceSha256, result.SourceBytes, async: position % 2 == 0);
                    Assert.Equal(Data, content);
                    benign.Add($"{position}^0x{mask:x2}");
                }
                catch (Core.Errors.PgVaultException ex)
                {
                    Assert.StartsWith($"corrupt object '{ObjectKey}': ", ex.Message, StringComparison.Ordinal);
                }
            }
        }

        if (spec.Type == CompressionType.None)
        {
            Assert.Empty(benign);
        }

        Assert.True(benign.Count * 10 < cases, $"{benign.Count} of {cases} flips went unnoticed: {string.Join(", ", benign)}");
    }

    [Theory]
    [InlineData("zstd:3", 100)]
    [InlineData("lz4", 5000)]
    [InlineData("gzip:6", 20)]
    public async Task A_flipped_byte_inside_a_literal_run_is_corrupt(string specText, int offset)
    {
        // Random bytes do not compress: all codecs store them as literals, where every bit counts.
        byte[] data = RandomBytes(200_000, 12);
        CompressionSpec spec = CompressionSpec.Parse(specText);
        (byte[] stored, PipelineResult result) = await StoreAsync(data, spec, null);

        foreach (int position in (int[])[offset, stored.Length / 2, stored.Length - 1000])
        {
            byte[] damaged = (byte[])stored.Clone();
            damaged[position] ^= 0x08;
            await AssertCorruptAsync(damaged, spec.Type, null, result.SourceSha256, result.SourceBytes);
        }
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public async Task Truncation_and_trailing_garbage_are_corrupt(string specText)
    {
        CompressionSpec spec = CompressionSpec.Parse(specText);
        (byte[] stored, PipelineResult result) = await StoreAsync(Data, spec, null);

        foreach (int length in (int[])[0, 1, 10, stored.Length / 2, stored.Length - 1])
        {
            await AssertCorruptAsync(stored[..length], spec.Type, null, result.SourceSha256, result.SourceBytes);
        }

        byte[] longer = [.. stored, .. "garbage"u8];
        await AssertCorruptAsync(longer, spec.Type, null, result.SourceSha256, result.SourceBytes);
    }

    /// <summary>
    /// .NET's GZipStream returns a clean, short end for a truncated gzip stream; the pipeline's own
    /// trailer check must catch it even when the manifest gives no size or checksum.
    /// </summary>
    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Zstd)]
    [InlineData(CompressionType.Lz4)]
    public async Task Truncation_is_detected_without_expected_values(CompressionType type)
    {
        (byte[] stored, _) = await StoreAsync(Data, new CompressionSpec(type, type == CompressionType.Lz4 ? 0 : 3), null);

        for (int cut = 1; cut <= 12; cut++)
        {
            await AssertCorruptAsync(stored[..^cut], type, null, null, null);
        }

        await AssertCorruptAsync(stored[..(stored.Length / 2)], type, null, null, null);
        await AssertCorruptAsync([.. stored, .. "garbage"u8], type, null, null, null);
    }

    [Fact]
    public async Task Size_and_checksum_mismatches_are_named()
    {
        (byte[] stored, PipelineResult result) = await StoreAsync(Data, CompressionSpec.Parse("zstd"), null);

        string tooSmall = await AssertCorruptAsync(stored, CompressionType.Zstd, null, null, result.SourceBytes + 1);
        Assert.EndsWith($"size mismatch: expected {result.SourceBytes + 1} bytes, got {result.SourceBytes}", tooSmall, StringComparison.Ordinal);

        string tooBig = await AssertCorruptAsync(stored, CompressionType.Zstd, null, null, 1000);
        Assert.Contains("size mismatch: expected 1000 bytes, got at least", tooBig, StringComparison.Ordinal);

        string checksum = await AssertCorruptAsync(stored, CompressionType.Zstd, null, new string('0', 64), result.SourceBytes);
        Assert.EndsWith("checksum mismatch", checksum, StringComparison.Ordinal);

        // Upper-case hex in a manifest still matches.
        Assert.Equal(Data, await LoadAsync(stored, CompressionType.Zstd, null, result.SourceSha256.ToUpperInvariant(), result.SourceBytes));
    }

    [Theory]
    [InlineData(CompressionType.Zstd)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Gzip)]
    public async Task Garbage_is_reported_as_cannot_decompress(CompressionType type)
    {
        byte[] garbage = RandomBytes(10_000, 5);

        string message = await AssertCorruptAsync(garbage, type, null, null, null);
        Assert.Contains("cannot decompress: ", message, StringComparison.Ordinal);
    }
}
