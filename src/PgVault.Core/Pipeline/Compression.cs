using System.IO.Compression;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Opens compressing (write-side) and decompressing (read-side) streams for every
/// <see cref="CompressionType"/>. All of them stream with bounded memory.
/// </summary>
public static class Compression
{
    /// <summary>
    /// Returns a write-only stream that compresses into <paramref name="inner"/>. Disposing it
    /// (Dispose or DisposeAsync) writes the final frame; <paramref name="inner"/> is disposed too
    /// unless <paramref name="leaveOpen"/>.
    /// </summary>
    /// <remarks>
    /// zstd frames carry the content checksum (XXH64), so the standard <c>zstd</c> tool can check them
    /// (libzstd through <see cref="NativeZstdWriteStream"/> when it is there, else ZstdSharp: one format);
    /// lz4 uses the LZ4 frame format; gzip is RFC 1952 with the exact zlib level.
    /// </remarks>
    public static Stream CompressTo(Stream inner, CompressionSpec spec, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        if (!inner.CanWrite)
        {
            throw new ArgumentException("the destination stream must be writable", nameof(inner));
        }

        switch (spec.Type)
        {
            case CompressionType.Zstd:
                if (NativeZstd.Available) return new NativeZstdWriteStream(inner, spec.Level, leaveOpen);
                var zstd = new CompressionStream(inner, spec.Level, bufferSize: 0, leaveOpen: leaveOpen);
                zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
                return zstd;
            case CompressionType.Lz4:
                return LZ4Stream.Encode(inner, new LZ4EncoderSettings { CompressionLevel = (LZ4Level)spec.Level }, leaveOpen);
            case CompressionType.Gzip:
                return new GzipCompressionStream(inner, spec.Level, leaveOpen);
            default:
                return new PassThroughStream(inner, write: true, leaveOpen);
        }
    }

    /// <summary>
    /// Returns a read-only stream that decompresses <paramref name="inner"/>. Damaged input surfaces
    /// as an exception from Read (InvalidDataException, ZstdException, EndOfStreamException, ...);
    /// <see cref="ObjectPipeline.OpenRead"/> converts those to a "corrupt object" error. With
    /// <paramref name="frameChecksums"/> false, zstd does not check its frames' XXH64: only for a
    /// caller that checks the content itself (a restored file's XXH128), where it was a second
    /// hash of every byte (5 % of a restore's CPU); that reader also decodes through the system's
    /// libzstd when it is there (<see cref="NativeZstdReadStream"/>).
    /// </summary>
    public static Stream DecompressFrom(Stream inner, CompressionType type, bool leaveOpen, bool frameChecksums = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanRead)
        {
            throw new ArgumentException("the source stream must be readable", nameof(inner));
        }

        return type switch
        {
            CompressionType.Zstd => Zstd(inner, leaveOpen, frameChecksums),
            CompressionType.Lz4 => LZ4Stream.Decode(inner, extraMemory: 0, leaveOpen: leaveOpen, interactive: false),
            CompressionType.Gzip => new GZipStream(inner, CompressionMode.Decompress, leaveOpen),
            CompressionType.None => new PassThroughStream(inner, write: false, leaveOpen),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown compression type"),
        };
    }

    /// <summary>A zstd reader; <paramref name="native"/> chooses libzstd or ZstdSharp (tests), else libzstd only without frame checksums.</summary>
    internal static Stream Zstd(Stream inner, bool leaveOpen, bool frameChecksums, bool? native = null)
    {
        if (native ?? (!frameChecksums && NativeZstd.Available)) return new NativeZstdReadStream(inner, leaveOpen, frameChecksums);
        var stream = new DecompressionStream(inner, bufferSize: 0, checkEndOfStream: true, leaveOpen: leaveOpen);
        if (!frameChecksums)
            stream.SetParameter(ZSTD_dParameter.ZSTD_d_experimentalParam3, (int)ZSTD_forceIgnoreChecksum_e.ZSTD_d_ignoreChecksum); // ZSTD_d_forceIgnoreChecksum
        return stream;
    }
}
