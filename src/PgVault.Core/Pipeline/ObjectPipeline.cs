using PgVault.Core.Errors;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Composes the filter chains every stored object goes through:
/// write: plaintext → SHA-256 + count → compression → per destination: [AES-256-GCM frames] → count → storage;
/// read: storage → [decryption] → decompression → SHA-256 + size check.
/// </summary>
internal static class ObjectPipeline
{
    /// <summary>
    /// Opens the write chain into <paramref name="destination"/> (left open). Encrypts when
    /// <paramref name="dataKey"/> (32 bytes) is given; with <paramref name="boundName"/> the encrypted
    /// object is bound to that name (encryption format 2).
    /// </summary>
    public static WritePipeline OpenWrite(Stream destination, CompressionSpec compression, byte[]? dataKey, string? boundName = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return OpenWrite([new WriteBranch(destination, dataKey, boundName)], compression);
    }

    /// <summary>
    /// Opens one write chain into several destinations (left open): the plaintext is hashed and
    /// compressed once, then each branch is encrypted with its own key (when it has one) and counted.
    /// With <paramref name="hashSource"/> false the plaintext is not hashed (the caller has its
    /// checksum already) and <see cref="PipelineResult.SourceSha256"/> is empty.
    /// </summary>
    public static WritePipeline OpenWrite(IReadOnlyList<WriteBranch> branches, CompressionSpec compression, bool hashSource = true)
    {
        ArgumentNullException.ThrowIfNull(branches);
        ArgumentNullException.ThrowIfNull(compression);
        if (branches.Count == 0)
        {
            throw new ArgumentException("a write pipeline needs at least one destination", nameof(branches));
        }

        compression.Validate();
        foreach (var branch in branches)
        {
            ArgumentNullException.ThrowIfNull(branch.Destination);
            if (branch.DataKey is not null)
            {
                EncryptionFormat.CheckDataKey(branch.DataKey);
            }
        }

        return new WritePipeline(branches, compression, hashSource);
    }

    /// <summary>
    /// Opens the read chain over <paramref name="stored"/>, which the returned stream owns. Reading
    /// to the end verifies the object: size and SHA-256 against the expected values when given,
    /// framing and authentication when encrypted. Damage throws
    /// <see cref="PgVaultException.Corrupt"/> naming <paramref name="objectKey"/>; storage errors
    /// pass through unchanged. Bytes are returned before the final check, so consumers must not
    /// treat the data as good until the stream has reported its end. An encrypted object of format 2
    /// authenticates only under <paramref name="objectKey"/>; <paramref name="requireBound"/> refuses
    /// format 1 objects (not bound to a name).
    /// </summary>
    public static Stream OpenRead(Stream stored, CompressionType compression, byte[]? dataKey, string objectKey, string? expectedSha256, long? expectedBytes,
        bool requireBound = false)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(objectKey);
        if (dataKey is not null)
        {
            EncryptionFormat.CheckDataKey(dataKey);
        }

        var source = new SourceGuardStream(stored, leaveOpen: false);
        Stream compressed = dataKey is null ? source : new DecryptingStream(source, dataKey, objectKey, leaveOpen: false, requireBound);
        TailKeepingStream? gzipTail = null;
        if (compression == CompressionType.Gzip)
        {
            gzipTail = new TailKeepingStream(compressed);
            compressed = gzipTail;
        }

        Stream decompressed = Compression.DecompressFrom(compressed, compression, leaveOpen: false);
        return new VerifyingReadStream(decompressed, compressed, source, gzipTail, objectKey, expectedSha256, expectedBytes);
    }
}
