using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Errors;
using PgVault.Core.Repository;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class ChecksummedJsonTests
{
    private const string Key = "clusters/main/backups/20261123T143012Z-L/manifest.json";

    private static readonly BackupManifest Manifest = new()
    {
        Id = "20261123T143012Z-L",
        Cluster = "main",
        StartedAt = new DateTimeOffset(2026, 11, 23, 14, 30, 12, TimeSpan.Zero),
        FinishedAt = new DateTimeOffset(2026, 11, 23, 14, 31, 2, TimeSpan.Zero),
        SizeBytes = 987654321,
        StoredBytes = 123456789,
        Compression = "zstd:3",
        Databases = [new LogicalDatabase { Name = "app \"quoted\" ünïcode\n", Options = ["--format=c", "--compress=0"], Files = [new StoredFile { Name = "dump", Object = "app/dump.zst", Sha256 = new string('a', 64) }] }],
    };

    private static byte[] Serialized() => ChecksummedJson.Serialize(Manifest, RepositoryJson.Default.BackupManifest);

    private static PgVaultException Rejected(byte[] data)
    {
        var e = Assert.Throws<PgVaultException>(() => ChecksummedJson.Deserialize(data, RepositoryJson.Default.BackupManifest, Key));
        Assert.StartsWith($"corrupt object '{Key}'", e.Message, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void Round_trips_and_ends_with_the_checksum_property()
    {
        byte[] data = Serialized();
        string text = Encoding.UTF8.GetString(data);

        var back = ChecksummedJson.Deserialize(data, RepositoryJson.Default.BackupManifest, Key);

        Assert.Equal(Manifest.Id, back.Id);
        Assert.Equal(Manifest.SizeBytes, back.SizeBytes);
        Assert.Equal(Manifest.StartedAt, back.StartedAt);
        Assert.Equal(Manifest.Databases[0].Name, back.Databases[0].Name);
        Assert.Equal(Manifest.Databases[0].Options, back.Databases[0].Options);
        Assert.Equal(Manifest.Databases[0].Files[0], back.Databases[0].Files[0]);
        Assert.Matches("\n  \"checksum\": \"[0-9a-f]{64}\"\n}\n$", text);
        Assert.Contains("\"size_bytes\": 987654321", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Checksum_is_the_sha256_of_the_document_without_it()
    {
        byte[] data = Serialized();
        string text = Encoding.UTF8.GetString(data);
        int at = text.LastIndexOf(",\n  \"checksum\"", StringComparison.Ordinal);
        string body = text[..at] + "\n}";
        string stored = text.Substring(text.LastIndexOf(": \"", StringComparison.Ordinal) + 3, 64);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body))), stored);
    }

    [Fact]
    public void Accepts_a_file_without_its_final_newline()
    {
        byte[] data = Serialized();

        Assert.Equal(Manifest.Id, ChecksummedJson.Deserialize(data.AsSpan(0, data.Length - 1), RepositoryJson.Default.BackupManifest, Key).Id);
    }

    [Fact]
    public void A_flipped_byte_anywhere_in_the_body_or_the_checksum_is_detected()
    {
        byte[] data = Serialized();
        int checksumEnd = Encoding.UTF8.GetString(data).LastIndexOf('"');
        for (int i = 0; i < checksumEnd; i++)
        {
            byte[] damaged = (byte[])data.Clone();
            damaged[i] ^= 0x01;
            Rejected(damaged);
        }
    }

    [Fact]
    public void A_flipped_byte_after_the_checksum_value_or_appended_data_is_detected()
    {
        byte[] data = Serialized();
        for (int i = Encoding.UTF8.GetString(data).LastIndexOf('"'); i < data.Length; i++)
        {
            byte[] damaged = (byte[])data.Clone();
            damaged[i] ^= 0x01;
            Rejected(damaged);
        }

        Rejected([.. data, .. "{\"id\": \"x\"}"u8]);
    }

    [Fact]
    public void An_edited_value_with_the_old_checksum_is_a_checksum_mismatch()
    {
        string text = Encoding.UTF8.GetString(Serialized()).Replace("987654321", "987654322", StringComparison.Ordinal);

        var e = Rejected(Encoding.UTF8.GetBytes(text));

        Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_truncation_that_cuts_into_the_checksum_is_detected()
    {
        byte[] data = Serialized();
        int keep = Encoding.UTF8.GetString(data).LastIndexOf('"');
        for (int length = 0; length <= keep; length++)
        {
            Rejected(data[..length]);
        }
    }

    [Fact]
    public void Truncation_to_half_says_the_checksum_is_missing()
    {
        byte[] data = Serialized();

        var e = Rejected(data[..(data.Length / 2)]);

        Assert.Contains("checksum missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plain_json_without_a_checksum_is_rejected()
    {
        var e = Rejected("{\n  \"id\": \"20261123T143012Z-L\"\n}\n"u8.ToArray());

        Assert.Contains("checksum missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_valid_checksum_over_invalid_json_is_unreadable_metadata()
    {
        byte[] body = "{\n  \"size_bytes\": \"not a number\"\n}"u8.ToArray();
        string hash = Convert.ToHexStringLower(SHA256.HashData(body));
        byte[] data = Encoding.UTF8.GetBytes("{\n  \"size_bytes\": \"not a number\",\n  \"checksum\": \"" + hash + "\"\n}\n");

        var e = Rejected(data);

        Assert.Contains("unreadable metadata", e.Message, StringComparison.Ordinal);
    }
}
