using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using PgVault.Core.Repository;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// A physical restore writes only inside its targets, never through a link another user planted,
/// only over a PostgreSQL data directory with --delta/--force, and only from packs that are whole.
/// </summary>
public sealed class RestoreSafetyTests(PhysicalFixture fixture) : IClassFixture<PhysicalFixture>
{
    [Theory]
    [InlineData("../escaped-{0}")]
    [InlineData("/tmp/pgvault-escaped-{0}")]
    public async Task A_manifest_path_outside_the_data_directory_is_refused_before_anything_is_written(string pattern)
    {
        string id = await fixture.BackupAsync("full");
        var (config, repo) = fixture.CopyRepository();
        string tag = Guid.NewGuid().ToString("N")[..8];
        string evil = string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, tag);
        RewriteManifest(repo, id, manifest =>
        {
            var files = manifest["physical"]!["files"]!.AsArray();
            var copy = files.First(f => (long)f!["size"]! > 0)!.DeepClone();
            copy["path"] = evil;
            files.Add(copy);
        });
        string dir = fixture.NewRestoreDir("escape");
        var result = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", id, "--pgdata", dir, "--archive-mode", "off"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("corrupt object", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(evil, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.False(Directory.Exists(dir));
        string escaped = evil.StartsWith('/') ? evil : Path.Combine(dir, evil);
        Assert.False(File.Exists(escaped));
    }

    [Fact]
    public async Task Bytes_appended_to_a_pack_fail_the_restore_naming_the_pack()
    {
        string id = await fixture.BackupAsync("full");
        var (config, repo) = fixture.CopyRepository();
        string pack = Directory.GetFiles(Path.Combine(repo, "clusters/main/backups", id, "pg"), "*.pack").Order(StringComparer.Ordinal).First();
        await File.AppendAllTextAsync(pack, "appended by someone with access to the storage");
        string dir = fixture.NewRestoreDir("appended");
        var result = await PgVaultCli.RunAsync(["--config", config, "restore", "--backup", id, "--pgdata", dir, "--archive-mode", "off"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"backups/{id}/pg/{Path.GetFileName(pack)}", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delta_and_force_refuse_a_directory_that_is_not_this_clusters_data_directory()
    {
        string id = await fixture.BackupAsync("full");
        string[] restore = ["restore", "--backup", id, "--archive-mode", "off", "--pgdata"];

        // A home directory: --delta and --force leave every file alone.
        string home = fixture.NewRestoreDir("home");
        Directory.CreateDirectory(Path.Combine(home, ".ssh"));
        File.WriteAllText(Path.Combine(home, ".ssh", "authorized_keys"), "ssh-ed25519 AAAA");
        File.WriteAllText(Path.Combine(home, "notes.txt"), "keep me");
        var delta = await fixture.RunAsync([.. restore, home, "--delta"]);
        var force = await fixture.RunAsync([.. restore, home, "--force"]);
        foreach (var r in new[] { delta, force })
        {
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("not a PostgreSQL data directory", r.Stderr, StringComparison.Ordinal);
            Assert.Single(r.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        }
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(home, "notes.txt")));
        Assert.Equal("ssh-ed25519 AAAA", File.ReadAllText(Path.Combine(home, ".ssh", "authorized_keys")));
        Assert.Equal(2, Directory.GetFileSystemEntries(home).Length);

        // Another cluster's data directory: --delta refused (its system identifier differs), untouched.
        string other = fixture.NewRestoreDir("other-cluster");
        Directory.CreateDirectory(Path.Combine(other, "global"));
        File.WriteAllText(Path.Combine(other, "PG_VERSION"), "15\n");
        var control = new byte[8192];
        BitConverter.GetBytes(1234567890123456789UL).CopyTo(control, 0);
        File.WriteAllBytes(Path.Combine(other, "global", "pg_control"), control);
        File.WriteAllText(Path.Combine(other, "stray"), "theirs");
        var otherDelta = await fixture.RunAsync([.. restore, other, "--delta"]);
        Assert.Equal(2, otherDelta.ExitCode);
        Assert.Contains("belongs to database system 1234567890123456789", otherDelta.Stderr, StringComparison.Ordinal);
        Assert.Equal("theirs", File.ReadAllText(Path.Combine(other, "stray")));
        Assert.Equal(control, File.ReadAllBytes(Path.Combine(other, "global", "pg_control")));
    }

    [Fact]
    public async Task A_root_restore_never_follows_links_the_postgres_user_plants_while_it_runs()
    {
        Assert.Equal(0, (int)GetEuid()); // this test is about a restore run as root
        await fixture.ExecAsync("postgres", "CREATE TABLE IF NOT EXISTS planted AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g");
        string id = await fixture.BackupAsync("full");
        var info = (await fixture.RunAsync("info", id, "--output", "json")).Json.GetProperty("physical");
        var targets = info.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()!)
            .Where(p => p.StartsWith("base/", StringComparison.Ordinal) || !p.Contains('/'))
            .Concat(["backup_label", "backup_manifest", "postgresql.auto.conf", "recovery.signal"]).Distinct().ToList();

        // The victim: a root-owned file outside the data directory.
        string victimDir = fixture.NewRestoreDir("victim");
        Directory.CreateDirectory(victimDir);
        File.SetUnixFileMode(victimDir, (UnixFileMode)0b111_101_101);
        string victim = Path.Combine(victimDir, "root-only");
        File.WriteAllText(victim, "root's secret");

        // The data directory exists and belongs to postgres, in a directory of postgres's own (as
        // /var/lib/postgresql/15/main does).
        string parent = fixture.NewRestoreDir("planted");
        string dir = Path.Combine(parent, "main");
        Directory.CreateDirectory(dir);
        await ArchivingFixture.Chown("postgres:postgres", parent, dir);
        string list = Path.Combine(victimDir, "targets");
        File.WriteAllLines(list, targets);
        File.SetUnixFileMode(list, (UnixFileMode)0b110_100_100);
        // As soon as it can see the restore's directories, it plants links to the victim wherever a
        // file will be written; once the restore has taken the directory over, it swaps the
        // directory for a link to the victim's directory.
        string script = $"end=$((SECONDS+600)); " +
            $"until [ -d '{dir}/base' ] || [ \"$(stat -c %u '{dir}')\" = 0 ] || [ $SECONDS -ge $end ]; do sleep 0.005; done; " +
            $"while [ $SECONDS -lt $end ]; do " +
            $"if [ \"$(stat -c %u '{dir}')\" = 0 ]; then mv '{dir}' '{dir}.old' && ln -s '{victimDir}' '{dir}'; exit 0; fi; " +
            $"while read -r p; do ln -s '{victim}' '{dir}'/\"$p\" 2>/dev/null; done < '{list}'; done";
        var psi = new ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-u", "postgres", "--", "bash", "-c", script }) psi.ArgumentList.Add(a);
        using var planter = Process.Start(psi)!;
        try
        {
            var result = await fixture.RunAsync("restore", "--backup", id, "--pgdata", dir, "--archive-mode", "off");
            Assert.True(result.ExitCode is 0 or 1, result.ToString());
            Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
            planter.Kill(entireProcessTree: true);
            await planter.WaitForExitAsync();

            Assert.Equal("root's secret", File.ReadAllText(victim));
            Assert.Equal(0, PgVault.Core.IO.Posix.GetOwner(victim).Uid);
            Assert.Equal(2, Directory.GetFileSystemEntries(victimDir).Length); // nothing written through the swapped-in link
            if (new FileInfo(dir).LinkTarget != null) dir += ".old"; // the directory the restore was given, wherever it went
            if (result.ExitCode == 0)
            {
                foreach (var p in targets.Where(p => File.Exists(Path.Combine(dir, p)) || new FileInfo(Path.Combine(dir, p)).LinkTarget != null))
                    Assert.Null(new FileInfo(Path.Combine(dir, p)).LinkTarget);
                var (postgresUid, _) = PgVault.Core.IO.Posix.GetOwner(fixture.Cluster.DataDir);
                Assert.Equal(postgresUid, PgVault.Core.IO.Posix.GetOwner(dir).Uid);
                Assert.Equal(postgresUid, PgVault.Core.IO.Posix.GetOwner(Path.Combine(dir, "base", "1")).Uid);
                Assert.Equal(postgresUid, PgVault.Core.IO.Posix.GetOwner(Path.Combine(dir, "PG_VERSION")).Uid);
                var (ok, output) = await RunAsync("/usr/lib/postgresql/15/bin/pg_verifybackup", "--no-parse-wal", dir);
                Assert.True(ok, output);
            }
        }
        finally
        {
            if (!planter.HasExited) planter.Kill(entireProcessTree: true);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    private static async Task<(bool Ok, string Output)> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode == 0, output);
    }

    /// <summary>Rewrites a manifest of an unencrypted repository as an attacker with storage access would: edited, checksum recomputed.</summary>
    private static void RewriteManifest(string repo, string id, Action<JsonObject> edit)
    {
        string path = Path.Combine(repo, "clusters/main/backups", id, "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        manifest.Remove("checksum");
        edit(manifest);
        var options = new JsonSerializerOptions { WriteIndented = true, TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
        File.WriteAllBytes(path, ChecksummedJson.Serialize(manifest, (JsonTypeInfo<JsonObject>)options.GetTypeInfo(typeof(JsonObject))));
    }
}
