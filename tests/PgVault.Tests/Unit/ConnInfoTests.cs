using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// Every connection string here names the settings the assertions look at, so the PG*
/// environment variables of the machine cannot change the result; tests of the defaults are in
/// <see cref="ConnInfoDefaultsTests"/>, which clears them.
/// </summary>
public sealed class ConnInfoTests
{
    [Fact]
    public void Keywords_with_quotes_and_escapes_are_parsed()
    {
        var c = ConnInfo.Parse("host=db.example port=5433 user=alice dbname=app password='a b\\'c'");

        Assert.Equal("db.example", c.Host);
        Assert.Equal(5433, c.Port);
        Assert.Equal("alice", c.User);
        Assert.Equal("app", c.Database);
        Assert.Equal("a b'c", c.Password);
        Assert.Equal("db.example:5433", c.Describe());
    }

    [Fact]
    public void Spaces_around_equals_and_backslash_escapes_outside_quotes_are_understood()
    {
        var c = ConnInfo.Parse("  host = db.example   port= 5433 user =bob password=x\\ y\\\\z dbname=''  ");

        Assert.Equal("db.example", c.Host);
        Assert.Equal(5433, c.Port);
        Assert.Equal("bob", c.User);
        Assert.Equal("x y\\z", c.Password);
    }

    [Fact]
    public void Unterminated_quote_is_a_usage_error()
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.Parse("host=x password='abc"));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("unterminated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keyword_without_value_is_a_usage_error()
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.Parse("host=x localhost"));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("expected key=value at character 8", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("host=x password='hunter2-secret", "unterminated quote in value of 'password'")]
    [InlineData("host=x password=ok hunter2-secret", "expected key=value at character 20")]
    [InlineData("host=x port=hunter2-secret", "connection port is not a valid port number")]
    [InlineData("postgresql://u:hunter2-secret@[bad/db", "invalid connection URI")]
    public void ParseErrors_NameTheKeyButNeverEchoAValue(string text, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.Parse(text));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message + e.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("host=x user=u password=hunter2-secret")]
    [InlineData("postgresql://u:hunter2-secret@host/db")]
    public void ConnectionWithPasswordOnTheCommandLine_IsRefused(string text)
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.RefuseCommandLinePassword(text, "--connection"));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("--connection must not carry a password", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message + e.Hint, StringComparison.Ordinal);
        Assert.True(ConnInfo.HasPassword(text));
        ConnInfo.RefuseCommandLinePassword("host=x user=u passfile=/root/.pgpass", "--connection"); // a passfile is fine
        Assert.False(ConnInfo.HasPassword("host=x user=u"));
    }

    [Fact]
    public void Uri_form_is_parsed_and_percent_decoded()
    {
        var c = ConnInfo.Parse("postgresql://u:p%40ss@host:5433/db?sslmode=require");

        Assert.Equal("u", c.User);
        Assert.Equal("p@ss", c.Password);
        Assert.Equal("host", c.Host);
        Assert.Equal(5433, c.Port);
        Assert.Equal("db", c.Database);
        Assert.Contains("sslmode=require", c.ToLibpqConnInfo(), StringComparison.Ordinal);
        Assert.Equal("p@ss", c.ChildEnvironment()["PGPASSWORD"]);
    }

    [Fact]
    public void Uri_user_and_password_may_contain_escaped_colons()
    {
        var c = ConnInfo.Parse("postgres://us%3Aer:pa%3Ass@host:5433/db");

        Assert.Equal("us:er", c.User);
        Assert.Equal("pa:ss", c.Password);
    }

    [Fact]
    public void Uri_query_may_name_a_socket_directory_host()
    {
        var c = ConnInfo.Parse("postgresql:///app?host=/var/run/postgresql&port=5433&user=backup");

        Assert.Equal("/var/run/postgresql", c.Host);
        Assert.Equal(5433, c.Port);
        Assert.Equal("backup", c.User);
        Assert.Equal("app", c.Database);
    }

    [Fact]
    public void Uri_ipv6_host_loses_its_brackets()
    {
        var c = ConnInfo.Parse("postgresql://u@[::1]:5433/db");

        Assert.Equal("::1", c.Host);
        Assert.Contains("host=::1 ", c.ToLibpqConnInfo(), StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_uri_is_a_usage_error()
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.Parse("postgresql://host:notaport/db"));

        Assert.Equal(ErrorKind.Usage, e.Kind);
    }

    [Theory]
    [InlineData("host=x colour=blue", "colour")]
    [InlineData("postgresql://u@host:5433/db?colour=blue", "colour")]
    public void Unknown_keyword_is_a_usage_error_listing_the_allowed_ones(string text, string key)
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.Parse(text));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains($"'{key}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("sslmode", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("host=x port=0")]
    [InlineData("host=x port=65536")]
    [InlineData("host=x port=fivefour")]
    public void Invalid_port_is_a_usage_error(string text)
    {
        var e = Assert.Throws<PgVaultException>(() => ConnInfo.Parse(text));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("port", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hostaddr_serves_as_host_when_no_host_is_given()
    {
        var c = ConnInfo.Parse("hostaddr=10.1.2.3 port=5433 user=u");

        Assert.Equal("10.1.2.3", c.Host);
        Assert.DoesNotContain("hostaddr", c.ToLibpqConnInfo(), StringComparison.Ordinal);
    }

    [Fact]
    public void Libpq_conninfo_never_contains_the_password_but_the_child_environment_does()
    {
        var c = ConnInfo.Parse("host=db.example port=5433 user=alice dbname=app password='s3cret pass'");

        string conninfo = c.ToLibpqConnInfo();

        Assert.DoesNotContain("password", conninfo, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", conninfo, StringComparison.Ordinal);
        Assert.Contains("host=db.example", conninfo, StringComparison.Ordinal);
        Assert.Contains("port=5433", conninfo, StringComparison.Ordinal);
        Assert.Contains("user=alice", conninfo, StringComparison.Ordinal);
        Assert.Contains("dbname=app", conninfo, StringComparison.Ordinal);
        var env = c.ChildEnvironment();
        Assert.Equal("s3cret pass", env["PGPASSWORD"]);
    }

    [Fact]
    public void Libpq_conninfo_quotes_values_so_that_they_parse_back()
    {
        var c = ConnInfo.Parse("host=db.example port=5433 user='o\\'brien' dbname='my db' application_name='back\\\\slash' options='-c search_path=x'");

        var back = ConnInfo.Parse(c.ToLibpqConnInfo());

        Assert.Equal("o'brien", back.User);
        Assert.Equal("my db", back.Database);
        Assert.Equal(c.ToLibpqConnInfo(), back.ToLibpqConnInfo());
        Assert.Contains("dbname='my db'", c.ToLibpqConnInfo(), StringComparison.Ordinal);
        Assert.Contains("user='o\\'brien'", c.ToLibpqConnInfo(), StringComparison.Ordinal);
    }

    [Fact]
    public void WithDatabase_changes_only_the_database()
    {
        var c = ConnInfo.Parse("host=db.example port=5433 user=alice dbname=app password=pw123456");

        var other = c.WithDatabase("reports");

        Assert.Equal("reports", other.Database);
        Assert.Equal("app", c.Database);
        Assert.Equal("db.example", other.Host);
        Assert.Equal(5433, other.Port);
        Assert.Equal("alice", other.User);
        Assert.Equal("pw123456", other.Password);
        Assert.Contains("dbname=reports", other.ToLibpqConnInfo(), StringComparison.Ordinal);
    }

    [Fact]
    public void Npgsql_connection_string_carries_host_port_user_database_and_password()
    {
        var c = ConnInfo.Parse("host=db.example port=5433 user=alice dbname=app password='a b\\'c' sslmode=verify-full connect_timeout=7");

        var b = new NpgsqlConnectionStringBuilder(c.ToNpgsqlConnectionString());

        Assert.Equal("db.example", b.Host);
        Assert.Equal(5433, b.Port);
        Assert.Equal("alice", b.Username);
        Assert.Equal("app", b.Database);
        Assert.Equal("a b'c", b.Password);
        Assert.Equal(SslMode.VerifyFull, b.SslMode);
        Assert.Equal(7, b.Timeout);
        Assert.False(b.Pooling);
    }

    [Fact]
    public void Npgsql_application_name_defaults_to_the_argument_unless_configured()
    {
        var plain = ConnInfo.Parse("host=h port=5432 user=u dbname=d application_name=custom");

        Assert.Equal("custom", new NpgsqlConnectionStringBuilder(plain.ToNpgsqlConnectionString("other")).ApplicationName);
    }

    [Fact]
    public void Invalid_sslmode_is_a_usage_error_when_building_the_connection_string()
    {
        var c = ConnInfo.Parse("host=h port=5432 user=u dbname=d sslmode=sometimes");

        var e = Assert.Throws<PgVaultException>(() => c.ToNpgsqlConnectionString());

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Contains("'sometimes'", e.Message, StringComparison.Ordinal);
    }
}

[Collection(EnvironmentCollection.Name)]
public sealed class ConnInfoDefaultsTests
{
    [Fact]
    public void Without_settings_or_environment_libpq_defaults_apply()
    {
        using var env = new EnvironmentScope().ClearLibpq();

        var c = ConnInfo.Parse(null);

        Assert.Equal(5432, c.Port);
        Assert.Equal(Environment.UserName, c.User);
        Assert.Equal(Environment.UserName, c.Database); // dbname defaults to the user name
        Assert.Null(c.Password);
        Assert.Empty(c.ChildEnvironment());
        Assert.True(c.Host == "localhost" || c.Host.StartsWith('/'), $"unexpected default host '{c.Host}'");
    }

    [Fact]
    public void Missing_settings_come_from_PG_environment_variables()
    {
        using var env = new EnvironmentScope().ClearLibpq()
            .Set("PGHOST", "env.example")
            .Set("PGPORT", "6432")
            .Set("PGUSER", "envuser")
            .Set("PGDATABASE", "envdb")
            .Set("PGPASSWORD", "envpassword");

        var c = ConnInfo.Parse("user=explicit");

        Assert.Equal("env.example", c.Host);
        Assert.Equal(6432, c.Port);
        Assert.Equal("explicit", c.User);
        Assert.Equal("envdb", c.Database);
        Assert.Equal("envpassword", c.ChildEnvironment()["PGPASSWORD"]);
        Assert.DoesNotContain("envpassword", c.ToLibpqConnInfo(), StringComparison.Ordinal);
    }

    [Fact]
    public void Uri_without_port_uses_5432()
    {
        using var env = new EnvironmentScope().ClearLibpq();

        var c = ConnInfo.Parse("postgresql://u@host/db");

        Assert.Equal(5432, c.Port);
        Assert.Equal("host", c.Host);
    }
}
