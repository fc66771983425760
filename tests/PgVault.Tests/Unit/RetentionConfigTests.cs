using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>The retention: keys of a cluster and of a repository.</summary>
public sealed class RetentionConfigTests
{
    private static PgVaultConfig Parse(string yaml) => ConfigLoader.Parse(yaml, "/etc/pgvault/test.yaml");

    [Fact]
    public void FullPolicy_IsRead()
    {
        var config = Parse("""
            repositories:
              - {name: local, path: /tmp/r1, retention: {full: 1}}
              - {name: s3, type: s3, bucket: backups}
            clusters:
              main:
                retention:
                  pitr_window: 14d
                  full: 2
                  gfs: {daily: 7, weekly: 4, monthly: 12, yearly: 3}
                  logical: {count: 7, gfs: {daily: 7, weekly: 4, monthly: 12}}
                  min_redundancy: 2
                  expire_after_backup: false
                  time_zone: Europe/Berlin
            """);
        var policy = config.Clusters["main"].Retention!;
        Assert.Equal(TimeSpan.FromDays(14), policy.PitrWindow);
        Assert.Equal(2, policy.Full);
        Assert.Equal(new GfsRule(7, 4, 12, 3), policy.Gfs);
        Assert.Equal(7, policy.Logical!.Count);
        Assert.Equal(new GfsRule(7, 4, 12, 0), policy.Logical.Gfs);
        Assert.Equal(2, policy.MinRedundancy);
        Assert.False(policy.ExpireAfterBackup);
        Assert.Equal("Europe/Berlin", policy.TimeZone.Id);
        // A repository's own policy replaces the cluster's there.
        Assert.Equal(1, config.Clusters["main"].RetentionFor(config.Repositories[0])!.Full);
        Assert.Null(config.Clusters["main"].RetentionFor(config.Repositories[0])!.PitrWindow);
        Assert.Same(policy, config.Clusters["main"].RetentionFor(config.Repositories[1]));
    }

    [Fact]
    public void Defaults_ExpireAfterBackupAndMinRedundancyOne()
    {
        var policy = Parse("clusters:\n  main:\n    retention: {full: 3}\n").Clusters["main"].Retention!;
        Assert.True(policy.ExpireAfterBackup);
        Assert.Equal(1, policy.MinRedundancy);
        Assert.Equal(TimeZoneInfo.Utc, policy.TimeZone);
        Assert.Null(Parse("clusters:\n  main: {}\n").Clusters["main"].Retention);
    }

    [Theory]
    [InlineData("retention: {pitr_window: 14}", "'clusters.main.retention.pitr_window' '14' must be a span")]
    [InlineData("retention: {full: 0}", "'clusters.main.retention.full' '0' must be a whole number from 1")]
    [InlineData("retention: {gfs: {hourly: 3}}", "unknown key 'clusters.main.retention.gfs.hourly'")]
    [InlineData("retention: {keep: 3}", "unknown key 'clusters.main.retention.keep'")]
    [InlineData("retention: {time_zone: Mars/Olympus}", "'Mars/Olympus' is not a known time zone")]
    [InlineData("retention: {min_redundancy: 2}", "needs at least one of pitr_window, full, gfs or logical")]
    [InlineData("retention: {full: 2, expire_after_backup: maybe}", "'maybe' must be true or false")]
    public void BadPolicy_IsOneClearError(string yaml, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => Parse($"clusters:\n  main:\n    {yaml}\n"));
        Assert.Equal(ErrorCode.ConfigInvalid, e.Code);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("14d", 14 * 24 * 60)]
    [InlineData("36h", 36 * 60)]
    [InlineData("2w", 14 * 24 * 60)]
    [InlineData("90m", 90)]
    [InlineData("1d12h", 36 * 60)]
    public void Durations(string text, int minutes)
    {
        Assert.True(Units.TryParseDuration(text, out var span));
        Assert.Equal(TimeSpan.FromMinutes(minutes), span);
    }

    [Theory]
    [InlineData("")]
    [InlineData("14")]
    [InlineData("d")]
    [InlineData("0d")]
    [InlineData("3y")]
    [InlineData("-1d")]
    public void BadDurations(string text) => Assert.False(Units.TryParseDuration(text, out _));
}
