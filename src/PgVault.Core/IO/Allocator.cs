using System.Runtime.InteropServices;

namespace PgVault.Core.IO;

/// <summary>
/// glibc malloc settings for a PgVault process, applied once at start-up.
/// <para>
/// The native allocations of a backup or a restore (zstd contexts, OpenSSL state) are made on
/// thread-pool threads. By default glibc gives threads that contend up to 8 arenas per core and
/// keeps what they free; and its mmap threshold rises with every large block freed, so later
/// large blocks come from those arenas too and stay. Peak RSS then grew with the run time, so
/// with the cluster size (issue 15: about 2-3 MB per GB, measured in <c>bench/scale.sh</c>).
/// Capping the arenas at two and fixing the thresholds keeps large blocks mmapped (returned on
/// free) and lets free memory at the top of a heap go back to the kernel.
/// </para>
/// A setting the user gave in the environment (glibc's own <c>MALLOC_ARENA_MAX</c>,
/// <c>MALLOC_MMAP_THRESHOLD_</c>, <c>MALLOC_TRIM_THRESHOLD_</c>) wins: that one is left alone.
/// </summary>
public static partial class Allocator
{
    public const int ArenaMax = 2;
    public const int MmapThreshold = 256 * 1024;
    public const int TrimThreshold = 1024 * 1024;

    // <malloc.h> parameter numbers (glibc, every architecture).
    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;
    private const int MArenaMax = -8;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);

    /// <summary>
    /// Applies the settings the environment does not set. Returns the names of those applied
    /// (empty off Linux, or where the C library has no mallopt).
    /// </summary>
    public static IReadOnlyList<string> Configure()
    {
        var applied = new List<string>();
        if (!OperatingSystem.IsLinux()) return applied;
        try
        {
            Apply("MALLOC_ARENA_MAX", MArenaMax, ArenaMax, applied);
            Apply("MALLOC_MMAP_THRESHOLD_", MMmapThreshold, MmapThreshold, applied);
            Apply("MALLOC_TRIM_THRESHOLD_", MTrimThreshold, TrimThreshold, applied);
        }
        catch (EntryPointNotFoundException)
        {
            // A C library without mallopt (not glibc): its own defaults stand.
        }
        return applied;
    }

    private static void Apply(string variable, int parameter, int value, List<string> applied)
    {
        if (Environment.GetEnvironmentVariable(variable) is not null) return;
        // mallopt returns 1 on success, 0 on error (musl's stub always returns 0).
        if (Mallopt(parameter, value) == 1) applied.Add(variable);
    }
}
