using System.Runtime.InteropServices;

namespace PgVault.Core.IO;

/// <summary>
/// What a parent may have left on a PgVault process's signals, undone where PgVault handles them
/// itself, as PostgreSQL's postmaster sets up its own signals whatever it inherited: a blocked mask
/// (<see cref="UnblockTermination"/>, every process, at start-up) and the daemon's ignored SIGHUP
/// (<see cref="RestoreIgnoredHangup"/>). Both survive fork and exec.
/// </summary>
public static partial class SignalMask
{
    private const int SigUnblock = 1; // SIG_UNBLOCK on Linux
    private const int SigHup = 1, SigInt = 2, SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static unsafe partial int PthreadSigmask(int how, ulong* set, ulong* old);

    [LibraryImport("libc", EntryPoint = "sigaction")]
    private static unsafe partial int SigAction(int signal, byte* action, byte* old);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);

    private const nint SigDfl = 0, SigIgn = 1;

    /// <summary>
    /// For the daemon, which handles SIGHUP itself (a reload): a SIGHUP that the parent left ignored
    /// (<c>nohup pgvault daemon &amp;</c>) is set back to its default just before the handler is
    /// registered, since .NET does not install a handler over an inherited SIG_IGN and every
    /// reload would be lost silently. PostgreSQL's postmaster installs its SIGHUP handler the same
    /// way, whatever it inherited. A hangup then reloads instead of ending the daemon, which is
    /// what nohup asked for. Other commands keep an ignored SIGHUP.
    /// </summary>
    public static unsafe void RestoreIgnoredHangup()
    {
        if (!OperatingSystem.IsLinux()) return;
        byte* old = stackalloc byte[256]; // struct sigaction (152 bytes on x86_64 and aarch64 glibc); sa_handler first
        if (SigAction(SigHup, null, old) != 0) return;
        if (*(nint*)old == SigIgn) _ = Signal(SigHup, SigDfl);
    }

    /// <summary>
    /// Unblocks SIGHUP, SIGINT and SIGTERM for the calling thread (the main thread, which lives as
    /// long as the process) and the threads it creates later. A mask inherited blocked (from a
    /// supervisor, or a runtime thread that masks signals while it forks) would keep them pending
    /// forever, since every thread copies its creator's mask; one accepting thread is enough.
    /// </summary>
    public static unsafe void UnblockTermination()
    {
        if (!OperatingSystem.IsLinux()) return;
        ulong* set = stackalloc ulong[16]; // glibc's sigset_t: 1024 bits
        for (int i = 0; i < 16; i++) set[i] = 0;
        set[0] = (1UL << (SigHup - 1)) | (1UL << (SigInt - 1)) | (1UL << (SigTerm - 1));
        _ = PthreadSigmask(SigUnblock, set, null);
    }
}
