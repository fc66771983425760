using System.Globalization;

namespace PgVault.Core.Storage;

/// <summary>
/// A process told apart from a later one that reuses its pid: the pid and its start time in clock
/// ticks since boot (field 22 of /proc/PID/stat). A writer named by both is provably gone when
/// /proc/PID is missing or the process there started at another time.
/// </summary>
internal static class ProcessIdentity
{
    /// <summary>This process's pid.</summary>
    public static int Pid { get; } = Environment.ProcessId;

    /// <summary>This process's start time (0 where /proc is not available).</summary>
    public static long StartTicks { get; } = StartTicksOf(Environment.ProcessId) ?? 0;

    /// <summary>"PID-START", as embedded in temporary names.</summary>
    public static string Tag { get; } = $"{Pid}-{StartTicks}";

    /// <summary>Start time of <paramref name="pid"/>, or null when no such process runs.</summary>
    public static long? StartTicksOf(int pid)
    {
        if (pid <= 0) return null;
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
        int close = text.LastIndexOf(')');
        if (close < 0) return null;
        string[] fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state): field 22 (starttime) is fields[19].
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out long start) ? start : null;
    }

    /// <summary>
    /// True while the process <paramref name="pid"/> started at <paramref name="startTicks"/> runs on
    /// this host. A start time of 0 (unknown) falls back to the pid alone.
    /// </summary>
    public static bool IsAlive(int pid, long startTicks)
    {
        if (pid == Pid && (startTicks == 0 || startTicks == StartTicks)) return true;
        long? actual = StartTicksOf(pid);
        if (actual is null) return OperatingSystem.IsLinux() ? false : true; // without /proc nothing is provable
        return startTicks == 0 || actual == startTicks;
    }

    /// <summary>Parses a "PID-START" tag (null when it is not one).</summary>
    public static (int Pid, long StartTicks)? ParseTag(string tag)
    {
        int dash = tag.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0) return null;
        return int.TryParse(tag.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            && long.TryParse(tag.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long start)
            ? (pid, start) : null;
    }
}
