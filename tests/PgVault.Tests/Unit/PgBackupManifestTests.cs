using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgVault.Core.Physical;
using PgVault.Core.PostgreSql;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// PgBackupManifest writes pg_basebackup's backup_manifest byte for byte; the decisive check is that
/// PostgreSQL's own pg_verifybackup accepts it for a directory and rejects it once a file or the
/// manifest is touched.
/// </summary>
public sealed class PgBackupManifestTests
{
    private static readonly DateTimeOffset Noon = new(2024, 3, 5, 12, 34, 56, 789, TimeSpan.FromHours(2));
    private static readonly string EmptySha = Convert.ToHexStringLower(SHA256.HashData([]));

    [Fact]
    public void Layout_is_pg_basebackups_to_the_byte()
    {
        var files = new[]
        {
            new PgManifestFile("backup_label", 225, Noon, new string('A', 64)),
            new PgManifestFile("pg_tblspc/16385/PG_15_202209061/16386/16387", 0, Noon, EmptySha),
        };
        byte[] manifest = PgBackupManifest.Build(files, [new PgManifestWalRange(2, 0x16B374D848, 0x1700000000), new PgManifestWalRange(1, 0x2000028, 0x16B374D848)]);

        const string Body =
            "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n" +
            "\"Files\": [\n" +
            "{ \"Path\": \"backup_label\", \"Size\": 225, \"Last-Modified\": \"2024-03-05 10:34:56 GMT\", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + "\" },\n" +
            "{ \"Path\": \"pg_tblspc/16385/PG_15_202209061/16386/16387\", \"Size\": 0, \"Last-Modified\": \"2024-03-05 10:34:56 GMT\", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" }\n" +
            "],\n" +
            "\"WAL-Ranges\": [\n" +
            "{ \"Timeline\": 2, \"Start-LSN\": \"16/B374D848\", \"End-LSN\": \"17/0\" },\n" +
            "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"16/B374D848\" }\n" +
            "],\n";
        string expected = Body + "\"Manifest-Checksum\": \"" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Body))) + "\"}\n";
        Assert.Equal(expected, Encoding.UTF8.GetString(manifest));
    }

    [Fact]
    public void An_empty_file_list_still_has_its_brackets_on_their_own_lines()
    {
        string text = Encoding.UTF8.GetString(PgBackupManifest.Build([], [new PgManifestWalRange(1, 0x2000028, 0x2000100)]));
        Assert.StartsWith("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n],\n\"WAL-Ranges\": [\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plain/base/1", "\"plain/base/1\"")]
    [InlineData("q\"b\\c", "\"q\\\"b\\\\c\"")]
    [InlineData("tab\tnl\ncr\rbs\bff\f", "\"tab\\tnl\\ncr\\rbs\\bff\\f\"")]
    [InlineData("ctl\u0001\u001f\u007f", "\"ctl\\u0001\\u001f\u007f\"")] // DEL is not escaped; hex is lower case
    [InlineData("caf\u00e9/\u65e5", "\"caf\u00e9/\u65e5\"")] // '/' and non-ASCII pass through
    public void Strings_are_escaped_like_escape_json(string value, string expected)
    {
        var text = new StringBuilder();
        PgBackupManifest.AppendJsonString(text, value);
        Assert.Equal(expected, text.ToString());
    }

    [Fact]
    public void Output_is_json_with_the_fields_pg_verifybackup_reads()
    {
        var files = new[] { new PgManifestFile("weird/q\"b\\c\t\u0001", 3, Noon, EmptySha.ToUpperInvariant()), new PgManifestFile("base/1/1259", 8192, Noon, EmptySha) };
        using var json = JsonDocument.Parse(PgBackupManifest.Build(files, [new PgManifestWalRange(1, 0x2000028, 0x2000100)]));
        var root = json.RootElement;
        Assert.Equal(["PostgreSQL-Backup-Manifest-Version", "Files", "WAL-Ranges", "Manifest-Checksum"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, root.GetProperty("PostgreSQL-Backup-Manifest-Version").GetInt32());
        var first = root.GetProperty("Files")[0];
        Assert.Equal(["Path", "Size", "Last-Modified", "Checksum-Algorithm", "Checksum"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal("weird/q\"b\\c\t\u0001", first.GetProperty("Path").GetString());
        Assert.Equal(3, first.GetProperty("Size").GetInt64());
        Assert.Equal(EmptySha, first.GetProperty("Checksum").GetString()); // lower-cased
        var range = Assert.Single(root.GetProperty("WAL-Ranges").EnumerateArray());
        Assert.Equal(1u, range.GetProperty("Timeline").GetUInt32());
        Assert.Equal("0/2000028", range.GetProperty("Start-LSN").GetString());
        Assert.Equal("0/2000100", range.GetProperty("End-LSN").GetString());
    }

    [Fact]
    public void Inputs_that_cannot_be_written_are_refused()
    {
        PgManifestWalRange[] wal = [new(1, 1, 2)];
        Assert.Throws<ArgumentException>(() => PgBackupManifest.Build([], []));
        Assert.Throws<ArgumentException>(() => PgBackupManifest.Build([new PgManifestFile("", 0, Noon, EmptySha)], wal));
        Assert.Throws<ArgumentException>(() => PgBackupManifest.Build([new PgManifestFile("a\0b", 0, Noon, EmptySha)], wal));
        Assert.Throws<ArgumentException>(() => PgBackupManifest.Build([new PgManifestFile("a", -1, Noon, EmptySha)], wal));
        Assert.Throws<ArgumentException>(() => PgBackupManifest.Build([new PgManifestFile("a", 0, Noon, "abc")], wal));
        Assert.Throws<ArgumentException>(() => PgBackupManifest.Build([new PgManifestFile("a", 0, Noon, new string('g', 64))], wal));
        Assert.ThrowsAny<ArgumentException>(() => PgBackupManifest.Build([new PgManifestFile("lone\ud800", 0, Noon, EmptySha)], wal)); // not UTF-8
    }

    [Fact]
    public void Pg_verifybackup_accepts_the_manifest_and_catches_a_damaged_file_or_manifest()
    {
        string dir = Directory.CreateTempSubdirectory("pgvault-manifest-").FullName;
        try
        {
            string[] paths =
            [
                "backup_label", "global/pg_control", "base/1/1259", "base/1/1259_fsm",
                "pg_tblspc/16385/PG_15_202209061/16386/16387",
                "weird/q\"b\\c\ttab\u0001 caf\u00e9", // every byte but '/' and NUL is legal in a Linux file name
                "pg_stat/empty",
            ];
            var files = new List<PgManifestFile>();
            foreach (var (path, i) in paths.Select((p, i) => (p, i)))
            {
                string full = Path.Combine(dir, path);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                byte[] content = path.EndsWith("empty", StringComparison.Ordinal) ? [] : Enumerable.Range(0, 100 + (i * 1000)).Select(b => (byte)(b * 7 + i)).ToArray();
                File.WriteAllBytes(full, content);
                files.Add(new PgManifestFile(path, content.Length, File.GetLastWriteTimeUtc(full), Convert.ToHexString(SHA256.HashData(content))));
            }
            string manifestPath = Path.Combine(dir, "backup_manifest");
            byte[] manifest = PgBackupManifest.Build(files, [new PgManifestWalRange(1, 0x2000028, 0x16B374D848)]);
            File.WriteAllBytes(manifestPath, manifest);

            var ok = VerifyBackup(dir);
            Assert.True(ok.ExitCode == 0, ok.Output);
            Assert.Contains("backup successfully verified", ok.Output, StringComparison.Ordinal);

            // Same size, one byte flipped: only the checksum can tell.
            string damaged = Path.Combine(dir, "base", "1", "1259");
            byte[] original = File.ReadAllBytes(damaged);
            byte[] flipped = (byte[])original.Clone();
            flipped[50] ^= 0x01;
            File.WriteAllBytes(damaged, flipped);
            var badChecksum = VerifyBackup(dir);
            Assert.True(badChecksum.ExitCode != 0, badChecksum.Output);
            Assert.Contains("checksum mismatch for file \"base/1/1259\"", badChecksum.Output, StringComparison.Ordinal);

            // One byte longer: a size mismatch naming the file.
            File.WriteAllBytes(damaged, [.. original, 0]);
            var badSize = VerifyBackup(dir);
            Assert.True(badSize.ExitCode != 0, badSize.Output);
            Assert.Contains("\"base/1/1259\" has size", badSize.Output, StringComparison.Ordinal);
            File.WriteAllBytes(damaged, original);
            Assert.Equal(0, VerifyBackup(dir).ExitCode);

            // One digit of a Last-Modified (a field pg_verifybackup otherwise ignores) changed: the JSON
            // still parses, so only the manifest checksum catches it.
            byte[] edited = (byte[])manifest.Clone();
            int at = Encoding.UTF8.GetString(manifest).IndexOf(" GMT\"", StringComparison.Ordinal) - 1;
            edited[at] = (byte)(edited[at] == (byte)'0' ? '1' : '0');
            File.WriteAllBytes(manifestPath, edited);
            var badManifest = VerifyBackup(dir);
            Assert.True(badManifest.ExitCode != 0, badManifest.Output);
            Assert.Contains("manifest checksum mismatch", badManifest.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>pg_verifybackup without WAL parsing (there is no pg_wal here); it runs fine as root.</summary>
    private static (int ExitCode, string Output) VerifyBackup(string dir)
    {
        var psi = new ProcessStartInfo(new ToolLocator(null).Find("pg_verifybackup", 13).Path)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "--no-parse-wal", "--exit-on-error", dir }) psi.ArgumentList.Add(a);
        psi.Environment["LC_MESSAGES"] = "C";
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}

/// <summary>LSN text as PostgreSQL writes and reads it.</summary>
public sealed class PgBackupManifestLsnTests
{
    [Theory]
    [InlineData(0x2000028UL, "0/2000028")]
    [InlineData(0x16B374D848UL, "16/B374D848")]
    [InlineData(0UL, "0/0")]
    [InlineData(0x100000000UL, "1/0")]
    [InlineData(ulong.MaxValue, "FFFFFFFF/FFFFFFFF")]
    public void Formats_and_parses_like_postgres(ulong lsn, string text)
    {
        Assert.Equal(text, Lsn.FormatLsn(lsn));
        Assert.Equal(lsn, Lsn.ParseLsn(text));
    }

    [Fact]
    public void Parsing_accepts_lower_case_and_leading_zeros() =>
        Assert.Equal(0x16B374D848UL, Lsn.ParseLsn("00000016/b374d848"));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("/1")]
    [InlineData("1/")]
    [InlineData("1/2/3")]
    [InlineData("123456789/0")]
    [InlineData("0/123456789")]
    [InlineData(" 0/1")]
    [InlineData("0/1 ")]
    [InlineData("+0/1")]
    [InlineData("0/-1")]
    [InlineData("0x1/2")]
    [InlineData("G/1")]
    public void Bad_text_is_a_format_error(string text) => Assert.Throws<FormatException>(() => Lsn.ParseLsn(text));
}
