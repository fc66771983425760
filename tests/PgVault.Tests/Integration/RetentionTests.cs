using System.Diagnostics;
using PgVault.Tests.Infrastructure;
using Xunit;
using static PgVault.Tests.Integration.Retention;

namespace PgVault.Tests.Integration;

/// <summary>
/// Retention end to end on a filesystem repository with continuous WAL archiving (issue 11):
/// expire, delete and keep on copies of <see cref="RetentionFixture"/>'s repository, then restores
/// that start; kill -9 of expire at several points.
/// </summary>
public sealed class RetentionTests(RetentionFixture fixture) : IClassFixture<RetentionFixture>
{
    [Fact]
    public async Task Expire_full_2_removes_the_oldest_chain_and_its_WAL_and_every_kept_backup_restores()
    {
        var (config, repo) = await CopyAsync(fixture, "full: 2");
        var original = Files(repo);
        string anchor = Position(await StartWalAsync(config, fixture.F2));
        string[] removed = [fixture.F1, fixture.I1, fixture.D1];
        string[] kept = [fixture.F2, fixture.I2, fixture.F3, fixture.I3];

        var dry = await OkAsync(config, "expire", "--dry-run", "--output", "json");
        Assert.Equal(removed, Decisions(dry).Where(d => !d.Value.Keep).Select(d => d.Key).Order(StringComparer.Ordinal));
        Assert.Equal(original, Files(repo)); // a dry run changes nothing

        var expire = await OkAsync(config, "expire", "--output", "json");
        var decisions = Decisions(expire);
        Assert.Equal(removed, decisions.Where(d => !d.Value.Keep).Select(d => d.Key).Order(StringComparer.Ordinal));
        Assert.Contains("newest 2 full backups", decisions[fixture.F3].Reasons, StringComparison.Ordinal);
        Assert.Empty(Repository(expire).GetProperty("wal_gaps").EnumerateArray());
        Assert.Equal(kept, await ListAsync(config));

        // Nothing the policy removes is left: no object of the removed backups, no WAL before F2's start.
        foreach (var id in removed) Assert.Empty(BackupFiles(repo, id));
        foreach (var id in kept) Assert.Equal(original.Where(f => f.StartsWith($"backups/{id}/", StringComparison.Ordinal)), BackupFiles(repo, id));
        var segments = Segments(repo);
        Assert.DoesNotContain(segments, s => string.CompareOrdinal(Position(s), anchor) < 0);
        var before = Segments(fixture.RepoPath).Where(s => string.CompareOrdinal(Position(s), anchor) >= 0 && string.CompareOrdinal(s, segments[^1]) <= 0);
        Assert.Equal(before, segments); // and all WAL from it on stays
        Assert.True(original.Count(f => f.StartsWith("wal/", StringComparison.Ordinal)) > segments.Count + 20, "the WAL switches between D1 and F2 were removed");

        foreach (var id in kept) await AssertRestoresAsync(fixture, config, id, fixture.RowsAt[id]);

        // PITR inside the window: exactly the rows committed before the target.
        var (rows, time) = fixture.PitrTarget;
        Assert.Equal((rows, rows), await RestoreAndCountAsync(fixture, config, "pitr-in-window", [], "--target-time", time, "--target-action", "promote"));

        // Before the window (before the oldest kept backup): refused with one clear line, nothing written.
        string dir = fixture.NewRestoreDir("pitr-before-window");
        var refused = await RunAsync(config, "restore", "--pgdata", dir, "--target-time", fixture.BeforeF2, "--target-action", "promote");
        Assert.Equal(1, refused.ExitCode);
        var error = Assert.Single(refused.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Contains("no physical backup of cluster 'main' finished before", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task Dry_run_with_now_previews_a_later_pitr_window_and_changes_nothing()
    {
        var (config, repo) = await CopyAsync(fixture, "pitr_window: 1h");
        var original = Files(repo);

        var today = Decisions(await OkAsync(config, "expire", "--dry-run", "--output", "json"));
        Assert.All(fixture.All, id => Assert.True(today[id].Keep, $"{id}: {today[id].Reasons}"));

        string later = DateTimeOffset.UtcNow.AddHours(3).ToString("yyyy-MM-dd HH:mm:ss+00");
        var preview = await OkAsync(config, "expire", "--dry-run", "--now", later, "--output", "json");
        var decisions = Decisions(preview);
        Assert.Equal([fixture.F3, fixture.I3], decisions.Where(d => d.Value.Keep).Select(d => d.Key).Order(StringComparer.Ordinal));
        Assert.Contains("anchors the 1-hour PITR window", decisions[fixture.I3].Reasons, StringComparison.Ordinal);
        Assert.Contains("referenced by 1 kept backup", decisions[fixture.F3].Reasons, StringComparison.Ordinal);
        Assert.Equal("no rule keeps it", decisions[fixture.F2].Reasons);
        Assert.Equal(original, Files(repo));

        var real = await RunAsync(config, "expire", "--now", later);
        Assert.Equal(2, real.ExitCode);
        Assert.Contains("--now is only allowed with --dry-run", real.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_is_refused_for_referenced_or_pinned_backups_and_a_released_pin_expires()
    {
        var (config, repo) = await CopyAsync(fixture, "full: 1");

        var refused = await RunAsync(config, "delete", fixture.F2);
        Assert.Equal(1, refused.ExitCode);
        var error = Assert.Single(refused.ErrorLines, l => l.StartsWith("pgvault: error:", StringComparison.Ordinal));
        Assert.Contains($"backup {fixture.F2} is referenced by {fixture.I2}", error, StringComparison.Ordinal);
        Assert.Contains("--with-dependents", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(fixture.All, await ListAsync(config));

        await OkAsync(config, "delete", fixture.F2, "--with-dependents");
        Assert.Equal([fixture.F1, fixture.I1, fixture.D1, fixture.F3, fixture.I3], await ListAsync(config));
        Assert.Empty(BackupFiles(repo, fixture.F2));
        Assert.Empty(BackupFiles(repo, fixture.I2));

        await OkAsync(config, "keep", fixture.F1, "--forever");
        var expire = await OkAsync(config, "expire", "--output", "json");
        var decisions = Decisions(expire);
        Assert.True(decisions[fixture.F1].Keep);
        Assert.Contains("pinned forever", decisions[fixture.F1].Reasons, StringComparison.Ordinal);
        Assert.Equal("consistent", Repository(expire).GetProperty("decisions").EnumerateArray().Single(d => d.GetProperty("id").GetString() == fixture.F1).GetProperty("mode").GetString());
        Assert.False(decisions[fixture.I1].Keep);
        Assert.Equal("no rule keeps it", decisions[fixture.D1].Reasons);
        Assert.Contains("newest 1 full backup", decisions[fixture.F3].Reasons, StringComparison.Ordinal);
        Assert.Equal([fixture.F1, fixture.F3, fixture.I3], await ListAsync(config));
        // The pinned backup is consistent-only: the WAL from its start to its stop stayed, and it restores.
        await AssertRestoresAsync(fixture, config, fixture.F1, fixture.RowsAt[fixture.F1]);

        var pinned = await RunAsync(config, "delete", fixture.F1);
        Assert.Equal(1, pinned.ExitCode);
        Assert.Contains($"backup {fixture.F1} is pinned", pinned.Stderr, StringComparison.Ordinal);
        Assert.Contains($"pgvault keep {fixture.F1} --release", pinned.Stderr, StringComparison.Ordinal);

        await OkAsync(config, "keep", fixture.F1, "--release");
        var after = Decisions(await OkAsync(config, "expire", "--output", "json"));
        Assert.False(after[fixture.F1].Keep);
        Assert.Equal([fixture.F3, fixture.I3], await ListAsync(config));
        Assert.Empty(BackupFiles(repo, fixture.F1));
    }

    /// <summary>Where a round kills the expire: at its first expiring marker, in its WAL removal, in its backup removal, or after a random delay.</summary>
    public enum KillPoint { Marked, RemovingWal, RemovingBackups, Random }

    [Fact]
    public async Task Kill_9_of_expire_at_any_point_leaves_only_restorable_backups_listed_and_the_next_expire_finishes()
    {
        // The outcome of an uninterrupted expire, to compare every interrupted one with.
        var (refConfig, refRepo) = await CopyAsync(fixture, "full: 1");
        var original = Files(refRepo);
        var clock = Stopwatch.StartNew();
        await OkAsync(refConfig, "expire");
        int fullRunMs = (int)clock.ElapsedMilliseconds;
        var expected = Files(refRepo);
        var walBefore = original.Count(f => f.StartsWith("wal/", StringComparison.Ordinal));
        var doomed = original.Count(f => fixture.All.Take(5).Any(id => f.StartsWith($"backups/{id}/", StringComparison.Ordinal)));

        var random = new Random();
        int interrupted = 0;
        KillPoint[] rounds = [KillPoint.Marked, KillPoint.RemovingWal, KillPoint.RemovingBackups, KillPoint.Random, KillPoint.Random, KillPoint.Random];
        foreach (var point in rounds)
        {
            var (config, repo) = await CopyAsync(fixture, "full: 1");
            int delay = random.Next(fullRunMs);
            Func<bool> reached = point switch
            {
                KillPoint.Marked => () => Directory.GetFiles(Path.Combine(repo, "clusters/main/backups"), "expiring.json", SearchOption.AllDirectories).Length > 0,
                KillPoint.RemovingWal => () => Directory.GetFiles(Path.Combine(repo, "clusters/main/wal"), "*", SearchOption.AllDirectories).Length < walBefore,
                KillPoint.RemovingBackups => () => fixture.All.Take(5).Sum(id => CountFiles(Path.Combine(repo, "clusters/main/backups", id))) < doomed,
                _ => () => clock.ElapsedMilliseconds >= delay,
            };
            using var process = PgVaultCli.Start(["--config", config, "expire"]);
            clock.Restart();
            while (!process.HasExited && !Safe(reached)) await Task.Delay(1);
            bool killed = !process.HasExited;
            if (killed) process.Kill(); // SIGKILL
            await process.WaitForExitAsync();

            // Every listed backup is whole (exactly its original objects, no expiring marker) and has its WAL.
            var listed = await ListAsync(config);
            Assert.Contains(fixture.I3, listed);
            foreach (var id in listed)
            {
                Assert.Equal(original.Where(f => f.StartsWith($"backups/{id}/", StringComparison.Ordinal)), BackupFiles(repo, id));
                string start = Position(await StartWalAsync(config, id));
                Assert.Empty(SegmentsIn(original).Where(s => string.CompareOrdinal(Position(s), start) >= 0).Except(Segments(repo)));
            }
            if (point == KillPoint.RemovingWal)
            {
                // The most delicate moment: restore the oldest and the newest listed backups and start them.
                await AssertRestoresAsync(fixture, config, listed[0], fixture.RowsAt[listed[0]]);
                if (listed.Count > 1) await AssertRestoresAsync(fixture, config, listed[^1], fixture.RowsAt[listed[^1]]);
            }

            // The next expire finishes the job: the same objects as an uninterrupted run, no marker left.
            var next = await OkAsync(config, "expire", "--output", "json");
            var repoResult = Repository(next);
            if (repoResult.GetProperty("finished").GetArrayLength() > 0 || repoResult.GetProperty("objects_removed").GetInt32() > 0) interrupted++;
            Assert.Equal(expected, Files(repo));
            Assert.Empty(Directory.GetFiles(Path.Combine(repo, "clusters/main/backups"), "expiring.json", SearchOption.AllDirectories));
            Assert.Equal([fixture.F3, fixture.I3], await ListAsync(config));
        }
        Assert.True(interrupted > 0, "no round killed the expire while it had work left");
    }

    /// <summary>WAL segment names in a <see cref="Retention.Files"/> set.</summary>
    private static IEnumerable<string> SegmentsIn(IEnumerable<string> files) =>
        files.Where(f => f.StartsWith("wal/", StringComparison.Ordinal)).Select(f => Path.GetFileName(f.Split(' ')[0]))
            .Where(n => n.Length > 25 && n[24] == '-').Select(n => n[..24]).Distinct();

    private static int CountFiles(string dir) => Directory.Exists(dir) ? Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Length : 0;

    private static bool Safe(Func<bool> condition)
    {
        try
        {
            return condition();
        }
        catch (IOException)
        {
            return false; // a directory vanished while we looked
        }
    }
}
