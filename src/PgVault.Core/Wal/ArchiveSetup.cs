using Npgsql;
using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;

namespace PgVault.Core.Wal;

/// <summary>What `pgvault setup archiving` proposes (and with --apply, did).</summary>
public sealed record ArchiveSetupPlan(IReadOnlyList<string> Statements, string ArchiveCommand, bool Applied, bool RestartRequired, IReadOnlyList<string> Changes);

/// <summary>What `pgvault setup archiving` was asked for.</summary>
public sealed record ArchiveSetupOptions(bool Apply);

/// <summary>
/// The server settings WAL archiving into PgVault needs: wal_level, archive_mode, archive_command
/// (pgvault-wal next to this pgvault, else this pgvault, with the vault's selection). Planned, and with <see cref="ArchiveSetupOptions.Apply"/> applied.
/// </summary>
public sealed class ArchiveSetup(Vault.Vault vault, IProgressSink progress)
{
    public async Task<ArchiveSetupPlan> RunAsync(ArchiveSetupOptions options, CancellationToken ct)
    {
        string command = ArchiveCommand(WalInvocation(), vault.SelectionArguments());
        var plan = await PlanAsync(vault.Connection, command, options.Apply, ct).ConfigureAwait(false);
        if (plan.Applied)
        {
            foreach (var statement in plan.Statements) progress.Info("applied: " + statement);
        }
        return plan;
    }

    /// <summary>
    /// The archive_command that runs <paramref name="invocation"/> (absolute path; see <see cref="WalInvocation"/>)
    /// with the same configuration: <c>/opt/pgvault/pgvault-wal --config /etc/pgvault/pgvault.yaml --cluster main archive-push %p</c>.
    /// </summary>
    public static string ArchiveCommand(IReadOnlyList<string> invocation, IReadOnlyList<string> selection) =>
        string.Join(' ', invocation.Concat(selection).Select(ShellQuote)) + " archive-push %p";

    /// <summary>The same for restore_command (archive-get %f %p; with <paramref name="partial"/>, archive-get --partial %f %p).</summary>
    public static string RestoreCommand(IReadOnlyList<string> invocation, IReadOnlyList<string> selection, bool partial = false) =>
        string.Join(' ', invocation.Concat(selection).Select(ShellQuote)) + (partial ? " archive-get --partial %f %p" : " archive-get %f %p");

    /// <summary>How to start this PgVault again: the native binary, or dotnet + the assembly when run that way.</summary>
    public static IReadOnlyList<string> SelfInvocation()
    {
        string process = Environment.ProcessPath ?? throw new PgVaultException(ErrorCode.Internal, "unable to find the path of the pgvault executable");
        if (Path.GetFileNameWithoutExtension(process) == "dotnet")
            return [process, Path.Combine(AppContext.BaseDirectory, "pgvault.dll")];
        return [Path.GetFullPath(process)];
    }

    /// <summary>
    /// How to run the WAL commands (archive-push, archive-get): <c>pgvault-wal</c> when it sits next
    /// to this pgvault and may stand in for it (<see cref="WalBinary"/>: the same commands in a binary
    /// that starts in less than half the time; see docs/wal-archiving.md), else this pgvault itself.
    /// </summary>
    public static IReadOnlyList<string> WalInvocation() => WalProgram.Value;

    private static readonly Lazy<IReadOnlyList<string>> WalProgram = new(() => WalBinary.For(SelfInvocation()));

    public static async Task<ArchiveSetupPlan> PlanAsync(ConnInfo connection, string archiveCommand, bool apply, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase("postgres"), ct).ConfigureAwait(false);
        var current = await SettingsAsync(conn, ct).ConfigureAwait(false);
        var statements = new List<string>();
        var changes = new List<string>();
        bool restart = false;
        if (current["wal_level"] == "minimal")
        {
            statements.Add("ALTER SYSTEM SET wal_level = 'replica'");
            changes.Add("wal_level minimal -> replica");
            restart = true;
        }
        if (current["archive_mode"] == "off")
        {
            statements.Add("ALTER SYSTEM SET archive_mode = 'on'");
            changes.Add("archive_mode off -> on");
            restart = true;
        }
        if (current["archive_command"] != archiveCommand)
        {
            statements.Add($"ALTER SYSTEM SET archive_command = {PgServer.QuoteLiteral(archiveCommand)}");
            changes.Add($"archive_command '{current["archive_command"]}' -> '{archiveCommand}'");
        }
        if (statements.Count > 0) statements.Add("SELECT pg_reload_conf()");
        if (apply)
        {
            foreach (var sql in statements)
            {
                await using var cmd = new NpgsqlCommand(sql, conn);
                try
                {
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                catch (PostgresException e)
                {
                    throw new PgVaultException(ErrorCode.ServerQueryFailed, $"'{sql}' failed: {e.MessageText}", "setup --apply needs a superuser connection");
                }
            }
        }
        return new ArchiveSetupPlan(statements, archiveCommand, apply, restart, changes);
    }

    internal static async Task<Dictionary<string, string>> SettingsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_library', 'wal_segment_size')", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(ct).ConfigureAwait(false)) settings[reader.GetString(0)] = reader.GetString(1);
        return settings;
    }

    private static string ShellQuote(string word) =>
        word.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '-' or '_' or '=' or ':') ? word : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
