using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Core.Vault;
using PgVault.Core.Errors;
using PgVault.Core.Wal;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault archive-get %f %p`: PostgreSQL's restore_command. Exit 0 with the file in place, or
/// exit 1 without a word when no repository has it (PostgreSQL asks past the end). Anything else
/// (a copy that is damaged in every repository, a repository that cannot be asked, a broken
/// configuration) exits <see cref="FatalExitCode"/>: PostgreSQL reads exit 1 as "end of archive"
/// and would promote short, but aborts recovery on an exit status above 125. One exception: a
/// standby (standby.signal in the data directory, where PostgreSQL runs restore_command) gets
/// exit 1 (with a warning) for every failure but a damaged copy — an unreachable repository, a
/// configuration it cannot read — since it never promotes on its own and asks again.
/// </summary>
internal static class ArchiveGetCommand
{
    /// <summary>Above 125, so PostgreSQL stops recovery instead of taking the file as the end of the archive.</summary>
    public const int FatalExitCode = 255;

    private static readonly Argument<string> FileName = new("file") { Description = "WAL file name (%f in restore_command)" };
    private static readonly Argument<string> Destination = new("destination") { Description = "Where to write it (%p in restore_command)" };
    private static readonly Option<bool> Partial = new("--partial")
    {
        Description = "When a segment is not archived, serve SEGMENT.partial (the wal-stream spool's, else the archive's) padded with zeros, so recovery replays everything streamed",
    };

    public static Command Build()
    {
        var command = new Command("archive-get",
            "Fetch one WAL file from the archive (restore_command = 'pgvault archive-get %f %p'); exit 1 when it is not archived, 255 (fatal to recovery) when it is archived but damaged or cannot be read")
        {
            FileName, Destination, Partial,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        string file = result.GetValue(FileName)!;
        try
        {
            var vault = Vault.Open(Globals.Read(result));
            var got = await new ArchiveGet(vault, new WarnOnly(renderer)).RunAsync(new ArchiveGetOptions(file, result.GetValue(Destination)!) { Partial = result.GetValue(Partial) }, ct).ConfigureAwait(false);
            switch (got.Status)
            {
                case WalGetStatus.Intact:
                    return 0;
                case WalGetStatus.Absent:
                    return 1;
                case WalGetStatus.Damaged:
                    renderer.Fail(ErrorCode.WalDamaged, $"WAL file {file} is archived but no repository has an intact copy: {string.Join("; ", got.Problems)}",
                        "recovery stops here instead of ending early; restore the object from a copy of the repository, or restore to a target before this file");
                    return FatalExitCode;
                case WalGetStatus.Unknown when File.Exists("standby.signal"):
                    // A standby (PostgreSQL runs restore_command in the data directory) never promotes at the
                    // end of the archive: it streams and asks again, so an unreachable store must not stop it.
                    renderer.Warn($"cannot tell whether WAL file {file} is archived: {string.Join("; ", got.Problems)}; the standby will ask again");
                    return 1;
                default:
                    renderer.Fail(ErrorCode.RepositoryUnreachable, $"cannot tell whether WAL file {file} is archived: {string.Join("; ", got.Problems)}",
                        "recovery stops here instead of ending early; make the repository reachable and start the server again");
                    return FatalExitCode;
            }
        }
        catch (PgVaultException e) when (File.Exists("standby.signal"))
        {
            renderer.Warn($"cannot tell whether WAL file {file} is archived: {e.Message}; the standby will ask again");
            return 1;
        }
        catch (PgVaultException e)
        {
            // Any other failure (configuration, passphrase, usage) must not read as "end of archive" either.
            renderer.Fail(e.Code, $"archive-get {file}: {e.Message}", e.Hint);
            if (renderer.Verbose) Console.Error.WriteLine(e);
            return FatalExitCode;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Nor may an unexpected one (a full disk under pg_wal, say).
            renderer.Fail(ErrorCode.Internal, $"archive-get {file}: unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}", "run again with --verbose for details and report it");
            if (renderer.Verbose) Console.Error.WriteLine(e);
            return FatalExitCode;
        }
    }
}
