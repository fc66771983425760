using Npgsql;
using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// Point-in-time recovery on a table written continuously (one row per transaction, commit time
/// stamps on): restores to a time, an xid, an LSN and a restore point each bring back exactly the
/// rows committed before the target. The writer runs for the whole class; it is paused only
/// where a target has to sit between two known commits.
/// </summary>
public sealed class PitrTests(PitrFixture fixture) : IClassFixture<PitrFixture>
{
    [Fact]
    public async Task Time_target_restores_exactly_the_rows_committed_before_it_and_picks_the_backup_that_ended_before_it()
    {
        var (rows, target) = await fixture.TimeTargetAsync();
        string dir = fixture.NewRestoreDir("pitr-time");
        var result = await fixture.RunAsync("restore", "--pgdata", dir, "--target-time", target, "--target-action", "promote", "--archive-mode", "off", "--output", "json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(fixture.FirstBackup, result.Json.GetProperty("plan").GetProperty("backup_id").GetString());
        await fixture.AssertRowsAsync(dir, rows);
    }

    [Fact]
    public async Task Xid_target_restores_up_to_and_including_that_transaction()
    {
        var (rows, xid) = fixture.XidTarget;
        string dir = fixture.NewRestoreDir("pitr-xid");
        var result = await fixture.RunAsync("restore", "--backup", fixture.FirstBackup, "--pgdata", dir, "--target-xid", xid, "--target-action", "promote", "--archive-mode", "off");
        Assert.True(result.ExitCode == 0, result.ToString());
        await fixture.AssertRowsAsync(dir, rows);

        string exclusive = fixture.NewRestoreDir("pitr-xid-excl");
        var excl = await fixture.RunAsync("restore", "--backup", fixture.FirstBackup, "--pgdata", exclusive, "--target-xid", xid, "--target-exclusive", "--target-action", "promote", "--archive-mode", "off");
        Assert.True(excl.ExitCode == 0, excl.ToString());
        await fixture.AssertRowsAsync(exclusive, rows - 1);
    }

    [Fact]
    public async Task Lsn_target_restores_the_rows_before_it_and_picks_the_newest_backup_before_it()
    {
        var (rows, lsn) = fixture.LsnTarget;
        string dir = fixture.NewRestoreDir("pitr-lsn");
        var result = await fixture.RunAsync("restore", "--pgdata", dir, "--target-lsn", lsn, "--target-action", "promote", "--archive-mode", "off", "--output", "json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(fixture.SecondBackup, result.Json.GetProperty("plan").GetProperty("backup_id").GetString());
        await fixture.AssertRowsAsync(dir, rows);
    }

    [Fact]
    public async Task Name_target_restores_to_the_restore_point()
    {
        var (rows, name) = fixture.NameTarget;
        string dir = fixture.NewRestoreDir("pitr-name");
        var result = await fixture.RunAsync("restore", "--pgdata", dir, "--target-name", name, "--target-action", "promote", "--archive-mode", "off");
        Assert.True(result.ExitCode == 0, result.ToString());
        // Recovery fetches the WAL through pgvault-wal, the WAL commands' own binary next to pgvault.
        string restoreCommand = File.ReadAllLines(Path.Combine(dir, "postgresql.auto.conf")).Single(l => l.StartsWith("restore_command", StringComparison.Ordinal));
        Assert.Contains(PgVaultCli.WalCommand[^1], restoreCommand, StringComparison.Ordinal);
        await fixture.AssertRowsAsync(dir, rows);
    }

    [Fact]
    public async Task Pause_action_leaves_the_server_in_recovery_at_the_target()
    {
        var (rows, name) = fixture.NameTarget;
        string dir = fixture.NewRestoreDir("pitr-pause");
        var result = await fixture.RunAsync("restore", "--pgdata", dir, "--target-name", name, "--target-action", "pause", "--archive-mode", "off");
        Assert.True(result.ExitCode == 0, result.ToString());
        await using var server = await RestoredServer.StartAsync(dir);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await server.ScalarAsync<string>("SELECT pg_get_wal_replay_pause_state()") != "paused")
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), server.Log());
            await Task.Delay(100);
        }
        Assert.True(await server.ScalarAsync<bool>("SELECT pg_is_in_recovery()"));
        Assert.Equal(rows, await server.ScalarAsync<long>("SELECT count(*) FROM ticks"));
    }

    [Fact]
    public async Task The_repository_is_encrypted_and_its_packs_hold_no_plaintext()
    {
        var info = await fixture.RunAsync("info", fixture.FirstBackup, "--output", "json");
        Assert.True(info.Json.GetProperty("encrypted").GetBoolean());
        string pack = Directory.GetFiles(Path.Combine(fixture.RepoPath, "clusters/main/backups", fixture.FirstBackup, "pg")).First();
        byte[] head = File.ReadAllBytes(pack)[..4];
        Assert.NotEqual(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, head); // not a bare zstd frame
    }

    [Fact]
    public async Task A_time_target_after_everything_archived_is_refused()
    {
        string dir = fixture.NewRestoreDir("pitr-future");
        var result = await fixture.RunAsync("restore", "--pgdata", dir, "--target-time", DateTimeOffset.UtcNow.AddDays(1).ToString("yyyy-MM-dd HH:mm:ss+00"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("lies after it", result.Stderr);
        Assert.False(Directory.Exists(dir));
    }
}

/// <summary>
/// The cluster of <see cref="PitrTests"/>: a first full backup, then a writer inserting one row
/// per transaction into ticks; targets recorded on the way (an xid, an LSN, a restore point) and a
/// second full backup between them; at the end everything is archived.
/// </summary>
public sealed class PitrFixture : PhysicalFixture
{
    /// <summary>The PITR cluster archives and backs up into an encrypted repository.</summary>
    protected override string ExtraYaml
    {
        get
        {
            string file = Path.Combine(Root, "passphrase");
            if (!File.Exists(file))
            {
                File.WriteAllText(file, "pitr tests passphrase\n");
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            return $"encryption:\n  passphrase_file: {file}\n";
        }
    }

    private CancellationTokenSource? _stop;
    private Task? _writer;
    private volatile bool _pause;
    private volatile bool _paused;

    public string FirstBackup { get; private set; } = "";
    public string SecondBackup { get; private set; } = "";
    public (long Rows, string Xid) XidTarget { get; private set; }
    public (long Rows, string Lsn) LsnTarget { get; private set; }
    public (long Rows, string Name) NameTarget { get; private set; }

    public override async Task InitializeAsync()
    {
        await Chown("postgres:postgres", Path.Combine(Root, "passphrase"));
        await base.InitializeAsync();
        await ExecAsync("postgres", "CREATE TABLE ticks (id bigint PRIMARY KEY, xid xid8 NOT NULL DEFAULT pg_current_xact_id(), at timestamptz NOT NULL DEFAULT clock_timestamp())");
        FirstBackup = await BackupAsync("full");
        _stop = new CancellationTokenSource();
        _writer = Task.Run(() => WriteAsync(_stop.Token));
        await WaitRowsAsync(200);

        long xidRows = await PausedAsync(async rows =>
        {
            string xid = await ScalarAsync<string>("postgres", $"SELECT xid::text FROM ticks WHERE id = {rows}");
            XidTarget = (rows, xid);
        });
        await WaitRowsAsync(xidRows + 100);
        SecondBackup = await BackupAsync("full");
        await WaitRowsAsync(await CountAsync() + 100);
        await PausedAsync(async rows => LsnTarget = (rows, await ScalarAsync<string>("postgres", "SELECT pg_current_wal_insert_lsn()::text")));
        await WaitRowsAsync(await CountAsync() + 100);
        await PausedAsync(async rows =>
        {
            var result = await RunAsync("restore-point", "pitr-point");
            if (result.ExitCode != 0) throw new InvalidOperationException(result.ToString());
            NameTarget = (rows, "pitr-point");
        });
        await WaitRowsAsync(await CountAsync() + 100);
        _stop.Cancel();
        await _writer;
        await ArchiveEverythingAsync();
    }

    /// <summary>
    /// A time between two commits made after the first backup but before the second (from the
    /// commit time stamps), and how many rows were committed by then.
    /// </summary>
    public async Task<(long Rows, string Time)> TimeTargetAsync()
    {
        long rows = XidTarget.Rows - 50;
        var a = await ScalarAsync<DateTime>("postgres", $"SELECT pg_xact_commit_timestamp(xmin) FROM ticks WHERE id = {rows}");
        var b = await ScalarAsync<DateTime>("postgres", $"SELECT pg_xact_commit_timestamp(xmin) FROM ticks WHERE id = {rows + 1}");
        Assert.True(b > a);
        var middle = new DateTime(a.Ticks + (b.Ticks - a.Ticks) / 2, DateTimeKind.Utc);
        return (rows, middle.ToString("yyyy-MM-dd HH:mm:ss.ffffff+00"));
    }

    /// <summary>Starts a server on a restored directory, waits for promotion, checks ticks holds rows 1..<paramref name="rows"/> exactly.</summary>
    public async Task AssertRowsAsync(string dir, long rows)
    {
        await using var server = await RestoredServer.StartAsync(dir);
        await server.WaitPromotedAsync();
        Assert.Equal(rows, await server.ScalarAsync<long>("SELECT count(*) FROM ticks"));
        Assert.Equal(rows, await server.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM ticks"));
    }

    public override async Task DisposeAsync()
    {
        _stop?.Cancel();
        if (_writer != null)
        {
            try { await _writer; } catch (OperationCanceledException) { }
        }
        await base.DisposeAsync();
    }

    private async Task WriteAsync(CancellationToken ct)
    {
        await using var connection = Open();
        long id = 0;
        while (!ct.IsCancellationRequested)
        {
            if (_pause)
            {
                _paused = true;
                await Task.Delay(5, CancellationToken.None);
                continue;
            }
            _paused = false;
            await using var insert = new NpgsqlCommand($"INSERT INTO ticks (id) VALUES ({++id})", connection);
            await insert.ExecuteNonQueryAsync(CancellationToken.None);
            await Task.Delay(2, CancellationToken.None);
        }
    }

    /// <summary>Pauses the writer (no transaction in flight), runs <paramref name="action"/> with the row count, resumes.</summary>
    private async Task<long> PausedAsync(Func<long, Task> action)
    {
        _pause = true;
        while (!_paused) await Task.Delay(5);
        long rows = await CountAsync();
        await action(rows);
        _pause = false;
        while (_paused) await Task.Delay(5);
        return rows;
    }

    private Task<long> CountAsync() => ScalarAsync<long>("postgres", "SELECT count(*) FROM ticks");

    private async Task WaitRowsAsync(long rows)
    {
        while (await CountAsync() < rows) await Task.Delay(20);
    }
}
