using PgVault.Core.Pipeline;
using Xunit;
using static PgVault.Tests.Unit.Pipeline.PipelineTestData;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>Unencrypted objects rely on the manifest's size and SHA-256 (and the codec's own checks).</summary>
public sealed class PlainCorruptionTests
{
    private static readonly byte[] Data = [.. PgbenchText(300_000), .. RandomBytes(100_000, 11), .. PgbenchText(100_000, 5000)];

    public static TheoryData<string> Specs() => new() { "none", "zstd:3", "lz4", "gzip:6" };

    [Theory]
    [MemberData(nameof(Specs))]
    public async Task A_flipped_byte_is_corrupt(string specText)
    {
        CompressionSpec spec = CompressionSpec.Parse(specText);
        (byte[] stored, PipelineResult result) = await StoreAsync(Data, spec, null);

        var positions = new SortedSet<int> { 0, 1, 4, 5, 9, 20, stored.Length / 3, stored.Length / 2, stored.Length - 9, stored.Length - 5, stored.Length - 1 };
        var random = new Random(1);
        for (int i = 0; i < 40; i++)
        {
            positions.Add(random.Next(stored.Length));
        }

        foreach (int position in positions)
        {
            foreach (byte mask in (byte[])[0x01, 0x40])
            {
                byte[] damaged = (byte[])stored.Clone();
                damaged[position] ^= mask;
                await AssertCorruptAsync(damaged, spec.Type, null, result.SourceSha256, result.SourceBytes, async: position % 2 == 0);
            }
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
