using System.Globalization;
using Npgsql;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;

namespace PgVault.Core.Drill;

/// <summary>
/// What a drill validates once the server is up: every database answers a query; pg_amcheck finds
/// no corruption; the tables recorded at backup time are there (and, at the backup's own point in
/// time, not emptied); the user's checks hold.
/// </summary>
public sealed partial class Drill
{
    /// <param name="exact">The restore is at the backup's own point (logical; physical to immediate): table lists must match and tables must not be emptied.</param>
    /// <param name="allDatabases">pg_amcheck --all (a scratch cluster) rather than only the restored databases.</param>
    private async Task ValidateAsync(ConnInfo server, int major, List<(string Source, string Target)> databases, BackupManifest manifest, bool exact, bool allDatabases,
        DrillOptions options, CancellationToken ct)
    {
        foreach (var (source, target) in databases)
        {
            try
            {
                await using var conn = await PgServer.ConnectAsync(server.WithDatabase(target), ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("SELECT 1", conn);
                await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
                Passed("server", source, null);
            }
            catch (Exception e) when (e is PgVaultException or NpgsqlException)
            {
                Failed("server", source, $"database \"{target}\" does not answer: {e.Message}");
            }
        }
        await AmcheckAsync(server, major, databases, allDatabases, options, ct).ConfigureAwait(false);
        await CompareTablesAsync(server, databases, manifest, exact, ct).ConfigureAwait(false);
        await UserChecksAsync(server, databases, options, ct).ConfigureAwait(false);
    }

    private void Passed(string kind, string name, string? detail) =>
        _checks.Add(new DrillCheckResult { Kind = kind, Name = name, Result = DrillRecord.Passed, Detail = detail });

    private void Failed(string kind, string name, string detail)
    {
        progress.Warn($"{kind} check '{name}' failed: {detail}");
        _checks.Add(new DrillCheckResult { Kind = kind, Name = name, Result = DrillRecord.Failed, Detail = detail });
    }

    private async Task AmcheckAsync(ConnInfo server, int major, List<(string Source, string Target)> databases, bool allDatabases, DrillOptions options, CancellationToken ct)
    {
        var tool = vault.Tools.Find("pg_amcheck", major);
        var args = new List<string> { "--host=" + server.Host, "--port=" + server.Port.ToString(CultureInfo.InvariantCulture), "--username=" + server.User, "--no-password", "--install-missing" };
        if (options.HeapAllIndexed) args.Add("--heapallindexed");
        if (allDatabases) args.Add("--all");
        else args.AddRange(databases.Select(d => "--database=" + d.Target));
        if (!allDatabases && databases.Count == 0) return;
        progress.Info($"pg_amcheck {(allDatabases ? "--all" : string.Join(' ', databases.Select(d => d.Target)))}{(options.HeapAllIndexed ? " --heapallindexed" : "")}");
        await using var child = ChildProcess.Start(tool, args, server.ChildEnvironment(), "pg_amcheck", redirectInput: false, redirectOutput: true, ct);
        using var reader = new StreamReader(child.StandardOutput);
        string output = await reader.ReadToEndAsync(ct).ConfigureAwait(false);
        int code = await child.WaitAsync(ct).ConfigureAwait(false);
        string name = options.HeapAllIndexed ? "pg_amcheck --heapallindexed" : "pg_amcheck";
        if (code == 0) Passed("amcheck", name, null);
        else
        {
            string first = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
                ?? child.LastError() ?? "no message";
            Failed("amcheck", name, $"exit code {code}: {first}");
        }
    }

    private async Task CompareTablesAsync(ConnInfo server, List<(string Source, string Target)> databases, BackupManifest manifest, bool exact, CancellationToken ct)
    {
        if (manifest.Tables is not { } recordedAll)
        {
            _notes.Add($"backup {manifest.Id} records no table list (taken before PgVault recorded one): tables not compared");
            return;
        }
        foreach (var (source, target) in databases)
        {
            if (recordedAll.FirstOrDefault(t => t.Database == source) is not { } recorded) continue;
            var dump = manifest.Databases.FirstOrDefault(d => d.Name == source);
            bool selective = dump?.Options.Any(o => o.StartsWith("--table=", StringComparison.Ordinal) || o.StartsWith("--schema=", StringComparison.Ordinal)
                || o.StartsWith("--exclude-table=", StringComparison.Ordinal) || o.StartsWith("--exclude-schema=", StringComparison.Ordinal)) == true;
            bool noData = dump?.Options.Contains("--schema-only") == true;
            DatabaseTables restored;
            await using (var conn = await PgServer.ConnectAsync(server.WithDatabase(target), ct).ConfigureAwait(false))
            {
                // Fresh estimates of what came back (ANALYZE samples, it does not scan whole tables).
                await using (var analyze = new NpgsqlCommand("ANALYZE", conn) { CommandTimeout = 0 })
                    await analyze.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                restored = await TableStats.ReadAsync(conn, target, ct).ConfigureAwait(false);
            }
            var (problems, notes) = new TableComparison(exact, selective, noData, RecordedAtStart: manifest.IsPhysical).Compare(recorded, restored);
            _notes.AddRange(notes.Select(n => $"database {source}: {n}"));
            if (problems.Count > 0) Failed("tables", source, string.Join("; ", problems));
            else Passed("tables", source, $"{restored.Tables.Count} tables");
        }
    }

    private async Task UserChecksAsync(ConnInfo server, List<(string Source, string Target)> databases, DrillOptions options, CancellationToken ct)
    {
        var checks = vault.Cluster.Drills.Checks.Concat(options.ExtraChecks).ToList();
        // Default database: a physical drill's is the connection's (when restored), a logical drill's the backup's first.
        string defaultSource = _record.Place == "datadir" && databases.Any(d => d.Source == vault.Connection.Database) ? vault.Connection.Database
            : databases.Count > 0 ? databases[0].Source : vault.Connection.Database;
        foreach (var check in checks)
        {
            string source = check.Database ?? defaultSource;
            string? target = databases.Count == 0 ? source : databases.FirstOrDefault(d => d.Source == source).Target;
            if (target is null)
            {
                Failed("user", check.Name, $"database \"{source}\" was not restored (it holds: {string.Join(", ", databases.Select(d => d.Source))})");
                continue;
            }
            try
            {
                await using var conn = await PgServer.ConnectAsync(server.WithDatabase(target), ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand(check.Sql, conn) { CommandTimeout = 0 };
                await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                bool hasRow = await reader.ReadAsync(ct).ConfigureAwait(false);
                object? first = hasRow && reader.FieldCount > 0 && !reader.IsDBNull(0) ? reader.GetValue(0) : null;
                if (check.Expect.Failure(hasRow, first) is { } why) Failed("user", check.Name, why);
                else Passed("user", check.Name, $"{check.Expect}");
            }
            catch (Exception e) when (e is PgVaultException or NpgsqlException)
            {
                Failed("user", check.Name, $"the query failed: {e.Message}");
            }
        }
    }
}
