using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core.Vault;
using PgVault.Core.Wal;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault setup archiving [--apply]`: the settings that make PostgreSQL archive WAL into PgVault.</summary>
internal static class SetupCommand
{
    private static readonly Option<bool> Apply = new("--apply") { Description = "Run the statements (ALTER SYSTEM + reload) instead of only printing them" };

    public static Command Build()
    {
        var archiving = new Command("archiving", "Print (or with --apply run) the ALTER SYSTEM statements for wal_level, archive_mode and archive_command") { Apply };
        CommandRunner.SetAction(archiving, RunAsync);
        return new Command("setup", "Configure the server for PgVault") { archiving };
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var vault = Vault.Open(Globals.Read(result));
        var plan = await new ArchiveSetup(vault, new WarnOnly(renderer)).RunAsync(new ArchiveSetupOptions(result.GetValue(Apply)), ct).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(plan, CliJson.Default.ArchiveSetupPlan);
            return 0;
        }
        if (plan.Statements.Count == 0)
        {
            renderer.Line("the server is already set up to archive WAL into PgVault:");
            renderer.Line($"  archive_command = '{plan.ArchiveCommand}'");
            return 0;
        }
        renderer.Line(plan.Applied ? "applied:" : "run these as a superuser (or again with --apply):");
        foreach (var sql in plan.Statements) renderer.Line($"  {sql};");
        if (plan.RestartRequired)
            renderer.Line(plan.Applied ? "restart PostgreSQL now: wal_level and archive_mode take effect only at server start" : "then restart PostgreSQL (wal_level and archive_mode need a restart)");
        else if (plan.Applied)
            renderer.Line("the configuration was reloaded; no restart is needed");
        renderer.Line("afterwards, 'pgvault check' proves that archiving works");
        return 0;
    }
}
