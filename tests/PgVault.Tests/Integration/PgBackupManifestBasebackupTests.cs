using System.Globalization;
using System.Text.Json;
using PgVault.Core.Physical;
using PgVault.Tests.Infrastructure;
using Xunit;
using PgVault.Core.PostgreSql;

namespace PgVault.Tests.Integration;

/// <summary>
/// PgBackupManifest against the real thing: pg_basebackup's backup_manifest of a sandbox cluster
/// (with extra files whose names need JSON escaping), read back as data and rebuilt by PgVault,
/// must come out identical to the byte, Manifest-Checksum included.
/// </summary>
public sealed class PgBackupManifestBasebackupTests(ClusterFixture db) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task Rebuilding_a_pg_basebackup_manifest_gives_the_same_bytes()
    {
        string weird = Path.Combine(db.Cluster.DataDir, "pgvault_weird");
        Directory.CreateDirectory(weird);
        foreach (string name in new[] { "q\"b\\c", "tab\tnl\ncr\r", "ctl\u0001\u001f\u007f", "caf\u00e9 \u65e5", "empty" })
        {
            await File.WriteAllTextAsync(Path.Combine(weird, name), name == "empty" ? "" : name);
        }
        string output = Path.Combine(db.Cluster.Root, "basebackup");
        await db.Cluster.RunToolAsync("pg_basebackup",
            ["-h", db.Cluster.SocketDir, "-p", db.Cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-D", output, "-Fp", "--manifest-checksums=SHA256", "--no-sync"],
            CancellationToken.None);
        byte[] real = await File.ReadAllBytesAsync(Path.Combine(output, "backup_manifest"));

        using var json = JsonDocument.Parse(real);
        var files = json.RootElement.GetProperty("Files").EnumerateArray().Select(f => new PgManifestFile(
            f.GetProperty("Path").GetString()!,
            f.GetProperty("Size").GetInt64(),
            DateTimeOffset.ParseExact(f.GetProperty("Last-Modified").GetString()!, "yyyy-MM-dd HH:mm:ss 'GMT'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            f.GetProperty("Checksum").GetString()!)).ToList();
        var ranges = json.RootElement.GetProperty("WAL-Ranges").EnumerateArray().Select(r => new PgManifestWalRange(
            r.GetProperty("Timeline").GetUInt32(),
            Lsn.ParseLsn(r.GetProperty("Start-LSN").GetString()!),
            Lsn.ParseLsn(r.GetProperty("End-LSN").GetString()!))).ToList();
        Assert.Contains(files, f => f.Path == "pgvault_weird/q\"b\\c");

        byte[] rebuilt = PgBackupManifest.Build(files, ranges);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(real), System.Text.Encoding.UTF8.GetString(rebuilt));
        Assert.Equal(real, rebuilt);
    }
}
