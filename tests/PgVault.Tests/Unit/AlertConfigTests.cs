using PgVault.Core.Config;
using PgVault.Core.Errors;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>alerts.channels / repeat_interval and clusters.NAME.catalog_table in the configuration.</summary>
public sealed class AlertConfigTests
{
    private static PgVaultConfig Parse(string yaml) => ConfigLoader.Parse(yaml, "/etc/pgvault/pgvault.yaml");

    private static string Error(string yaml) => Assert.Throws<PgVaultException>(() => Parse(yaml)).Message;

    [Fact]
    public void Channels_of_each_type_are_read()
    {
        var config = Parse("""
            alerts:
              repeat_interval: 2h
              channels:
                - {type: webhook, url: "https://hooks.example.com/x", secret_file: /etc/pgvault/hook.secret, retries: 2, timeout: 5s}
                - {name: mail, type: smtp, host: smtp.example.com, port: 587, starttls: true, from: pgvault@example.com,
                   to: [dba@example.com, ops@example.com], username: pgvault, password_file: /etc/pgvault/smtp.pw}
                - {type: command, path: /usr/local/bin/page, args: [--team, dba]}
            """);
        var d = config.AlertDelivery;
        Assert.Equal(TimeSpan.FromHours(2), d.RepeatInterval);
        Assert.Equal(["webhook-1", "mail", "command-3"], d.Channels.Select(c => c.Name));
        Assert.Equal(("https://hooks.example.com/x", 2, TimeSpan.FromSeconds(5)), (d.Channels[0].Url!.ToString(), d.Channels[0].Retries, d.Channels[0].Timeout));
        Assert.Equal((587, true, 2), (d.Channels[1].Port, d.Channels[1].StartTls, d.Channels[1].To.Count));
        Assert.Equal(["--team", "dba"], d.Channels[2].Args);
    }

    [Fact]
    public void No_alerts_section_means_no_channels_and_a_4h_repeat()
    {
        var config = Parse("clusters:\n  main: {}\n");
        Assert.Empty(config.AlertDelivery.Channels);
        Assert.Equal(TimeSpan.FromHours(4), config.AlertDelivery.RepeatInterval);
    }

    [Theory]
    [InlineData("- {type: smtp, host: h, from: a@b.c, to: [d@e.f], username: u, password: hunter2}", "unknown key 'alerts.channels[0].password'")]
    [InlineData("- {type: smtp, host: h, from: a@b.c, to: [d@e.f], username: u}", "needs username together with password_file or password_env")]
    [InlineData("- {type: smtp, host: h, from: a@b.c, to: [d@e.f], username: u, password_env: 'hunter2!'}", "must be the name of an environment variable")]
    [InlineData("- {type: webhook, url: 'ftp://x'}", "must be an http:// or https:// URL")]
    [InlineData("- {type: webhook, url: 'https://u:p@x/'}", "without user:password")]
    [InlineData("- {type: command, path: page.sh}", "must be an absolute path")]
    [InlineData("- {type: pager}", "'pager' is not supported")]
    [InlineData("- {type: smtp, host: h, from: nobody, to: [d@e.f]}", "'nobody' is not a mail address")]
    public void Bad_channels_are_refused_with_the_key(string channel, string expected)
    {
        Assert.Contains(expected, Error($"alerts:\n  channels:\n    {channel}\n"));
    }

    [Fact]
    public void A_bad_repeat_interval_is_refused()
    {
        Assert.Contains("'alerts.repeat_interval' 'often' must be a duration", Error("alerts:\n  repeat_interval: often\n"));
    }

    [Fact]
    public void Catalog_table_is_read_with_its_default_table()
    {
        var config = Parse("clusters:\n  main:\n    catalog_table: {connection: 'host=/tmp dbname=ops'}\n");
        Assert.Equal(("host=/tmp dbname=ops", "pgvault.backup_log"), (config.Clusters["main"].CatalogTable!.Connection, config.Clusters["main"].CatalogTable!.QualifiedName));
        Assert.Contains("must be schema.table", Error("clusters:\n  main:\n    catalog_table: {connection: x, table: 'backup_log; drop'}\n"));
    }
}
