using System.CommandLine;
using System.Security.Cryptography;
using Npgsql;
using PgVault.Cli.Infrastructure;
using PgVault.Core;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Logical;
using PgVault.Core.Physical;
using PgVault.Core.Progress;
using PgVault.Core.Wal;
using PgVault.Core.Pipeline;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;
using PgVault.Core.Sandbox;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault demo`: the main job on an embedded default. Starts a sandbox PostgreSQL cluster of its
/// own with sample data, initialises an encrypted local repository, backs the sample database up,
/// lists the catalog, restores into a new database and proves the restore identical; then a
/// physical backup and a point-in-time restore to a restore point that undoes a "mistake".
/// </summary>
internal static class DemoCommand
{
    private static readonly Option<bool> Keep = new("--keep") { Description = "Keep the demo repository (its path is printed) instead of removing it" };
    private static readonly Option<int> Rows = new("--rows") { Description = "Rows of sample data", DefaultValueFactory = _ => 100_000 };

    public static Command Build()
    {
        var command = new Command("demo", "Run the whole job on a sandbox: start a throw-away PostgreSQL, back it up (logical and physical), list, restore, point-in-time restore, verify") { Keep, Rows };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        int rows = result.GetValue(Rows);
        if (rows < 1) throw PgVaultException.Usage("--rows must be at least 1");
        string work = Directory.CreateTempSubdirectory("pgvault-demo-").FullName;
        try
        {
            // The sandbox archives its WAL into the demo repository through this very PgVault.
            File.SetUnixFileMode(work, (UnixFileMode)0b111_101_101);
            string configFile = Path.Combine(work, "pgvault.yaml");
            string passFile = Path.Combine(work, "passphrase");
            string repoPath = Path.Combine(work, "repo");
            string archiveCommand = ArchiveSetup.ArchiveCommand(ArchiveSetup.WalInvocation(), ["--config", configFile, "--cluster", "sandbox"]);
            await File.WriteAllTextAsync(passFile, Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)), ct).ConfigureAwait(false);
            File.SetUnixFileMode(passFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Directory.CreateDirectory(repoPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            // The repository belongs to the server's OS user (its archive_command writes there); the
            // store keeps new files with the owner of its root, so the root is handed over first.
            await SandboxCluster.GiveToServerUserAsync(repoPath, recursive: false, ct).ConfigureAwait(false);
            // Written before the server starts: an archive_command failing three times makes the archiver wait a minute.
            await File.WriteAllTextAsync(configFile, $"repositories:\n  - name: demo\n    path: {repoPath}\nencryption:\n  passphrase_file: {passFile}\n" +
                "clusters:\n  sandbox:\n    compression: zstd:3\n", ct).ConfigureAwait(false);
            var selection = new GlobalOptions(ConfigFile: configFile, Cluster: "sandbox");
            var initial = Vault.Open(selection);
            await initial.InitRepositoryAsync(initial.Repositories[0], ct).ConfigureAwait(false);
            await SandboxCluster.GiveToServerUserAsync(repoPath, recursive: true, ct).ConfigureAwait(false);
            await SandboxCluster.GiveToServerUserAsync(passFile, recursive: false, ct).ConfigureAwait(false);
            renderer.Line("1. starting a sandbox PostgreSQL cluster (initdb + pg_ctl in a temporary directory, free port) archiving its WAL into PgVault...");
            await using var sandbox = await SandboxCluster.StartAsync(new SandboxOptions
            {
                Settings = new Dictionary<string, string>
                {
                    ["wal_level"] = "replica",
                    ["archive_mode"] = "on",
                    ["archive_command"] = PgServer.QuoteLiteral(archiveCommand),
                },
            }, ct).ConfigureAwait(false);
            renderer.Line($"   running on port {sandbox.Port}, data in {sandbox.DataDir}");
            await CreateSampleAsync(sandbox.Connection, rows, ct).ConfigureAwait(false);
            renderer.Line($"   created database 'shop' with {rows} orders, customers, a view and a function");

            // Replaced atomically: the archiver may be reading it.
            await File.WriteAllTextAsync(configFile + ".new", $"repositories:\n  - name: demo\n    path: {repoPath}\nencryption:\n  passphrase_file: {passFile}\n" +
                $"clusters:\n  sandbox:\n    connection: {sandbox.ConnectionString}\n    pgdata: {sandbox.DataDir}\n    bindir: {sandbox.BinDir}\n", ct).ConfigureAwait(false);
            File.Move(configFile + ".new", configFile, overwrite: true);
            renderer.Line($"2. initialised an encrypted repository at {repoPath} (AES-256-GCM, key wrapped by a passphrase in {passFile})");

            // From here on the demo is a caller like any other: every step goes through the vault.
            var vault = Vault.Open(selection);
            var manifest = (await renderer.WithProgressAsync(p => new LogicalBackup(vault, p).RunAsync(new LogicalBackupOptions
            {
                Databases = ["shop"],
                Globals = "roles",
                Compression = vault.Settings.Compression(null),
            }, ct)).ConfigureAwait(false)).Manifest;
            renderer.Line($"3. backed up database 'shop' + roles: backup {manifest.Id}, {Units.Bytes(manifest.SizeBytes)} dumped, {Units.Bytes(manifest.StoredBytes)} stored, {Units.Duration(manifest.DurationSeconds)}");

            renderer.Line("4. the catalog (pgvault list):");
            var catalogs = await vault.OpenCatalogsAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false);
            var all = await catalogs.Catalogs[0].ListAsync(ct).ConfigureAwait(false);
            renderer.Table(["id", "type", "databases", "size", "stored"],
                all.Select(m => new[] { m.Id, m.Type, ListCommand.Databases(m), Units.Bytes(m.SizeBytes), Units.Bytes(m.StoredBytes) }));

            var restored = await renderer.WithProgressAsync(p => new LogicalRestore(vault, p)
                .RunAsync(new LogicalRestoreOptions { BackupId = manifest.Id, Jobs = 2 }, ct)).ConfigureAwait(false);
            renderer.Line($"5. restored backup {manifest.Id} into the new database '{restored.TargetDatabase}' in {Units.Duration(restored.DurationSeconds)}");

            var pgDump = vault.Tools.Find("pg_dump", 0);
            string before = await DumpTextAsync(pgDump, sandbox.Connection.WithDatabase("shop"), ct).ConfigureAwait(false);
            string after = await DumpTextAsync(pgDump, sandbox.Connection.WithDatabase(restored.TargetDatabase!), ct).ConfigureAwait(false);
            long count = await CountAsync(sandbox.Connection.WithDatabase(restored.TargetDatabase!), ct).ConfigureAwait(false);
            if (before != after || count != rows)
                throw new PgVaultException(ErrorCode.VerificationFailed, $"verification failed: the restored database differs from the original ({count} of {rows} orders)");
            renderer.Line($"6. verified: {count} orders restored, and pg_dump of the restore is identical to pg_dump of the original ({before.Length} characters)");

            await PhysicalAndPitrAsync(sandbox, vault, rows, work, renderer, ct).ConfigureAwait(false);

            if (result.GetValue(Keep)) renderer.Line($"kept the repository at {repoPath}; passphrase in {passFile}; configuration {configFile}");
            renderer.Line("done: the sandbox cluster is stopped and removed. Point a configuration at your own server to do this for real (see README).");
            return 0;
        }
        finally
        {
            if (!result.GetValue(Keep)) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// Steps 7-10: a physical full backup, a restore point, a "mistake" (every order deleted), and
    /// a point-in-time restore to the restore point into a new data directory that is started and
    /// checked: the mistake is undone.
    /// </summary>
    private static async Task PhysicalAndPitrAsync(SandboxCluster sandbox, Vault vault, int rows, string work, Renderer renderer, CancellationToken ct)
    {
        var full = (await renderer.WithProgressAsync(p => new PhysicalBackup(vault, p).RunAsync(new PhysicalBackupOptions
        {
            Type = "full",
            PgData = vault.Settings.PgData,
            Compression = vault.Settings.Compression(null),
        }, ct)).ConfigureAwait(false)).Manifest;
        renderer.Line($"7. physical full backup {full.Id}: {full.Physical!.Files.Count} files, {Units.Bytes(full.SizeBytes)} -> {Units.Bytes(full.StoredBytes)}, page checksums verified, WAL {full.Physical.StartWal} archived");

        var shop = sandbox.Connection.WithDatabase("shop");
        await ExecuteAsync(shop, "INSERT INTO orders (customer_id, status, amount, placed_at) SELECT 1, 'new', 9.99, now() FROM generate_series(1, 100)", ct).ConfigureAwait(false);
        var point = await new CreateRestorePoint(vault, NullProgress.Instance).RunAsync(new RestorePointOptions("before-mistake"), ct).ConfigureAwait(false);
        await ExecuteAsync(shop, "DELETE FROM orders", ct).ConfigureAwait(false);
        renderer.Line($"8. 100 more orders, restore point 'before-mistake' at LSN {point.Lsn}, then a mistake: DELETE FROM orders ({await CountAsync(shop, ct).ConfigureAwait(false)} orders left)");
        string segment = await ScalarTextAsync(sandbox.Connection, "SELECT pg_walfile_name(pg_switch_wal())", ct).ConfigureAwait(false);
        var archive = new WalArchive(await vault.OpenRepositoriesAsync(forWriting: false, renderer.Warn, ct).ConfigureAwait(false), vault.Cluster.Name, NullProgress.Instance);
        for (int i = 0; !await archive.InEveryRepositoryAsync(segment, ct).ConfigureAwait(false); i++)
        {
            if (i > 600) throw new PgVaultException(ErrorCode.ArchiveTimeout, $"WAL segment {segment} was not archived within a minute (see {sandbox.LogFile})");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }

        string root = Path.Combine(work, "pitr");
        Directory.CreateDirectory(root);
        await SandboxCluster.GiveToServerUserAsync(root, recursive: false, ct).ConfigureAwait(false);
        var outcome = await renderer.WithProgressAsync(p => new PhysicalRestore(vault, p).RunAsync(new PhysicalRestoreOptions
        {
            PgData = Path.Combine(root, "data"),
            TargetName = point.Name,
            TargetAction = "promote",
            ArchiveMode = "off",
        }, ct)).ConfigureAwait(false);
        renderer.Line($"9. point-in-time restore of {outcome.Plan.BackupId} to 'before-mistake' into {outcome.Plan.PgData}: {outcome.FilesWritten} files in {Units.Duration(outcome.DurationSeconds)}, WAL {outcome.Plan.WalFrom} .. {outcome.Plan.WalTo}");

        await using var restored = await SandboxCluster.StartExistingAsync(root, sandbox.BinDir, ct).ConfigureAwait(false);
        for (int i = 0; await ScalarTextAsync(restored.Connection, "SELECT pg_is_in_recovery()::text", ct).ConfigureAwait(false) == "true"; i++)
        {
            if (i > 600) throw new PgVaultException(ErrorCode.ToolFailed, $"the restored server did not finish recovery within a minute (see {restored.LogFile})");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        long count = await CountAsync(restored.Connection.WithDatabase("shop"), ct).ConfigureAwait(false);
        if (count != rows + 100) throw new PgVaultException(ErrorCode.VerificationFailed, $"verification failed: the point-in-time restore has {count} orders, expected {rows + 100}");
        renderer.Line($"10. verified: the restored server (port {restored.Port}) recovered to the restore point and has all {count} orders: the mistake is undone");
    }

    private static async Task ExecuteAsync(ConnInfo connection, string sql, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(connection, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<string> ScalarTextAsync(ConnInfo connection, string sql, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(connection, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static async Task CreateSampleAsync(ConnInfo connection, int rows, CancellationToken ct)
    {
        await using (var conn = await PgServer.ConnectAsync(connection, ct).ConfigureAwait(false))
        {
            foreach (var sql in new[] { "CREATE ROLE shop_reader", "CREATE DATABASE shop" })
            {
                await using var cmd = new NpgsqlCommand(sql, conn);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        await using var shop = await PgServer.ConnectAsync(connection.WithDatabase("shop"), ct).ConfigureAwait(false);
        await using var create = new NpgsqlCommand($"""
            CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
            CREATE TABLE customer (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, email text UNIQUE);
            CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customer, status order_status NOT NULL,
                                 amount numeric(12,2) NOT NULL, placed_at timestamptz NOT NULL);
            CREATE INDEX ON orders (customer_id);
            INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 1000) i;
            INSERT INTO orders (customer_id, status, amount, placed_at)
                SELECT 1 + i % 1000, (ARRAY['new','paid','shipped']::order_status[])[1 + i % 3], (i % 997) * 1.25,
                       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute'
                FROM generate_series(1, {rows}) i;
            CREATE VIEW revenue AS SELECT status, sum(amount) AS total FROM orders GROUP BY status;
            CREATE FUNCTION customer_total(c int) RETURNS numeric LANGUAGE sql STABLE AS 'SELECT coalesce(sum(amount), 0) FROM orders WHERE customer_id = c';
            GRANT SELECT ON ALL TABLES IN SCHEMA public TO shop_reader;
            COMMENT ON TABLE orders IS 'sample orders';
            """, shop);
        await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<long> CountAsync(ConnInfo connection, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(connection, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM orders", conn);
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static async Task<string> DumpTextAsync(PgTool pgDump, ConnInfo connection, CancellationToken ct)
    {
        await using var child = ChildProcess.Start(pgDump, ["--dbname=" + connection.ToLibpqConnInfo(), "--no-password", "--format=p", "--restrict-key=pgvaultdemo"],
            connection.ChildEnvironment(), "pg_dump (verification)", redirectInput: false, redirectOutput: true, ct);
        using var reader = new StreamReader(child.StandardOutput);
        string text = await reader.ReadToEndAsync(ct).ConfigureAwait(false);
        await child.WaitSuccessAsync(ct).ConfigureAwait(false);
        return text;
    }
}
