using System.CommandLine;
using System.Runtime.InteropServices;
using PgVault.Core.Errors;

namespace PgVault.Cli.Infrastructure;

/// <summary>
/// Runs one command's action: SIGINT/SIGTERM cancel it (so it can clean up), a
/// <see cref="PgVaultException"/> becomes one line on stderr and its exit code, anything else a
/// one-line "unexpected" error (code internal; the stack trace only under --verbose). With
/// --output json the error is also printed on stdout as JSON (Renderer.Fail).
/// </summary>
internal static class CommandRunner
{
    public const int InterruptedExitCode = 130;

    public static void SetAction(Command command, Func<ParseResult, Renderer, CancellationToken, Task<int>> action)
    {
        command.SetAction((result, _) => RunAsync(result, action));
    }

    private static async Task<int> RunAsync(ParseResult result, Func<ParseResult, Renderer, CancellationToken, Task<int>> action)
    {
        using var cts = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // we stop ourselves, after cleaning up
            cts.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var renderer = new Renderer(Globals.Json(result), result.GetValue(Globals.Verbose));
        try
        {
            PgVault.Core.TraceTiming.Mark("signal handlers, renderer");
            return await action(result, renderer, cts.Token).ConfigureAwait(false);
        }
        catch (PgVaultException e)
        {
            renderer.Fail(e.Code, e.Message, e.Hint);
            if (renderer.Verbose) Console.Error.WriteLine(e);
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            renderer.Fail(ErrorCode.Interrupted, "interrupted; nothing incomplete was left in the repository", null);
            return InterruptedExitCode;
        }
        catch (Exception e)
        {
            renderer.Fail(ErrorCode.Internal, $"unexpected {e.GetType().Name}: {e.Message.Split('\n')[0]}", "run again with --verbose for details and report it");
            if (renderer.Verbose) Console.Error.WriteLine(e);
            return 1;
        }
        finally
        {
            PgVault.Core.TraceTiming.Mark("command done");
            PgVault.Core.TraceTiming.Report();
        }
    }
}
