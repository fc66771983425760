using System.Diagnostics;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Monitor;
using PgVault.Core.PostgreSql;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>Thresholds (config and evaluation), the Nagios output and the Prometheus text of `pgvault status`; no server.</summary>
public sealed class StatusChecksTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static PgVaultConfig Parse(string yaml) => ConfigLoader.Parse(yaml, "/etc/pgvault/test.yaml");

    /// <summary>A healthy cluster: a full backup <paramref name="backupAge"/> seconds old, WAL, verify and drill fresh, the server reachable.</summary>
    private static ClusterStatus Status(double backupAge = 3600, double walAge = 12) => new()
    {
        Cluster = "main",
        Time = Now,
        Backups = [new BackupTypeFact { Type = "full", Repository = "local", Count = 2, LastId = "20260301T100000Z-F", LastFinishedAt = Now.AddSeconds(-backupAge), LastAgeSeconds = backupAge, LastDurationSeconds = 42, LastSizeBytes = 1000, LastStoredBytes = 300 }],
        Wal = [new WalFact { Repository = "local", NewestSegment = "000000010000000000000010", NewestArchivedAt = Now.AddSeconds(-walAge), AgeSeconds = walAge, Segments = 16 }],
        Server = new ServerFact
        {
            Reachable = true, ReadyFiles = 0,
            Archiver = new ArchiverStats { ArchiveMode = true, ArchivedCount = 16, LastArchivedWal = "000000010000000000000010", LastArchivedTime = Now.AddSeconds(-walAge), CurrentWal = "000000010000000000000011" },
            Replication = [new ReplicationStats { ApplicationName = "standby \"a\"", State = "streaming", ReplayLagBytes = 4096 }],
        },
        LastVerify = new VerifyFact { Repository = "local", Time = Now.AddHours(-1), Valid = true, AgeSeconds = 3600, LastSuccessAt = Now.AddHours(-1) },
        LastDrill = new DrillFact { Id = "d1", Result = "passed", FinishedAt = Now.AddDays(-1), AgeSeconds = 86400, RtoSeconds = 30, LastSuccessAt = Now.AddDays(-1), LastSuccessRtoSeconds = 30 },
        Repositories = [new RepositoryFact { Repository = "local", Type = "filesystem", SizeBytes = 5000, FreeBytes = 50, TotalBytes = 100, FreePercent = 50 }],
        Recovery = new RecoveryFact { RpoSeconds = walAge, RtoSeconds = 30, WindowSeconds = 7200 },
    };

    private static StatusCheck Check(ClusterStatus s, string name, ThresholdSet? t = null) =>
        StatusChecks.Evaluate(s, t ?? ThresholdSet.Default).Single(c => c.Name == name);

    [Fact]
    public void Thresholds_default_and_are_overridden_per_cluster_key_by_key()
    {
        var config = Parse("""
            alerts:
              thresholds:
                backup_max_age: 30h
                wal_max_age: {warning: 5m, critical: 1h}
                repo_min_free: 20%
            clusters:
              main:
                thresholds:
                  backup_max_age: {warning: 3s, critical: 10s}
                  drill_max_age: off
                objectives: {rpo: 5m, rto: 30m}
              other: {}
            """);
        var main = config.Clusters["main"];
        Assert.Equal(new Threshold(3, 10), main.Thresholds.BackupMaxAge);
        Assert.Equal(new Threshold(300, 3600), main.Thresholds.WalMaxAge);
        Assert.True(main.Thresholds.DrillMaxAge.Off);
        Assert.Equal(20, main.Thresholds.RepoMinFree.Warning);
        Assert.Equal(2 * 86400, main.Thresholds.VerifyMaxAge.Warning);
        Assert.Equal(300, main.Objectives!.RpoSeconds);
        Assert.Equal(1800, main.Objectives.RtoSeconds);
        Assert.Equal(30 * 3600, config.Clusters["other"].Thresholds.BackupMaxAge.Warning);
        Assert.Null(config.Clusters["other"].Objectives);
        Assert.Equal(ThresholdSet.Default, Parse("clusters: {main: {}}").Clusters["main"].Thresholds);
    }

    [Theory]
    [InlineData("alerts: {thresholds: {backup_max_age: soon}}", "alerts.thresholds.backup_max_age")]
    [InlineData("alerts: {thresholds: {wal_age: 5m}}", "unknown key 'alerts.thresholds.wal_age'")]
    [InlineData("alerts: {thresholds: {wal_max_age: {warning: 1h, critical: 5m}}}", "critical must be at least warning")]
    [InlineData("alerts: {thresholds: {repo_min_free: {warning: 10%, critical: 20%}}}", "critical must be at most warning")]
    [InlineData("alerts: {thresholds: {archive_failures: 0}}", "whole number")]
    [InlineData("alerts: {channel: x}", "unknown key 'alerts.channel'")]
    [InlineData("clusters: {main: {objectives: {rpo: fast}}}", "clusters.main.objectives.rpo")]
    public void Bad_thresholds_are_refused_with_the_key(string yaml, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => Parse(yaml));
        Assert.Equal(ErrorCode.ConfigInvalid, e.Code);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backup_age_is_warning_over_the_value_and_critical_at_twice_it_by_default()
    {
        Assert.Equal(CheckState.Ok, Check(Status(backupAge: 25 * 3600), "backup_age").State);
        var warning = Check(Status(backupAge: 27 * 3600), "backup_age");
        Assert.Equal(CheckState.Warning, warning.State);
        Assert.Equal(26 * 3600 * 2, warning.Critical);
        Assert.Equal("newest backup 27h old (20260301T100000Z-F)", warning.Message);
        Assert.Equal(CheckState.Critical, Check(Status(backupAge: 53 * 3600), "backup_age").State);
        var given = ThresholdSet.Default with { BackupMaxAge = new Threshold(3600, 7200) };
        Assert.Equal(CheckState.Critical, Check(Status(backupAge: 7201), "backup_age", given).State);
    }

    [Fact]
    public void No_backup_is_critical_and_never_verified_or_drilled_is_a_warning()
    {
        var s = Status() with { Backups = [], LastVerify = null, LastDrill = null };
        Assert.Equal(CheckState.Critical, Check(s, "backup_age").State);
        Assert.Equal(CheckState.Warning, Check(s, "verify_age").State);
        Assert.Equal(CheckState.Warning, Check(s, "drill_age").State);
        Assert.DoesNotContain(StatusChecks.Evaluate(s, ThresholdSet.Default with { DrillMaxAge = Threshold.Disabled }), c => c.Name == "drill_age");
    }

    [Fact]
    public void A_failed_drill_or_invalid_verify_is_critical_however_recent()
    {
        var s = Status() with
        {
            LastVerify = new VerifyFact { Time = Now, Valid = false, Problems = 2, LastSuccessAt = Now.AddHours(-3) },
            LastDrill = new DrillFact { Result = "failed", FinishedAt = Now, Failure = "checks failed", LastSuccessAt = Now.AddDays(-1) },
        };
        Assert.Equal(CheckState.Critical, Check(s, "verify_age").State);
        Assert.Contains("2 problem(s)", Check(s, "verify_age").Message, StringComparison.Ordinal);
        Assert.Equal(CheckState.Critical, Check(s, "drill_age").State);
        Assert.Contains("failed: checks failed", Check(s, "drill_age").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stale_wal_warns_unless_the_server_is_idle_with_nothing_waiting()
    {
        var stale = Status(walAge: 20 * 60);
        Assert.Equal(CheckState.Ok, Check(stale, "wal_age").State);
        Assert.Contains("archive is current", Check(stale, "wal_age").Message, StringComparison.Ordinal);
        var waiting = stale with { Server = stale.Server with { ReadyFiles = 3 } };
        Assert.Equal(CheckState.Warning, Check(waiting, "wal_age").State);
        var down = stale with { Server = new ServerFact { Reachable = false, Error = "connection refused" } };
        Assert.Equal(CheckState.Warning, Check(down, "wal_age").State);
        Assert.Equal(CheckState.Critical, Check(stale with { Server = waiting.Server }, "wal_age", ThresholdSet.Default with { WalMaxAge = new Threshold(60) }).State);
    }

    [Fact]
    public void Archive_failures_count_only_while_the_archiver_is_failing_and_a_server_that_is_down_is_unknown()
    {
        var s = Status();
        var recovered = s with { Server = s.Server with { Archiver = s.Server.Archiver! with { FailedCount = 5, LastFailedTime = Now.AddHours(-1) } } };
        Assert.Equal(CheckState.Ok, Check(recovered, "archive_failures").State);
        var failing = s with { Server = s.Server with { Archiver = s.Server.Archiver! with { FailedCount = 5, LastFailedWal = "000000010000000000000011", LastFailedTime = Now } } };
        var check = Check(failing, "archive_failures");
        Assert.Equal(CheckState.Warning, check.State);
        Assert.Equal(5, check.Value);
        Assert.Equal(CheckState.Critical, Check(failing, "archive_failures", ThresholdSet.Default with { ArchiveFailures = new Threshold(1, 3) }).State);
        var down = s with { Server = new ServerFact { Reachable = false, Error = "connection refused" } };
        Assert.Equal(CheckState.Unknown, Check(down, "archive_failures").State);
        Assert.Contains("connection refused", Check(down, "archive_failures").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Repository_free_space_warns_under_the_value_and_is_critical_under_half_of_it()
    {
        var s = Status();
        StatusCheck Free(double percent) => Check(s with { Repositories = [s.Repositories[0] with { FreePercent = percent }] }, "repo_free_local");
        Assert.Equal(CheckState.Ok, Free(50).State);
        Assert.Equal(CheckState.Warning, Free(8).State);
        Assert.Equal(CheckState.Critical, Free(4).State);
    }

    [Fact]
    public void Objectives_add_rpo_and_rto_checks()
    {
        var s = Status(walAge: 600) with { Recovery = new RecoveryFact { RpoSeconds = 600, RtoSeconds = 30, ObjectiveRpoSeconds = 300, ObjectiveRtoSeconds = 1800 } };
        Assert.Equal(CheckState.Warning, Check(s, "rpo").State);
        Assert.Equal(CheckState.Ok, Check(s, "rto").State);
        Assert.DoesNotContain(StatusChecks.Evaluate(Status(), ThresholdSet.Default), c => c.Name is "rpo" or "rto");
    }

    [Fact]
    public void Nagios_output_has_the_state_line_perfdata_exit_code_and_one_line_per_further_problem()
    {
        var s = Status(backupAge: 97200);
        s = s with { Checks = StatusChecks.Evaluate(s, ThresholdSet.Default) };
        var (exit, text) = NagiosText.Render([s]);
        Assert.Equal(1, exit);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("PGVAULT WARNING - main: newest backup 27h old (20260301T100000Z-F) | backup_age=97200s;93600;187200 wal_age=12s;900;1800 archive_failures=0;1;", lines[0]);
        Assert.Contains(" repo_free_local=50%;10;5", lines[0], StringComparison.Ordinal);

        var worse = s with { LastDrill = s.LastDrill! with { Result = "failed", Failure = "amcheck | found corruption" } };
        worse = worse with { Checks = StatusChecks.Evaluate(worse, ThresholdSet.Default) };
        (exit, text) = NagiosText.Render([worse]);
        lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(2, exit);
        Assert.StartsWith("PGVAULT CRITICAL - main: last drill (24h ago) failed: amcheck / found corruption | ", lines[0]);
        Assert.Equal("WARNING - main: newest backup 27h old (20260301T100000Z-F)", lines[1]);

        var ok = Status() with { Checks = StatusChecks.Evaluate(Status(), ThresholdSet.Default) };
        (exit, text) = NagiosText.Render([ok]);
        Assert.Equal(0, exit);
        Assert.StartsWith("PGVAULT OK - main: 6 checks OK | ", text);

        var unknown = ok with { Checks = [new StatusCheck { Name = "archive_failures", State = CheckState.Unknown, Message = "server not reachable" }] };
        Assert.Equal(3, NagiosText.Render([unknown]).ExitCode);
        Assert.Equal(1, NagiosText.Render([unknown, s]).ExitCode);
    }

    [Fact]
    public void Prometheus_text_escapes_labels_and_passes_promtool()
    {
        var s = Status() with { Recovery = Status().Recovery with { ObjectiveRpoSeconds = 300 } };
        s = s with { Checks = StatusChecks.Evaluate(s, ThresholdSet.Default) };
        string text = PrometheusText.Render([s], [new TaskRunCount("main", "backup", "success", 3), new TaskRunCount("main", "backup", "failure", 1)]);
        Assert.Contains("# TYPE pgvault_backup_last_success_timestamp_seconds gauge\n", text, StringComparison.Ordinal);
        Assert.Contains($"pgvault_backup_last_success_timestamp_seconds{{cluster=\"main\",repository=\"local\",type=\"full\"}} {Now.AddHours(-1).ToUnixTimeSeconds()}\n", text, StringComparison.Ordinal);
        Assert.Contains("pgvault_replication_lag_bytes{cluster=\"main\",application_name=\"standby \\\"a\\\"\"} 4096\n", text, StringComparison.Ordinal);
        Assert.Contains("pgvault_task_runs_total{cluster=\"main\",task=\"backup\",result=\"failure\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("pgvault_objective_rpo_seconds{cluster=\"main\"} 300\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("pgvault_objective_rto_seconds", text, StringComparison.Ordinal);
        Assert.Equal(@"a\\b\""c\nd", PrometheusText.EscapeLabel("a\\b\"c\nd"));
        AssertPromtoolAccepts(text);
    }

    /// <summary>`promtool check metrics` reads the exposition on stdin: exit 0 and no lint complaint.</summary>
    internal static void AssertPromtoolAccepts(string text)
    {
        var psi = new ProcessStartInfo("/usr/bin/promtool", "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(text);
        process.StandardInput.Close();
        process.WaitForExit();
        string output = stdout.Result + stderr.Result;
        Assert.True(process.ExitCode == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {process.ExitCode}: {output}\n{text}");
    }
}
