using System.CommandLine;
using System.Globalization;
using PgVault.Cli.Infrastructure;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Repository;
using PgVault.Core.Retention;
using PgVault.Core.Verify;

namespace PgVault.Cli.Commands;

/// <summary>`pgvault info ID`: everything the catalog knows about one backup.</summary>
internal static class InfoCommand
{
    private static readonly Argument<string> Id = new("id") { Description = "Backup id, or 'latest'" };

    public static Command Build()
    {
        var command = new Command("info", "Show one backup: databases, options, versions, sizes, checksums") { Id };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        var context = VaultContext.Resolve(Globals.Read(result));
        var catalogs = await context.OpenCatalogsAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false);
        var (m, holders) = await catalogs.FindAsync(result.GetValue(Id)!, new WarnOnly(renderer), ct).ConfigureAwait(false);
        var repository = holders[0].Repository;
        if (renderer.Json)
        {
            renderer.WriteJson(m, RepositoryJson.Default.BackupManifest);
            return 0;
        }
        string Time(DateTimeOffset t) => t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture);
        renderer.Line($"backup       {m.Id}");
        renderer.Line($"type         {m.Type}");
        renderer.Line($"status       {m.Status}");
        renderer.Line($"cluster      {m.Cluster} (system {m.Server.SystemIdentifier}, PostgreSQL {m.Server.Version})");
        renderer.Line($"repository   {string.Join(", ", holders.Select(h => $"{h.Repository.Name} ({h.Repository.Store.Location})"))}");
        renderer.Line($"started      {Time(m.StartedAt)}");
        renderer.Line($"finished     {Time(m.FinishedAt)}");
        renderer.Line($"duration     {Units.Duration(m.DurationSeconds)}");
        renderer.Line($"size         {Units.Bytes(m.SizeBytes)} ({m.SizeBytes} bytes)");
        renderer.Line($"stored       {Units.Bytes(m.StoredBytes)} ({m.StoredBytes} bytes)");
        renderer.Line($"compression  {m.Compression}");
        renderer.Line($"encrypted    {(m.Encrypted ? "yes (AES-256-GCM)" : "no")}");
        VerifyRecord? verified = null;
        try
        {
            verified = await Verify.LastRecordAsync(repository, m.Cluster, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or IOException)
        {
            renderer.Warn($"the last verification cannot be read from repository '{repository.Name}': {e.Message}");
        }
        renderer.Line(verified?.Backups.GetValueOrDefault(m.Id) is { } mark
            ? $"verified     {Time(mark.Time)} ({mark.Status}, {mark.Mode}; 'pgvault verify')"
            : "verified     never (run 'pgvault verify')");
        if (m.Physical is { } p)
        {
            renderer.Line($"reference    {p.Reference ?? "-"} (chain {string.Join(" <- ", p.Chain)})");
            renderer.Line($"wal          {p.StartWal} .. {p.StopWal} (LSN {p.StartLsn} .. {p.StopLsn}, timeline {p.Timeline})");
            renderer.Line($"consistent   {Time(p.StopTime)} (recovery targets must lie after this)");
            if (context.Cluster.Retention != null)
            {
                var headers = (await catalogs.ListHeadersAsync(new WarnOnly(renderer), ct).ConfigureAwait(false)).Select(e => e.Header).ToList();
                var plan = await RetentionView.PlanAsync(context.Cluster, catalogs, headers, new WarnOnly(renderer), ct).ConfigureAwait(false);
                if (plan?.Decisions.FirstOrDefault(d => d.Id == m.Id) is { } decision)
                    renderer.Line($"retention    {RetentionView.Label(decision)}: {string.Join("; ", decision.Reasons)}");
            }
            renderer.Line($"files        {p.Files.Count} ({p.FilesStored} stored whole, {p.FilesAsDeltas} as changed pages, {p.FilesReferenced} unchanged: {Units.Bytes(p.BytesReferenced)} taken from the chain) in {p.Packs.Count} packs");
            renderer.Line($"checksums    {(p.DataChecksums ? $"page checksums verified, {p.BadPages} bad page(s)" : "data checksums off on the cluster: pages not verified")}");
            foreach (var t in p.Tablespaces) renderer.Line($"tablespace   {t.Name} ({t.Oid}) at {t.Location}");
            foreach (var f in p.Files.Where(f => f.BadPages != null)) renderer.Line($"bad pages    {f.Path}: blocks {string.Join(", ", f.BadPages!)}");
        }
        foreach (var db in m.Databases)
        {
            renderer.Line("");
            renderer.Line($"database {db.Name}: {db.Format} format, pg_dump {db.PgDumpVersion}, {Units.Bytes(db.SizeBytes)} -> {Units.Bytes(db.StoredBytes)}, {db.Encoding}");
            renderer.Line($"  options  {string.Join(' ', db.Options)}");
            foreach (var f in db.Files) renderer.Line($"  {f.Name,-24} {f.SizeBytes,14} bytes  sha256 {f.Sha256}");
        }
        if (m.Globals is { } g)
        {
            renderer.Line("");
            renderer.Line($"globals ({g.Scope}): pg_dumpall {g.PgDumpallVersion}, {g.File.SizeBytes} bytes  sha256 {g.File.Sha256}");
        }
        return 0;
    }
}
