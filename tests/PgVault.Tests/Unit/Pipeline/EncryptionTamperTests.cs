using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using Xunit;
using static PgVault.Tests.Unit.Pipeline.PipelineTestData;

namespace PgVault.Tests.Unit.Pipeline;

/// <summary>Every kind of damage to an encrypted object must be reported as a corrupt object.</summary>
public sealed class EncryptionTamperTests
{
    // Uncompressed plaintext of 3 full frames + 1000 bytes gives a predictable layout:
    // header [0, 40), frame i at 40 + i * 65557 (flag, 4-byte length, ciphertext, 16-byte tag).
    private const int Header = 40;
    private const int FrameBytes = 1 + 4 + 65536 + 16;
    private const int PlainLength = (3 * 65536) + 1000;
    private const int FinalFrame = Header + (3 * FrameBytes);
    private const int StoredLength = FinalFrame + 5 + 1000 + 16;

    private static readonly byte[] Data = RandomBytes(PlainLength, 7);
    private static readonly Lazy<byte[]> Stored = new(() => StoreAsync(Data, CompressionSpec.None, Key()).GetAwaiter().GetResult().Stored);

    [Fact]
    public void Layout_is_as_documented()
    {
        Assert.Equal(StoredLength, Stored.Value.Length);
        Assert.Equal(0, Stored.Value[Header]); // frame 0: more follow
        Assert.Equal(1, Stored.Value[FinalFrame]); // final
        Assert.Equal([0, 0, 0x03, 0xe8], Stored.Value[(FinalFrame + 1)..(FinalFrame + 5)]);
    }

    [Theory]
    [InlineData(0, "bad header")] // magic
    [InlineData(7, "bad header")] // version
    [InlineData(8, "authentication failed (wrong key or damaged data) at frame 0")] // salt
    [InlineData(39, "authentication failed (wrong key or damaged data) at frame 0")] // salt
    [InlineData(Header, "at frame 0")] // flag of frame 0
    [InlineData(Header + 2, "bad frame header at frame 0")] // length of frame 0
    [InlineData(Header + 5, "authentication failed (wrong key or damaged data) at frame 0")] // first ciphertext byte
    [InlineData(Header + 30_000, "authentication failed (wrong key or damaged data) at frame 0")]
    [InlineData(Header + FrameBytes - 16, "authentication failed (wrong key or damaged data) at frame 0")] // tag
    [InlineData(Header + FrameBytes - 1, "authentication failed (wrong key or damaged data) at frame 0")] // tag
    [InlineData(Header + FrameBytes + 500, "authentication failed (wrong key or damaged data) at frame 1")]
    [InlineData(FinalFrame, "bad frame header at frame 3")] // final flag
    [InlineData(FinalFrame + 4, "frame 3")] // final length: 1001 (runs past the end) or 104 (fails authentication)
    [InlineData(FinalFrame + 5 + 999, "authentication failed (wrong key or damaged data) at frame 3")]
    [InlineData(StoredLength - 1, "authentication failed (wrong key or damaged data) at frame 3")] // last tag byte
    public async Task A_flipped_bit_anywhere_is_corrupt(int position, string detail)
    {
        foreach (byte mask in (byte[])[0x01, 0x80])
        {
            byte[] damaged = (byte[])Stored.Value.Clone();
            damaged[position] ^= mask;

            string message = await AssertCorruptAsync(damaged, CompressionType.None, Key(), null, null);
            Assert.Contains(detail, message, StringComparison.Ordinal);
            await AssertDecryptingStreamFailsAsync(damaged, Key());
        }
    }

    [Theory]
    [InlineData(0, "bad header")]
    [InlineData(1, "bad header")]
    [InlineData(39, "bad header")]
    [InlineData(Header, "truncated: no final frame")]
    [InlineData(Header + 3, "truncated: no final frame")]
    [InlineData(Header + 100, "truncated: no final frame")]
    [InlineData(Header + FrameBytes, "truncated: no final frame")] // exactly at a frame boundary
    [InlineData(Header + (2 * FrameBytes), "truncated: no final frame")]
    [InlineData(FinalFrame, "truncated: no final frame")]
    [InlineData(StoredLength - 16, "truncated: no final frame")]
    [InlineData(StoredLength - 1, "truncated: no final frame")]
    public async Task Truncation_is_corrupt(int length, string detail)
    {
        byte[] truncated = Stored.Value[..length];

        string message = await AssertCorruptAsync(truncated, CompressionType.None, Key(), null, null, async: length % 2 == 0);
        Assert.Contains(detail, message, StringComparison.Ordinal);
        await AssertDecryptingStreamFailsAsync(truncated, Key());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(FrameBytes)]
    public async Task Trailing_data_after_the_final_frame_is_corrupt(int extra)
    {
        byte[] longer = [.. Stored.Value, .. new byte[extra]];

        string message = await AssertCorruptAsync(longer, CompressionType.None, Key(), null, null);
        Assert.Contains("trailing data after final frame", message, StringComparison.Ordinal);
        await AssertDecryptingStreamFailsAsync(longer, Key());
    }

    [Fact]
    public async Task Reordered_frames_are_corrupt()
    {
        byte[] swapped = (byte[])Stored.Value.Clone();
        Stored.Value.AsSpan(Header, FrameBytes).CopyTo(swapped.AsSpan(Header + FrameBytes));
        Stored.Value.AsSpan(Header + FrameBytes, FrameBytes).CopyTo(swapped.AsSpan(Header));

        string message = await AssertCorruptAsync(swapped, CompressionType.None, Key(), null, null);
        Assert.Contains("authentication failed (wrong key or damaged data) at frame 0", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dropped_frame_is_corrupt()
    {
        byte[] dropped = [.. Stored.Value[..(Header + FrameBytes)], .. Stored.Value[(Header + (2 * FrameBytes))..]];

        string message = await AssertCorruptAsync(dropped, CompressionType.None, Key(), null, null);
        Assert.Contains("authentication failed (wrong key or damaged data) at frame 1", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_frame_from_another_object_is_corrupt()
    {
        (byte[] other, _) = await StoreAsync(Data, CompressionSpec.None, Key());
        byte[] spliced = (byte[])Stored.Value.Clone();
        other.AsSpan(Header + FrameBytes, FrameBytes).CopyTo(spliced.AsSpan(Header + FrameBytes));

        string message = await AssertCorruptAsync(spliced, CompressionType.None, Key(), null, null);
        Assert.Contains("at frame 1", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_key_is_corrupt()
    {
        string message = await AssertCorruptAsync(Stored.Value, CompressionType.None, Key(seed: 2), null, null);
        Assert.Contains("authentication failed (wrong key or damaged data) at frame 0", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unencrypted_object_read_with_a_key_is_a_bad_header()
    {
        (byte[] plain, _) = await StoreAsync(Data, CompressionSpec.Parse("zstd"), null);

        string message = await AssertCorruptAsync(plain, CompressionType.Zstd, Key(), null, null);
        Assert.Contains("bad header", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zstd:3")]
    [InlineData("lz4")]
    [InlineData("gzip:6")]
    public async Task Damage_to_compressed_encrypted_objects_is_corrupt(string specText)
    {
        CompressionSpec spec = CompressionSpec.Parse(specText);
        byte[] data = [.. PgbenchText(400_000), .. RandomBytes(200_000, 9)];
        (byte[] stored, PipelineResult result) = await StoreAsync(data, spec, Key());
        Assert.True(stored.Length > Header + FrameBytes, "the object should span several frames");

        foreach (int position in (int[])[3, 20, Header, Header + 1000, Header + FrameBytes - 1, Header + FrameBytes, stored.Length - 100, stored.Length - 1])
        {
            byte[] damaged = (byte[])stored.Clone();
            damaged[position] ^= 0x10;
            await AssertCorruptAsync(damaged, spec.Type, Key(), result.SourceSha256, result.SourceBytes);
            await AssertCorruptAsync(damaged, spec.Type, Key(), null, null);
        }

        foreach (int length in (int[])[Header + FrameBytes, stored.Length - 1])
        {
            await AssertCorruptAsync(stored[..length], spec.Type, Key(), null, null);
        }

        await AssertCorruptAsync([.. stored, 0], spec.Type, Key(), null, null);
    }

    [Fact]
    public async Task Later_reads_repeat_the_failure()
    {
        byte[] damaged = (byte[])Stored.Value.Clone();
        damaged[Header + FrameBytes + 10] ^= 1;
        await using var d = new DecryptingStream(new MemoryStream(damaged), Key(), ObjectKey, leaveOpen: false);
        var buffer = new byte[65536];

        Assert.Equal(65536, await d.ReadAtLeastAsync(buffer, 65536)); // frame 0 is fine
        var first = await Assert.ThrowsAsync<PgVaultException>(async () => await d.ReadExactlyAsync(buffer));
        var second = Assert.Throws<PgVaultException>(() => d.ReadExactly(buffer));
        Assert.Same(first, second);
    }

    private static async Task AssertDecryptingStreamFailsAsync(byte[] stored, byte[] key)
    {
        await using var d = new DecryptingStream(new MemoryStream(stored), key, ObjectKey, leaveOpen: false);
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(d, async: true));
        Assert.StartsWith($"corrupt object '{ObjectKey}': ", ex.Message, StringComparison.Ordinal);
    }
}
