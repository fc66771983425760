using System.Buffers.Binary;
using System.Security.Cryptography;

namespace PgVault.Core.Pipeline;

/// <summary>
/// Constants and helpers of the framed AES-256-GCM object format (versions 1 and 2), shared by
/// <see cref="EncryptingStream"/> and <see cref="DecryptingStream"/>. The Pipeline README documents
/// the format; it is part of the repository format contract, so never change it in place.
/// </summary>
internal static class EncryptionFormat
{
    /// <summary>Version 1: the per-object key depends on the data key and the salt only (repository format 1).</summary>
    public const byte VersionUnbound = 1;

    /// <summary>
    /// Version 2: the per-object key also depends on the object's repository-relative key, so an
    /// object renamed, swapped or copied under another name fails authentication (repository format 2).
    /// </summary>
    public const byte VersionBound = 2;
    public const int DataKeySize = 32;
    public const int SaltSize = 32;
    public const int MagicSize = 8; // "PGVAULT" + version byte
    public const int HeaderSize = MagicSize + SaltSize; // 40
    public const int FrameSize = 64 * 1024; // plaintext bytes in every non-final frame
    public const int FrameHeaderSize = 5; // flag byte + 4-byte big-endian plaintext length
    public const int TagSize = 16;
    public const int NonceSize = 12;
    public const int AadSize = HeaderSize + 8 + FrameHeaderSize; // 53
    public const int MaxStoredFrameSize = FrameHeaderSize + FrameSize + TagSize;
    public const byte FlagMore = 0;
    public const byte FlagFinal = 1;

    /// <summary>The 7 ASCII bytes that start every encrypted object, followed by the version byte.</summary>
    public static ReadOnlySpan<byte> Magic => "PGVAULT"u8;

    /// <summary>HKDF info string for the per-object key of version 1.</summary>
    public static ReadOnlySpan<byte> KeyInfo => "pgvault object v1"u8;

    /// <summary>HKDF info prefix of version 2; the object's key (UTF-8) follows a zero byte.</summary>
    public static ReadOnlySpan<byte> BoundKeyInfo => "pgvault object v2"u8;

    public static void CheckDataKey(ReadOnlySpan<byte> dataKey)
    {
        if (dataKey.Length != DataKeySize)
        {
            throw new ArgumentException($"the data key must be {DataKeySize} bytes, not {dataKey.Length}", nameof(dataKey));
        }
    }

    /// <summary>
    /// Writes magic, version and a fresh random salt into <paramref name="header"/> (40 bytes):
    /// version 2 when the object is bound to a name, version 1 otherwise.
    /// </summary>
    public static void CreateHeader(Span<byte> header, bool bound)
    {
        Magic.CopyTo(header);
        header[Magic.Length] = bound ? VersionBound : VersionUnbound;
        RandomNumberGenerator.Fill(header.Slice(MagicSize, SaltSize));
    }

    /// <summary>
    /// The per-object cipher: key = HKDF-SHA256(ikm: data key, salt: header salt, info), where info
    /// is "pgvault object v1" for version 1 and "pgvault object v2" || 0 || UTF-8 object name for
    /// version 2 (the header's version byte decides).
    /// </summary>
    public static AesGcm CreateCipher(ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> header, string? boundName)
    {
        Span<byte> objectKey = stackalloc byte[32];
        try
        {
            byte[] info = header[Magic.Length] == VersionBound
                ? [.. BoundKeyInfo, 0, .. System.Text.Encoding.UTF8.GetBytes(boundName ?? throw new ArgumentNullException(nameof(boundName)))]
                : KeyInfo.ToArray();
            HKDF.DeriveKey(HashAlgorithmName.SHA256, dataKey, objectKey, header.Slice(MagicSize, SaltSize), info);
            return new AesGcm(objectKey, TagSize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(objectKey);
        }
    }

    /// <summary>12-byte nonce: 4 zero bytes, then the frame index as 8 bytes big-endian.</summary>
    public static void BuildNonce(Span<byte> nonce, long frameIndex)
    {
        nonce[..4].Clear();
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], frameIndex);
    }

    /// <summary>AAD: the 40-byte header, the frame index (8 bytes BE), the flag byte and the length (4 bytes BE).</summary>
    public static void BuildAad(Span<byte> aad, ReadOnlySpan<byte> header, long frameIndex, byte flag, int length)
    {
        header[..HeaderSize].CopyTo(aad);
        BinaryPrimitives.WriteInt64BigEndian(aad.Slice(HeaderSize, 8), frameIndex);
        aad[HeaderSize + 8] = flag;
        BinaryPrimitives.WriteInt32BigEndian(aad.Slice(HeaderSize + 9, 4), length);
    }
}
