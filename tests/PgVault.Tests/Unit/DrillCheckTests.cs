using PgVault.Core.Config;
using PgVault.Core.Drill;
using PgVault.Core.Errors;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>Drill checks: the expect conditions, the drills: section of the configuration, a --checks file, drill options.</summary>
public sealed class DrillCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-drillcheck-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("> 0", true, 5L, null)]
    [InlineData("> 0", true, 0L, "got 0, expected > 0")]
    [InlineData("= 5", true, 5L, null)]
    [InlineData("= 5", true, 200L, "got 200, expected = 5")]
    [InlineData(">= 2.5", true, 2.5, null)]
    [InlineData("!= 0", true, 0, "got 0, expected != 0")]
    [InlineData("<> 0", true, 1, null)]
    [InlineData("= active", true, "active", null)]
    [InlineData("= true", true, true, null)]
    [InlineData("not empty", true, 1, null)]
    [InlineData("not empty", false, null, "the query returned no rows")]
    [InlineData("empty", false, null, null)]
    [InlineData("empty", true, 1, "the query returned rows")]
    [InlineData("> 0", false, null, "the query returned no rows")]
    [InlineData("> 0", true, null, "the query returned NULL")]
    public void Expectations_judge_the_first_value_of_the_first_row(string expect, bool hasRow, object? first, string? failure)
    {
        var expectation = DrillExpectation.TryParse(expect);
        Assert.NotNull(expectation);
        Assert.Equal(failure, expectation.Failure(hasRow, first));
    }

    [Theory]
    [InlineData("")]
    [InlineData("about 5")]
    [InlineData("> many")]
    [InlineData("=")]
    public void A_condition_that_is_none_of_the_forms_is_refused(string expect) => Assert.Null(DrillExpectation.TryParse(expect));

    [Fact]
    public void The_drills_section_of_a_cluster_gives_checks_and_the_scratch_directory()
    {
        var config = ConfigLoader.Parse("""
            clusters:
              main:
                drills:
                  scratch_dir: /srv/scratch
                  checks:
                    - name: recent
                      sql: select count(*) from orders
                      expect: "> 0"
                      database: shop
                    - name: any
                      sql: select 1
            """, "/etc/pgvault/t.yaml");
        var drills = config.Clusters["main"].Drills;
        Assert.Equal("/srv/scratch", drills.ScratchDir);
        Assert.Equal(2, drills.Checks.Count);
        Assert.Equal(("recent", "shop", "> 0"), (drills.Checks[0].Name, drills.Checks[0].Database, drills.Checks[0].Expect.ToString()));
        Assert.Equal("not empty", drills.Checks[1].Expect.ToString());
        Assert.Empty(ConfigLoader.Parse("clusters:\n  main:\n    parallel: 2\n", "/x.yaml").Clusters["main"].Drills.Checks);
    }

    [Theory]
    [InlineData("drills:\n      checks:\n        - name: a\n          sql: select 1\n          expect: about 5\n", "clusters.main.drills.checks[0].expect")]
    [InlineData("drills:\n      checks:\n        - name: a\n", "clusters.main.drills.checks[0].sql")]
    [InlineData("drills:\n      checks:\n        - name: a\n          sql: select 1\n          color: red\n", "unknown key 'clusters.main.drills.checks[0].color'")]
    [InlineData("drills:\n      scratch_dir: relative/dir\n", "must be an absolute path")]
    [InlineData("drills:\n      checks: select 1\n", "must be a list")]
    public void A_bad_drills_section_names_the_key(string yaml, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => ConfigLoader.Parse("clusters:\n  main:\n    " + yaml, "/etc/pgvault/t.yaml"));
        Assert.Equal(ErrorCode.ConfigInvalid, e.Code);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_checks_file_is_a_list_or_a_mapping_with_checks()
    {
        string list = Path.Combine(_dir, "list.yaml");
        File.WriteAllText(list, "- name: a\n  sql: select 1\n  expect: \"= 1\"\n");
        Assert.Equal("a", Assert.Single(ConfigLoader.LoadChecks(list)).Name);
        string map = Path.Combine(_dir, "map.yaml");
        File.WriteAllText(map, "checks:\n  - name: b\n    sql: select 2\n");
        Assert.Equal("b", Assert.Single(ConfigLoader.LoadChecks(map)).Name);
        string twice = Path.Combine(_dir, "twice.yaml");
        File.WriteAllText(twice, "- name: a\n  sql: select 1\n- name: a\n  sql: select 2\n");
        Assert.Contains("used by two checks", Assert.Throws<PgVaultException>(() => ConfigLoader.LoadChecks(twice)).Message);
        Assert.Equal(ErrorCode.ConfigInvalid, Assert.Throws<PgVaultException>(() => ConfigLoader.LoadChecks(Path.Combine(_dir, "missing.yaml"))).Code);
    }

    [Fact]
    public void Drill_options_refuse_contradictions()
    {
        Assert.Equal(ErrorCode.Usage, Assert.Throws<PgVaultException>(() => new DrillOptions { IntoCluster = true, Target = "random" }.Validate()).Code);
        Assert.Equal(ErrorCode.Usage, Assert.Throws<PgVaultException>(() => new DrillOptions { ScratchDir = "relative" }.Validate()).Code);
        Assert.Equal(ErrorCode.Usage, Assert.Throws<PgVaultException>(() => new DrillOptions { Target = "" }.Validate()).Code);
        new DrillOptions { Target = "random" }.Validate();
    }

    [Fact]
    public async Task A_scratch_parent_that_others_may_write_or_that_is_a_link_is_refused()
    {
        string shared = Path.Combine(_dir, "shared");
        Directory.CreateDirectory(shared);
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111);
        Assert.Equal(ErrorCode.RestoreTargetInvalid, Assert.Throws<PgVaultException>(() => ScratchPlace.Create(shared, "d", null, null)).Code);
        string link = Path.Combine(_dir, "link");
        Directory.CreateSymbolicLink(link, shared);
        Assert.Contains("symbolic link", Assert.Throws<PgVaultException>(() => ScratchPlace.Create(link, "d", null, null)).Message);
        Assert.Empty(Directory.GetFileSystemEntries(shared));

        string own = Path.Combine(_dir, "own");
        await using (var place = ScratchPlace.Create(own, "d", null, null))
        {
            Assert.True(Directory.Exists(place.Root));
            Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(place.Root));
            Assert.True(File.Exists(place.Root + ".json"));
        }
        Assert.Empty(Directory.GetFileSystemEntries(own));
    }
}
