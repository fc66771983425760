using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Repository;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault list`: the catalog of complete backups of the cluster, oldest first.</summary>
internal static class ListCommand
{
    public static Command Build()
    {
        var command = new Command("list", "List the complete backups of the cluster, oldest first");
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
        var manifests = await new Catalog(repository, context.Cluster.Name).ListAsync(ct).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(manifests.Select(m => BackupSummary.From(m, repository.Name)).ToList(), CliJson.Default.ListBackupSummary);
            return 0;
        }
        if (manifests.Count == 0)
        {
            renderer.Line($"no backups of cluster '{context.Cluster.Name}' in repository '{repository.Name}'");
            return 0;
        }
        string Time(DateTimeOffset t) => t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        renderer.Table(
            ["id", "type", "cluster", "databases", "started", "finished", "duration", "size", "stored", "compression", "encrypted", "status", "repository"],
            manifests.Select(m => new[]
            {
                m.Id, m.Type, m.Cluster, Databases(m), Time(m.StartedAt), Time(m.FinishedAt), Units.Duration(m.DurationSeconds),
                Units.Bytes(m.SizeBytes), Units.Bytes(m.StoredBytes), m.Compression, m.Encrypted ? "yes" : "no", m.Status, repository.Name,
            }));
        return 0;
    }

    internal static string Databases(BackupManifest m)
    {
        string text = string.Join(",", m.Databases.Select(d => d.Name));
        if (m.Globals != null) text += (text.Length > 0 ? "," : "") + "[globals]";
        return text.Length > 40 ? text[..37] + "..." : text;
    }
}
