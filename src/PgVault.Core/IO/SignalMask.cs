using System.Runtime.InteropServices;

namespace PgVault.Core.IO;

/// <summary>
/// Unblocks SIGHUP, SIGINT and SIGTERM on the main thread at start-up, as PostgreSQL's postmaster
/// sets its own mask. A blocked signal mask is inherited across fork and exec: a PgVault started by
/// a parent that had them blocked (a supervisor, a test runner, a thread of a runtime that masks
/// signals while it forks) would leave SIGTERM and the daemon's SIGHUP pending forever, because
/// every thread the runtime creates copies the mask of its creator. The main thread lives as long
/// as the process (it waits for the command), so one thread that accepts them is enough.
/// </summary>
public static partial class SignalMask
{
    private const int SigUnblock = 1; // SIG_UNBLOCK on Linux
    private const int SigHup = 1, SigInt = 2, SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static unsafe partial int PthreadSigmask(int how, ulong* set, ulong* old);

    /// <summary>Unblocks the three signals for the calling thread (and the threads it creates later).</summary>
    public static unsafe void UnblockTermination()
    {
        if (!OperatingSystem.IsLinux()) return;
        ulong* set = stackalloc ulong[16]; // glibc's sigset_t: 1024 bits
        for (int i = 0; i < 16; i++) set[i] = 0;
        set[0] = (1UL << (SigHup - 1)) | (1UL << (SigInt - 1)) | (1UL << (SigTerm - 1));
        _ = PthreadSigmask(SigUnblock, set, null);
    }
}
