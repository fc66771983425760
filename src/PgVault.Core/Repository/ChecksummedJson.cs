using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PgVault.Core.Errors;

namespace PgVault.Core.Repository;

/// <summary>
/// Metadata files carry their own checksum: the file is indented JSON whose last property is
/// <c>"checksum"</c>, the SHA-256 of the document as it would read without that property.
/// A reader re-derives those bytes, so a flipped or truncated file is caught without any sidecar.
/// With a key (the descriptor of an encrypted repository of format 2) the checksum is an
/// HMAC-SHA256 instead, so someone without the key cannot edit the file and recompute it.
/// </summary>
internal static class ChecksummedJson
{
    private static readonly byte[] Marker = Encoding.UTF8.GetBytes(",\n  \"checksum\": \"");

    public static byte[] Serialize<T>(T value, JsonTypeInfo<T> typeInfo, byte[]? macKey = null)
    {
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);
        // body ends with "\n}" (indented); splice the checksum in as the last property.
        if (body.Length < 2 || body[^1] != (byte)'}' || body[^2] != (byte)'\n')
            throw new InvalidOperationException("checksummed JSON needs an indented object");
        string hash = Digest(body, macKey);
        var output = new MemoryStream(body.Length + 100);
        output.Write(body, 0, body.Length - 2);
        output.Write(Marker);
        output.Write(Encoding.UTF8.GetBytes(hash + "\"\n}\n"));
        return output.ToArray();
    }

    /// <summary>
    /// Checks and parses a checksummed file: SHA-256 without <paramref name="macKey"/>, HMAC-SHA256
    /// under it with one (metadata of an encrypted repository that is not itself encrypted).
    /// </summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> data, JsonTypeInfo<T> typeInfo, string key, byte[]? macKey = null)
    {
        var (body, stored) = Split(data, key);
        Check(body, stored, macKey, key);
        return Parse(body, typeInfo, key);
    }

    /// <summary>The document without its checksum property, and the stored checksum (not yet checked).</summary>
    public static (byte[] Body, string Stored) Split(ReadOnlySpan<byte> data, string key)
    {
        int end = data.Length;
        while (end > 0 && data[end - 1] is (byte)'\n' or (byte)' ') end--;
        int at = data[..end].LastIndexOf(Marker);
        if (at < 0 || end < at + Marker.Length + 64 + 3)
            throw PgVaultException.Corrupt(key, "metadata checksum missing (truncated or edited file)");
        if (!data[(at + Marker.Length + 64)..end].SequenceEqual("\"\n}"u8))
            throw PgVaultException.Corrupt(key, "metadata checksum missing (truncated or edited file)");
        string stored = Encoding.UTF8.GetString(data.Slice(at + Marker.Length, 64));
        byte[] body = new byte[at + 2];
        data[..at].CopyTo(body);
        body[^2] = (byte)'\n';
        body[^1] = (byte)'}';
        return (body, stored);
    }

    public static void Check(byte[] body, string stored, byte[]? macKey, string key)
    {
        byte[] expected = Encoding.ASCII.GetBytes(Digest(body, macKey));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(stored)))
            throw PgVaultException.Corrupt(key, macKey is null ? "metadata checksum mismatch" : "metadata authentication failed (edited without the repository key)");
    }

    /// <summary>Parses a document (untrusted: a JSON null where an object is expected is "corrupt", not a crash).</summary>
    public static T Parse<T>(byte[] body, JsonTypeInfo<T> typeInfo, string key)
    {
        try
        {
            return JsonSerializer.Deserialize(body, typeInfo) ?? throw PgVaultException.Corrupt(key, "empty metadata");
        }
        catch (JsonException e)
        {
            throw PgVaultException.Corrupt(key, "unreadable metadata: " + e.Message);
        }
    }

    private static string Digest(byte[] body, byte[]? macKey) =>
        Convert.ToHexStringLower(macKey is null ? SHA256.HashData(body) : HMACSHA256.HashData(macKey, body));
}
