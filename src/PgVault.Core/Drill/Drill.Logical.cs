using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.Logical;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;
using PgVault.Core.Sandbox;

namespace PgVault.Core.Drill;

/// <summary>A logical backup's drill: every database restored into a sandbox cluster of the backup's major version (or, with --into-cluster, into scratch databases on the cluster).</summary>
public sealed partial class Drill
{
    /// <summary>Sandbox servers listen on their Unix socket only (in the 0700 scratch directory): restored data is not reachable over TCP.</summary>
    internal const string PrivateServerOptions = "-c listen_addresses=''";

    private async Task LogicalAsync(BackupManifest manifest, string parent, DrillOptions options, CancellationToken ct)
    {
        int major = manifest.Server.VersionNum / 10000;
        if (options.IntoCluster)
        {
            _record = _record with { Place = "cluster" };
            await RemoveLeftoverDatabasesAsync(ct).ConfigureAwait(false);
            string prefix = $"pgvault_drill_{Storage.ProcessIdentity.Pid}_{Storage.ProcessIdentity.StartTicks}_";
            var pairs = manifest.Databases.Select(d => (Source: d.Name, Target: Truncate(prefix + d.Name))).ToList();
            try
            {
                await RestoreDatabasesAsync(manifest, vault.Connection, pairs, globals: false, ct).ConfigureAwait(false);
                await PhaseAsync("checks", async () =>
                {
                    await ValidateAsync(vault.Connection, major, pairs, manifest, exact: true, allDatabases: false, options, ct).ConfigureAwait(false);
                    return 0;
                }, (r, s) => r with { ChecksSeconds = s }).ConfigureAwait(false);
            }
            finally
            {
                foreach (var (_, target) in pairs) await DropDatabaseAsync(vault.Connection, target).ConfigureAwait(false);
            }
            return;
        }

        _record = _record with { Place = "sandbox" };
        string binDir = ServerBinDir(major);
        await using var scratch = ScratchPlace.Create(parent, _record.Id, null, null);
        await SandboxCluster.GiveToServerUserAsync(scratch.Root, recursive: false, ct).ConfigureAwait(false);
        scratch.WriteMarker(binDir);
        _phase = "startup";
        var sandbox = await PhaseAsync("startup", () => SandboxCluster.StartAsync(new SandboxOptions
        {
            BinDir = binDir,
            Root = scratch.Root,
            ServerOptions = PrivateServerOptions,
        }, ct), (r, s) => r with { StartupSeconds = s }).ConfigureAwait(false);
        await using (sandbox)
        {
            var pairs = manifest.Databases.Select(d => (Source: d.Name, Target: d.Name)).ToList();
            await RestoreDatabasesAsync(manifest, sandbox.Connection, pairs, globals: manifest.Globals != null, ct).ConfigureAwait(false);
            await PhaseAsync("checks", async () =>
            {
                await ValidateAsync(sandbox.Connection, major, pairs, manifest, exact: true, allDatabases: true, options, ct).ConfigureAwait(false);
                return 0;
            }, (r, s) => r with { ChecksSeconds = s }).ConfigureAwait(false);
        }
    }

    private async Task RestoreDatabasesAsync(BackupManifest manifest, ConnInfo server, List<(string Source, string Target)> pairs, bool globals, CancellationToken ct)
    {
        await PhaseAsync("restore", async () =>
        {
            var restore = new LogicalRestore(vault, progress);
            // Roles with the first database (before it), so owners and grants resolve; a sandbox only, never the cluster's roles.
            for (int i = 0; i < pairs.Count; i++)
            {
                await restore.RunAsync(new LogicalRestoreOptions
                {
                    BackupId = manifest.Id, Server = server, SourceDatabase = pairs[i].Source, TargetDatabase = pairs[i].Target, Globals = globals && i == 0,
                }, ct).ConfigureAwait(false);
            }
            if (pairs.Count == 0 && globals)
                await restore.RunAsync(new LogicalRestoreOptions { BackupId = manifest.Id, Server = server, Globals = true }, ct).ConfigureAwait(false);
            return 0;
        }, (r, s) => r with { RestoreSeconds = s, BytesRestored = manifest.Databases.Sum(d => d.SizeBytes) + (globals ? manifest.Globals?.File.SizeBytes ?? 0 : 0) }).ConfigureAwait(false);
    }

    /// <summary>The directory of the server binaries of exactly <paramref name="major"/> (a sandbox must run the backup's version).</summary>
    private string ServerBinDir(int major)
    {
        var tool = vault.Tools.Find("pg_ctl", major);
        if (tool.Major != major || !File.Exists(Path.Combine(Path.GetDirectoryName(tool.Path)!, "postgres")))
        {
            string debian = $"/usr/lib/postgresql/{major}/bin";
            if (File.Exists(Path.Combine(debian, "postgres")) && File.Exists(Path.Combine(debian, "pg_ctl"))) return debian;
            throw new PgVaultException(ErrorCode.ToolMissing, $"no PostgreSQL {major} server binaries found (the backup was taken from PostgreSQL {major}; found pg_ctl {tool.Version} in {Path.GetDirectoryName(tool.Path)})",
                $"install the PostgreSQL {major} server package (e.g. apt-get install postgresql-{major}) or set 'bindir' for the cluster");
        }
        return Path.GetDirectoryName(tool.Path)!;
    }

    private static string Truncate(string name) => name.Length <= 63 ? name : name[..63];

    /// <summary>Scratch databases of --into-cluster drills whose process is gone (a kill -9): dropped.</summary>
    private async Task RemoveLeftoverDatabasesAsync(CancellationToken ct)
    {
        List<string> names;
        await using (var conn = await PgServer.ConnectAsync(vault.Connection.WithDatabase("postgres"), ct).ConfigureAwait(false))
        {
            names = (await PgServer.DatabasesAsync(conn, ct).ConfigureAwait(false)).Select(d => d.Name).Where(n => n.StartsWith("pgvault_drill_", StringComparison.Ordinal)).ToList();
        }
        foreach (var name in names)
        {
            string[] parts = name["pgvault_drill_".Length..].Split('_', 3);
            if (parts.Length < 3 || Storage.ProcessIdentity.ParseTag(parts[0] + "-" + parts[1]) is not { } owner) continue;
            if (Storage.ProcessIdentity.IsAlive(owner.Pid, owner.StartTicks)) continue;
            progress.Warn($"dropping database \"{name}\" left by a drill that did not finish");
            await DropDatabaseAsync(vault.Connection, name).ConfigureAwait(false);
        }
    }

    private async Task DropDatabaseAsync(ConnInfo server, string name)
    {
        try
        {
            await using var conn = await PgServer.ConnectAsync(server.WithDatabase("postgres"), CancellationToken.None).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {PgServer.QuoteIdent(name)} WITH (FORCE)", conn);
            await cmd.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PgVaultException or NpgsqlException)
        {
            progress.Warn($"could not drop the drill's database \"{name}\": {e.Message}");
        }
    }
}
