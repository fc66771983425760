using System.Diagnostics;
using Npgsql;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// A damaged archived WAL segment between a backup and the end of the archive: restore refuses
/// before writing (and --plan names the segment), archive-get fails recovery with a fatal status
/// instead of reading as "end of archive", and a restored server whose WAL is damaged afterwards
/// never promotes short. The tests damage and repair the archive in turn, so they run one at a time.
/// </summary>
public sealed class DamagedWalTests(DamagedWalFixture fixture) : IClassFixture<DamagedWalFixture>
{
    [Fact]
    public async Task DamagedWalSegment_FailsRestoreBeforeWritingAndPlanNamesIt()
    {
        using var damage = fixture.Damage(fixture.DamagedSegment);
        string dir = fixture.NewRestoreDir("damaged-wal");
        var restore = await fixture.RunAsync("restore", "--pgdata", dir, "--archive-mode", "off");
        Assert.True(restore.ExitCode != 0, restore.ToString());
        Assert.Contains($"WAL segment {fixture.DamagedSegment} has no intact copy in any repository", restore.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));

        var plan = await fixture.RunAsync("restore", "--pgdata", dir, "--plan");
        Assert.True(plan.ExitCode != 0, plan.ToString());
        Assert.Contains(fixture.DamagedSegment, plan.Stderr, StringComparison.Ordinal);
        Assert.Contains("corrupt object", plan.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task DamagedWalSegment_ArchiveGetExitsFatallyNamingTheObject()
    {
        string fetched = Path.Combine(fixture.Root, "fetched-" + fixture.DamagedSegment);
        using (fixture.Damage(fixture.DamagedSegment))
        {
            var get = await fixture.RunAsync("archive-get", fixture.DamagedSegment, fetched);
            Assert.True(get.ExitCode == 255, get.ToString());
            Assert.Contains($"WAL file {fixture.DamagedSegment} is archived but no repository has an intact copy", get.Stderr, StringComparison.Ordinal);
            Assert.Contains($"corrupt object 'clusters/main/wal/", get.Stderr, StringComparison.Ordinal);
            Assert.False(File.Exists(fetched));
        }
        // Absent everywhere is still the quiet end of the archive.
        var absent = await fixture.RunAsync("archive-get", "00000001000000FF000000FE", fetched);
        Assert.Equal(1, absent.ExitCode);
        Assert.Equal("", absent.Stderr);
    }

    [Fact]
    public async Task SegmentStoredUnderAnothersName_IsDamagedForArchiveGet()
    {
        // A valid object of one segment planted under the next segment's name (with a checksum
        // that matches its content): only the segment header can tell.
        string victim = fixture.DamagedSegment;
        string source = fixture.Segments[fixture.Segments.IndexOf(victim) - 1];
        string victimObject = fixture.StoredObject(victim);
        string sourceObject = fixture.StoredObject(source);
        string sourceFile = Path.GetFileName(sourceObject);
        string planted = Path.Combine(Path.GetDirectoryName(victimObject)!, victim + sourceFile[24..]);
        string aside = victimObject + ".aside";
        File.Move(victimObject, aside);
        File.Copy(sourceObject, planted);
        try
        {
            string fetched = Path.Combine(fixture.Root, "swapped-" + victim);
            var get = await fixture.RunAsync("archive-get", victim, fetched);
            Assert.True(get.ExitCode == 255, get.ToString());
            Assert.Contains("stored under another's name", get.Stderr, StringComparison.Ordinal);
            Assert.False(File.Exists(fetched));
        }
        finally
        {
            File.Delete(planted);
            File.Move(aside, victimObject);
        }
    }

    [Fact]
    public async Task DamagedWalSegment_FailsRecoveryInsteadOfPromotingShort()
    {
        string dir = fixture.NewRestoreDir("damaged-after");
        var restore = await fixture.RunAsync("restore", "--pgdata", dir, "--archive-mode", "off");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Contains($"at most LSN {fixture.EndLsn}", restore.Stdout, StringComparison.Ordinal);

        // The pre-check passed; the damage happens between restore and start.
        using var damage = fixture.Damage(fixture.DamagedSegment);
        string log = await StartUntilStoppedOrPromotedAsync(dir);
        Assert.Contains($"could not restore file \"{fixture.DamagedSegment}\" from archive", log, StringComparison.Ordinal);
        Assert.Contains("FATAL", log, StringComparison.Ordinal);
        Assert.DoesNotContain("archive recovery complete", log, StringComparison.Ordinal);
        Assert.DoesNotContain("redo done at", log, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Intact_archive_restores_to_the_end_with_every_row_and_reports_the_lsn_it_reaches()
    {
        string dir = fixture.NewRestoreDir("intact");
        var restore = await fixture.RunAsync("restore", "--pgdata", dir, "--archive-mode", "off", "--output", "json");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal(fixture.EndLsn, restore.Json.GetProperty("plan").GetProperty("wal_end_lsn").GetString());
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(fixture.PrimaryRows, await server.ScalarAsync<long>("SELECT count(*) FROM filler"));
        Assert.Contains("redo done at", server.Log(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Starts a server on <paramref name="dir"/> without waiting for it, then waits until it has
    /// exited (returns its log); fails the test as soon as the log says recovery completed.
    /// </summary>
    private static async Task<string> StartUntilStoppedOrPromotedAsync(string dir)
    {
        string runDir = Directory.CreateTempSubdirectory("pgvault-damaged-").FullName;
        await ArchivingFixture.Chown("postgres:postgres", runDir);
        string logFile = Path.Combine(runDir, "server.log");
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        const string pgCtl = "/usr/lib/postgresql/15/bin/pg_ctl";
        try
        {
            await RestoredServer.RunAsPostgresAsync(pgCtl, "-D", dir, "-l", logFile, "-W", "-o", $"-p {port} -k {runDir} -c listen_addresses=''", "start");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(120))
            {
                await Task.Delay(250);
                string log = File.Exists(logFile) ? File.ReadAllText(logFile) : "";
                Assert.False(log.Contains("archive recovery complete", StringComparison.Ordinal), "the server promoted:\n" + log);
                if (log.Contains("database system is shut down", StringComparison.Ordinal) && !File.Exists(Path.Combine(dir, "postmaster.pid"))) return log;
            }
            throw new TimeoutException("the server neither stopped nor promoted:\n" + File.ReadAllText(logFile));
        }
        finally
        {
            await RestoredServer.RunAsPostgresAsync(pgCtl, "-D", dir, "-m", "immediate", "-w", "stop");
            Directory.Delete(runDir, recursive: true);
        }
    }
}

/// <summary>
/// A full backup, then three batches of rows each in a segment of its own (all archived); the
/// middle batch's segment is the one the tests damage.
/// </summary>
public sealed class DamagedWalFixture : PhysicalFixture
{
    public string DamagedSegment { get; private set; } = "";

    /// <summary>Segments archived after the backup, in order.</summary>
    public List<string> Segments { get; private set; } = [];

    public long PrimaryRows { get; private set; }

    /// <summary>The LSN at the end of the last archived segment.</summary>
    public string EndLsn { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecAsync("postgres", "CREATE TABLE filler (id bigint PRIMARY KEY, pad text)");
        await BackupAsync("full");
        string before = await SwitchWalAsync();
        for (int batch = 0; batch < 3; batch++)
        {
            await ExecAsync("postgres", $"INSERT INTO filler SELECT g, repeat('x', 100) FROM generate_series({batch * 2000 + 1}, {(batch + 1) * 2000}) g");
            string segment = await ScalarAsync<string>("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
            if (batch == 1) DamagedSegment = segment;
            await WaitArchivedAsync(await SwitchWalAsync());
        }
        PrimaryRows = await ScalarAsync<long>("postgres", "SELECT count(*) FROM filler");
        Segments = ArchivedSegments().Where(s => string.CompareOrdinal(s, before) > 0).ToList();
        string last = ArchivedSegments()[^1];
        var (_, number) = PgVault.Core.PostgreSql.WalSegments.Parse(last, 16 << 20);
        EndLsn = PgVault.Core.PostgreSql.Lsn.FormatLsn((number + 1) * (16UL << 20));
    }

    /// <summary>The stored object of <paramref name="segment"/> in the repository.</summary>
    public string StoredObject(string segment) =>
        Directory.GetFiles(Path.Combine(RepoPath, "clusters", "main", "wal"), segment + "-*", SearchOption.AllDirectories).Single();

    /// <summary>Flips one byte in the middle of the stored object of <paramref name="segment"/>; disposing puts it back.</summary>
    public IDisposable Damage(string segment)
    {
        string file = StoredObject(segment);
        byte[] original = File.ReadAllBytes(file);
        byte[] damaged = (byte[])original.Clone();
        damaged[damaged.Length / 2] ^= 0x5A;
        File.WriteAllBytes(file, damaged);
        return new Repair(file, original);
    }

    private sealed class Repair(string file, byte[] original) : IDisposable
    {
        public void Dispose() => File.WriteAllBytes(file, original);
    }
}
