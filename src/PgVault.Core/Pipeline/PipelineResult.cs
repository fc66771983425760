namespace PgVault.Core.Pipeline;

/// <summary>What a completed <see cref="WritePipeline"/> wrote.</summary>
/// <param name="SourceBytes">Plaintext bytes the caller wrote.</param>
/// <param name="SourceSha256">Lowercase hex SHA-256 of that plaintext.</param>
/// <param name="StoredBytes">Bytes that reached the (first) destination (after compression and encryption).</param>
public sealed record PipelineResult(long SourceBytes, string SourceSha256, long StoredBytes)
{
    /// <summary>Bytes that reached each destination, in the order of the pipeline's branches.</summary>
    public IReadOnlyList<long> StoredBytesPerBranch { get; init; } = [StoredBytes];
}
