namespace PgVault.Core.Pipeline;

/// <summary>How an object's content is compressed before it is (optionally) encrypted and stored.</summary>
public enum CompressionType
{
    None,
    Zstd,
    Lz4,
    Gzip,
}
