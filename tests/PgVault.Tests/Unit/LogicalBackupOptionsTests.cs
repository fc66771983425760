using PgVault.Core.Errors;
using PgVault.Core.Logical;
using PgVault.Core.Pipeline;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class LogicalBackupOptionsTests
{
    private static readonly LogicalBackupOptions OneDb = new() { Databases = ["app"], Compression = CompressionSpec.Default };

    private static PgVaultException Invalid(LogicalBackupOptions options)
    {
        var e = Assert.Throws<PgVaultException>(options.Validate);
        Assert.Equal(ErrorKind.Usage, e.Kind);
        return e;
    }

    [Fact]
    public void A_named_database_is_valid()
    {
        OneDb.Validate();
        (OneDb with { Databases = [], AllDatabases = true }).Validate();
        (OneDb with { Databases = [], Globals = "roles" }).Validate();
        (OneDb with { Format = DumpFormat.Directory, Jobs = 8 }).Validate();
    }

    [Fact]
    public void Nothing_selected_is_a_usage_error()
    {
        var e = Invalid(OneDb with { Databases = [] });

        Assert.Contains("nothing to back up", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void All_and_db_exclude_each_other()
    {
        var e = Invalid(OneDb with { AllDatabases = true });

        Assert.Contains("--all and --db", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_only_and_schema_only_exclude_each_other()
    {
        var e = Invalid(OneDb with { DataOnly = true, SchemaOnly = true });

        Assert.Contains("--data-only and --schema-only", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DumpFormat.Custom)]
    [InlineData(DumpFormat.Tar)]
    [InlineData(DumpFormat.Plain)]
    public void Jobs_need_the_directory_format(string format)
    {
        var e = Invalid(OneDb with { Format = format, Jobs = 4 });

        Assert.Contains("--jobs needs --format directory", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void Jobs_out_of_range_are_rejected(int jobs)
    {
        var e = Invalid(OneDb with { Format = DumpFormat.Directory, Jobs = jobs });

        Assert.Contains($"--jobs {jobs} is out of range", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("users")]
    [InlineData("ALL")]
    [InlineData("")]
    public void Bad_globals_scope_is_rejected(string scope)
    {
        var e = Invalid(OneDb with { Globals = scope });

        Assert.Contains($"--globals '{scope}' is not valid", e.Message, StringComparison.Ordinal);
        Assert.Contains("all, roles, tablespaces", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_format_is_rejected()
    {
        var e = Invalid(OneDb with { Format = "zip" });

        Assert.Contains("format 'zip' is not valid", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void All_implies_all_globals_unless_a_scope_is_given()
    {
        Assert.Equal("all", (OneDb with { Databases = [], AllDatabases = true }).EffectiveGlobals);
        Assert.Equal("roles", (OneDb with { Databases = [], AllDatabases = true, Globals = "roles" }).EffectiveGlobals);
        Assert.Null(OneDb.EffectiveGlobals);
    }

    [Theory]
    [InlineData(DumpFormat.Custom, "c", true)]
    [InlineData(DumpFormat.Directory, "d", true)]
    [InlineData(DumpFormat.Tar, "t", false)]
    [InlineData(DumpFormat.Plain, "p", false)]
    public void DumpArguments_disable_pg_dump_compression_only_where_pg_dump_would_compress(string format, string letter, bool compressZero)
    {
        var args = (OneDb with { Format = format }).DumpArguments();

        Assert.Equal("--format=" + letter, args[0]);
        Assert.Equal(compressZero, args.Contains("--compress=0"));
        Assert.DoesNotContain(args, a => a.StartsWith("--jobs", StringComparison.Ordinal));
    }

    [Fact]
    public void DumpArguments_pass_patterns_and_switches_through_in_order()
    {
        var options = OneDb with
        {
            Format = DumpFormat.Directory,
            Jobs = 4,
            Tables = ["public.orders", "sales.*"],
            ExcludeTables = ["public.audit_log"],
            Schemas = ["public", "Sales Dept"],
            ExcludeSchemas = ["tmp_*"],
            SchemaOnly = true,
        };

        Assert.Equal(
            [
                "--format=d", "--compress=0", "--jobs=4",
                "--table=public.orders", "--table=sales.*",
                "--exclude-table=public.audit_log",
                "--schema=public", "--schema=Sales Dept",
                "--exclude-schema=tmp_*",
                "--schema-only",
            ],
            options.DumpArguments());
    }

    [Fact]
    public void DumpArguments_include_data_only()
    {
        Assert.Equal(["--format=c", "--compress=0", "--data-only"], (OneDb with { DataOnly = true }).DumpArguments());
    }

    [Fact]
    public void DumpArguments_never_contain_connection_settings()
    {
        var args = OneDb.DumpArguments();

        Assert.Equal(["--format=c", "--compress=0"], args);
        Assert.DoesNotContain(args, a => a.Contains("host", StringComparison.Ordinal) || a.Contains("dbname", StringComparison.Ordinal) || a.Contains("app", StringComparison.Ordinal));
    }

    [Fact]
    public void Pg_dump_compresses_a_directory_dump_only_with_gzip()
    {
        var gzipDir = OneDb with { Format = DumpFormat.Directory, Jobs = 2, Compression = CompressionSpec.Parse("gzip:4") };
        Assert.True(gzipDir.PgDumpCompresses);
        Assert.Contains("--compress=4", gzipDir.DumpArguments());
        Assert.DoesNotContain("--compress=0", gzipDir.DumpArguments());

        // zstd for a directory, and gzip for the custom format: PgVault compresses.
        foreach (var other in new[] { gzipDir with { Compression = CompressionSpec.Default }, gzipDir with { Format = DumpFormat.Custom, Jobs = 1 } })
        {
            Assert.False(other.PgDumpCompresses);
            Assert.Contains("--compress=0", other.DumpArguments());
        }
    }
}
