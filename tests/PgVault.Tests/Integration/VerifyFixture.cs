using System.Security.Cryptography;
using System.Text.Json;
using PgVault.Core.Pipeline;

namespace PgVault.Tests.Integration;

/// <summary>
/// A physical chain (full, then incr) and a logical backup, with WAL archived past the last backup:
/// what the verify tests damage, each in a copy of the repository (<see cref="PhysicalFixture.CopyRepository"/>).
/// </summary>
public sealed class VerifyFixture : PhysicalFixture
{
    public string Full { get; private set; } = "";
    public string Incr { get; private set; } = "";
    public string Logical { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecAsync("postgres", "CREATE TABLE verified AS SELECT g, md5(g::text) AS v FROM generate_series(1, 100000) g");
        Full = await BackupAsync("full");
        await ExecAsync("postgres", "INSERT INTO verified SELECT g, 'incr' FROM generate_series(100001, 101000) g");
        Incr = await BackupAsync("incr");
        var logical = await RunAsync("backup", "--type", "logical", "--db", "postgres", "--output", "json");
        if (logical.ExitCode != 0) throw new InvalidOperationException(logical.ToString());
        Logical = logical.Json.GetProperty("id").GetString()!;
        // Segments after the last backup: what a gap, a duplicate and a foreign segment go between.
        for (int i = 0; i < 3; i++)
        {
            await ExecAsync("postgres", $"INSERT INTO verified VALUES ({200000 + i}, 'after')");
            await ArchiveEverythingAsync();
        }
    }

    /// <summary>The manifest of <paramref name="id"/> in the repository at <paramref name="repo"/>.</summary>
    public static JsonElement Manifest(string repo, string id) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(repo, "clusters/main/backups", id, "manifest.json"))).RootElement;

    /// <summary>Segment names stored in <paramref name="repo"/>, sorted.</summary>
    public static List<string> Segments(string repo) =>
        Directory.GetFiles(Path.Combine(repo, "clusters/main/wal"), "*", SearchOption.AllDirectories)
            .Select(Path.GetFileName).Where(n => n!.Length > 25 && n[24] == '-').Select(n => n![..24]).Distinct().Order(StringComparer.Ordinal).ToList();

    public static string StoredSegment(string repo, string segment) =>
        Directory.GetFiles(Path.Combine(repo, "clusters/main/wal", segment[..16]), segment + "-*").Single();

    /// <summary>The content of a stored segment (the fixture's repository is not encrypted).</summary>
    public static byte[] ReadSegment(string repo, string segment)
    {
        string path = StoredSegment(repo, segment);
        using var stored = File.OpenRead(path);
        using var content = Compression.DecompressFrom(stored, CompressionSpec.TypeFromExtension(Path.GetExtension(path)[1..])!.Value, leaveOpen: false);
        using var buffer = new MemoryStream();
        content.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Stores <paramref name="content"/> under <paramref name="segment"/> as archive-push would name it (tag = SHA-256 prefix), lz4-compressed.</summary>
    public static string WriteSegment(string repo, string segment, byte[] content)
    {
        string tag = Convert.ToHexStringLower(SHA256.HashData(content))[..16];
        string dir = Path.Combine(repo, "clusters/main/wal", segment[..16]);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{segment}-{tag}.lz4");
        using var buffer = new MemoryStream();
        using (var compressor = Compression.CompressTo(buffer, new CompressionSpec(CompressionType.Lz4, 1), leaveOpen: true))
            compressor.Write(content);
        File.WriteAllBytes(path, buffer.ToArray());
        return path;
    }

    public static void FlipByte(string path, long at)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = at;
        int b = stream.ReadByte();
        stream.Position = at;
        stream.WriteByte((byte)(b ^ 0x5A));
    }
}
