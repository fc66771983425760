using System.Buffers.Binary;
using System.Text.Json;
using PgVault.Core.PostgreSql;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// `pgvault verify` on real backups: a clean repository is valid (exit 0) and an incremental second
/// run reads no data object again; each kind of damage, made in a copy of the repository, is found
/// with exit 1 and a line naming it.
/// </summary>
public sealed class VerifyTests(VerifyFixture fixture) : IClassFixture<VerifyFixture>
{
    private static Task<CliResult> VerifyAsync(string config, params string[] extra) =>
        PgVaultCli.RunAsync(["--config", config, "verify", "--output", "json", .. extra]);

    private static JsonElement Backup(CliResult result, string id) =>
        result.Json.GetProperty("repositories")[0].GetProperty("backups").EnumerateArray().Single(b => b.GetProperty("id").GetString() == id);

    private static string Status(CliResult result, string id) => Backup(result, id).GetProperty("status").GetString()!;

    private static int DataRead(CliResult result) => result.Json.GetProperty("repositories")[0].GetProperty("data_objects_read").GetInt32();

    /// <summary>A failed run: exit 1, the verify-failed code, and the problem on stderr as one line.</summary>
    private static void AssertFails(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.False(result.Json.GetProperty("valid").GetBoolean());
        Assert.Equal("verify-failed", result.Json.GetProperty("error").GetString());
        Assert.Contains(result.ErrorLines, l => l.StartsWith("pgvault: error: ", StringComparison.Ordinal) && l.Contains(expected, StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clean_repository_is_valid_and_a_second_run_reads_no_data_object_again()
    {
        var (config, _) = fixture.CopyRepository();
        var first = await VerifyAsync(config);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(first.Json.GetProperty("valid").GetBoolean());
        foreach (var id in new[] { fixture.Full, fixture.Incr, fixture.Logical }) Assert.Equal("valid", Status(first, id));
        int read = DataRead(first);
        Assert.True(read > 3, first.Stdout);
        var timelines = first.Json.GetProperty("repositories")[0].GetProperty("timelines");
        Assert.Equal(1u, timelines[0].GetProperty("timeline").GetUInt32());
        Assert.NotNull(first.Json.GetProperty("repositories")[0].GetProperty("stored_as").GetString());

        var second = await VerifyAsync(config);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(0, DataRead(second));
        Assert.Equal(read, second.Json.GetProperty("repositories")[0].GetProperty("data_objects_skipped").GetInt32());

        var full = await VerifyAsync(config, "--full");
        Assert.True(full.ExitCode == 0, full.ToString());
        Assert.Equal(read, DataRead(full));

        var text = await PgVaultCli.RunAsync(["--config", config, "verify", "--backup", "latest"]);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("OK: everything verified is valid", text.Stdout, StringComparison.Ordinal);
        var info = await PgVaultCli.RunAsync(["--config", config, "info", fixture.Incr]);
        Assert.Contains("(valid, full; 'pgvault verify')", info.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backup_verify_calls_valid_restores_starts_and_has_the_rows()
    {
        var (config, repo) = fixture.CopyRepository();
        await ArchivingFixture.Chown("-R", "postgres:postgres", Path.GetDirectoryName(repo)!); // the restored server's archive-get reads it
        var verified = await VerifyAsync(config, "--backup", fixture.Incr);
        Assert.True(verified.ExitCode == 0, verified.ToString());
        Assert.Equal("valid", Status(verified, fixture.Incr));
        string dir = fixture.NewRestoreDir("verified");
        var restore = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", fixture.Incr, "--pgdata", dir, "--archive-mode", "off"]);
        Assert.True(restore.ExitCode == 0, restore.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        // The backup's rows and the three inserted after it (the copy's archive holds their WAL).
        Assert.Equal(101003L, await server.ScalarAsync<long>("SELECT count(*) FROM verified"));
    }

    [Fact]
    public async Task A_flipped_byte_in_a_pack_makes_the_backup_and_its_incremental_invalid_naming_the_file()
    {
        var (config, repo) = fixture.CopyRepository();
        var files = VerifyFixture.Manifest(repo, fixture.Full).GetProperty("physical").GetProperty("files").EnumerateArray();
        var file = files.Where(f => f.GetProperty("pack").GetString()!.Length > 0).MaxBy(f => f.GetProperty("length").GetInt64());
        string path = file.GetProperty("path").GetString()!;
        VerifyFixture.FlipByte(Path.Combine(repo, "clusters/main/backups", fixture.Full, file.GetProperty("pack").GetString()!),
            file.GetProperty("offset").GetInt64() + file.GetProperty("length").GetInt64() / 2);
        var result = await VerifyAsync(config);
        AssertFails(result, $"backup {fixture.Full} invalid: {path}");
        Assert.Equal("invalid", Status(result, fixture.Full));
        Assert.Equal("valid", Status(result, fixture.Logical));
        // The incremental restores that file from the full's pack unless it changed since.
        Assert.Contains(result.ErrorLines, l => l.Contains($"backup {fixture.Incr} invalid", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_flipped_byte_in_a_dump_makes_the_logical_backup_invalid()
    {
        var (config, repo) = fixture.CopyRepository();
        string dump = VerifyFixture.Manifest(repo, fixture.Logical).GetProperty("databases")[0].GetProperty("files")[0].GetProperty("object").GetString()!;
        string path = Path.Combine(repo, "clusters/main/backups", fixture.Logical, dump);
        VerifyFixture.FlipByte(path, new FileInfo(path).Length / 2);
        var result = await VerifyAsync(config, "--backup", fixture.Logical);
        AssertFails(result, $"backup {fixture.Logical} invalid: corrupt object 'clusters/main/backups/{fixture.Logical}/{dump}'");
        Assert.Equal("invalid", Status(result, fixture.Logical));
    }

    [Fact]
    public async Task A_truncated_pack_is_invalid()
    {
        var (config, repo) = fixture.CopyRepository();
        string pack = VerifyFixture.Manifest(repo, fixture.Incr).GetProperty("physical").GetProperty("packs")[0].GetProperty("object").GetString()!;
        string path = Path.Combine(repo, "clusters/main/backups", fixture.Incr, pack);
        using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(stream.Length / 2);
        var result = await VerifyAsync(config, "--backup", fixture.Incr);
        AssertFails(result, $"clusters/main/backups/{fixture.Incr}/{pack}");
        Assert.Equal("invalid", Status(result, fixture.Incr));
    }

    [Fact]
    public async Task A_missing_pack_of_the_full_makes_the_incremental_that_references_it_invalid()
    {
        var (config, repo) = fixture.CopyRepository();
        var packs = VerifyFixture.Manifest(repo, fixture.Full).GetProperty("physical").GetProperty("packs").EnumerateArray().ToList();
        string pack = packs.MaxBy(p => p.GetProperty("size_bytes").GetInt64()).GetProperty("object").GetString()!;
        File.Delete(Path.Combine(repo, "clusters/main/backups", fixture.Full, pack));
        var result = await VerifyAsync(config, "--backup", fixture.Incr);
        AssertFails(result, $"backup {fixture.Incr} invalid: object clusters/main/backups/{fixture.Full}/{pack} is missing");
    }

    [Fact]
    public async Task Missing_WAL_inside_a_backups_range_is_wal_missing_naming_the_first_missing_segment()
    {
        var (config, repo) = fixture.CopyRepository();
        string start = VerifyFixture.Manifest(repo, fixture.Incr).GetProperty("physical").GetProperty("start_wal").GetString()!;
        File.Delete(VerifyFixture.StoredSegment(repo, start));
        var result = await VerifyAsync(config, "--backup", fixture.Incr);
        AssertFails(result, $"backup {fixture.Incr} wal-missing: WAL segment {start}");
        Assert.Equal("wal-missing", Status(result, fixture.Incr));
        Assert.Equal(start, Backup(result, fixture.Incr).GetProperty("first_missing_wal").GetString());
    }

    [Fact]
    public async Task A_gap_in_the_archive_after_the_last_backup_is_found()
    {
        var (config, repo) = fixture.CopyRepository();
        string stop = VerifyFixture.Manifest(repo, fixture.Incr).GetProperty("physical").GetProperty("stop_wal").GetString()!;
        var segments = VerifyFixture.Segments(repo);
        string hole = segments.First(s => string.CompareOrdinal(s, stop) > 0);
        Assert.NotEqual(segments[^1], hole);
        File.Delete(VerifyFixture.StoredSegment(repo, hole));
        var result = await VerifyAsync(config);
        AssertFails(result, $"WAL: timeline 1: a gap: segment {hole} is missing");
        Assert.Equal("valid", Status(result, fixture.Incr));
        Assert.Equal(2, result.Json.GetProperty("repositories")[0].GetProperty("timelines")[0].GetProperty("ranges").GetArrayLength());
    }

    [Fact]
    public async Task A_segment_stored_twice_with_different_content_is_found()
    {
        var (config, repo) = fixture.CopyRepository();
        string segment = VerifyFixture.Segments(repo)[^2];
        byte[] content = VerifyFixture.ReadSegment(repo, segment);
        content[content.Length / 2] ^= 0x5A;
        VerifyFixture.WriteSegment(repo, segment, content);
        var result = await VerifyAsync(config, "--wal-only");
        AssertFails(result, $"segment {segment} is stored with 2 different contents");
    }

    [Fact]
    public async Task A_segment_of_a_foreign_system_is_found()
    {
        var (config, repo) = fixture.CopyRepository();
        string last = VerifyFixture.Segments(repo)[^1];
        long size = 16L << 20;
        var (timeline, number) = WalSegments.Parse(last, size);
        string next = WalSegments.Name(timeline, number + 1, size);
        byte[] content = VerifyFixture.ReadSegment(repo, last);
        // The next segment's header (its page address), of another database system.
        BinaryPrimitives.WriteUInt64LittleEndian(content.AsSpan(8), (number + 1) * (ulong)size);
        BinaryPrimitives.WriteUInt64LittleEndian(content.AsSpan(24), 7000000000000000001UL);
        VerifyFixture.WriteSegment(repo, next, content);
        var result = await VerifyAsync(config, "--wal-only");
        AssertFails(result, $"segment {next}");
        Assert.Contains(result.ErrorLines, l => l.Contains("belongs to database system 7000000000000000001", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_segment_whose_header_disagrees_with_its_name_is_found()
    {
        var (config, repo) = fixture.CopyRepository();
        string last = VerifyFixture.Segments(repo)[^1];
        var (timeline, number) = WalSegments.Parse(last, 16L << 20);
        string next = WalSegments.Name(timeline, number + 1, 16L << 20);
        VerifyFixture.WriteSegment(repo, next, VerifyFixture.ReadSegment(repo, last));
        var result = await VerifyAsync(config, "--wal-only");
        AssertFails(result, "a segment stored under another's name");
    }

    [Fact]
    public async Task Sample_reads_a_share_of_the_data_objects_and_bad_options_are_usage_errors()
    {
        var (config, _) = fixture.CopyRepository();
        var all = await VerifyAsync(config, "--full");
        var sample = await VerifyAsync(config, "--sample", "30%", "--full");
        Assert.True(sample.ExitCode == 0, sample.ToString());
        Assert.Equal("sample", sample.Json.GetProperty("mode").GetString());
        Assert.True(DataRead(sample) < DataRead(all), sample.Stdout);
        var bad = await VerifyAsync(config, "--sample", "150%");
        Assert.Equal(2, bad.ExitCode);
        var both = await VerifyAsync(config, "--wal-only", "--backup", "latest");
        Assert.Equal(2, both.ExitCode);
    }
}
