using PgVault.Core.Drill;
using PgVault.Core.PostgreSql;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>A drill's table comparison: exact lists at the backup's own point, estimates loosely, structure only for a PITR target.</summary>
public sealed class TableComparisonTests
{
    private static DatabaseTables Db(params (string Name, double Rows)[] tables) =>
        new() { Database = "shop", Tables = tables.Select(t => new TableEstimate { Schema = "public", Name = t.Name, Rows = t.Rows }).ToList() };

    private static readonly TableComparison Logical = new(Exact: true, Selective: false, NoData: false, RecordedAtStart: false);
    private static readonly TableComparison Pitr = new(Exact: false, Selective: false, NoData: false, RecordedAtStart: true);

    [Fact]
    public void Same_tables_with_close_estimates_pass_without_notes()
    {
        var (problems, notes) = Logical.Compare(Db(("orders", 1000), ("customers", 50)), Db(("orders", 1013), ("customers", 50)));
        Assert.Empty(problems);
        Assert.Empty(notes);
    }

    [Fact]
    public void A_table_missing_from_the_restore_fails_at_the_backups_own_point_and_is_only_noted_for_a_pitr_target()
    {
        Assert.Contains("public.customers", Assert.Single(Logical.Compare(Db(("orders", 10), ("customers", 5)), Db(("orders", 10))).Problems));
        var (problems, notes) = Pitr.Compare(Db(("orders", 10), ("customers", 5)), Db(("orders", 10)));
        Assert.Empty(problems);
        Assert.Contains("public.customers", Assert.Single(notes));
    }

    [Fact]
    public void A_table_that_came_back_empty_fails_but_a_stale_estimate_is_only_noted()
    {
        Assert.Contains("came back empty", Assert.Single(Logical.Compare(Db(("orders", 5000)), Db(("orders", 0))).Problems));
        var (problems, notes) = Logical.Compare(Db(("orders", 5000)), Db(("orders", 120_000)));
        Assert.Empty(problems);
        Assert.Contains("estimated 5000", Assert.Single(notes));
        Assert.Empty(Logical.Compare(Db(("tiny", 3)), Db(("tiny", 0))).Problems); // below the threshold: emptiness is not telling
        Assert.Empty(Logical.Compare(Db(("never_analysed", -1)), Db(("never_analysed", 0))).Problems);
    }

    [Fact]
    public void Estimates_are_not_compared_for_a_pitr_target_nor_a_schema_only_backup()
    {
        Assert.Empty(Pitr.Compare(Db(("orders", 5000)), Db(("orders", 0))).Problems);
        Assert.Empty((Logical with { NoData = true }).Compare(Db(("orders", 5000)), Db(("orders", 0))).Problems);
    }

    [Fact]
    public void A_selective_backup_does_not_miss_the_tables_it_left_out_and_a_physical_one_expects_tables_created_during_it()
    {
        Assert.Empty((Logical with { Selective = true }).Compare(Db(("orders", 10), ("other", 10)), Db(("orders", 10))).Problems);
        Assert.Contains("not recorded", Assert.Single(Logical.Compare(Db(("orders", 10)), Db(("orders", 10), ("surprise", 1))).Problems));
        var physical = Logical with { RecordedAtStart = true };
        Assert.Empty(physical.Compare(Db(("orders", 10)), Db(("orders", 10), ("created_during_backup", 1))).Problems);
    }
}
