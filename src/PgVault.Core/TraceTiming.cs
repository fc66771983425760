using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace PgVault.Core;

/// <summary>
/// A diagnostic: with <c>PGVAULT_TRACE_TIMING=1</c> in the environment, <see cref="Mark"/> prints
/// to standard error how long each phase of a command took (milliseconds since the previous mark
/// and since the first one, with the process's memory at that point), and <see cref="Add"/> sums
/// the time spent in a named step across threads, printed by <see cref="Report"/>. Off (the default), every call is one field read.
/// Never prints data, keys or paths: only the phase names given here.
/// </summary>
public static class TraceTiming
{
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("PGVAULT_TRACE_TIMING") == "1";

    private static readonly long Start = Stopwatch.GetTimestamp();
    private static long _last = Start;
    private static readonly ConcurrentDictionary<string, long[]> Sums = new(StringComparer.Ordinal);

    /// <summary>Prints the time since the previous mark under <paramref name="phase"/>.</summary>
    public static void Mark(string phase)
    {
        if (!Enabled) return;
        long now = Stopwatch.GetTimestamp();
        long previous = Interlocked.Exchange(ref _last, now);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"pgvault timing: {Ms(now - previous),8:0.00} ms  (at {Ms(now - Start),8:0.00} ms)  {phase}  [{Memory()}]"));
    }

    /// <summary>Where the memory is at a mark: the process's anonymous RSS and peak RSS, and the managed heap's committed and live bytes.</summary>
    private static string Memory()
    {
        string anon = "?", peak = "?";
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kib(line);
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kib(line);
            }
        }
        catch (IOException)
        {
            // not Linux: the timings alone
        }
        var gc = GC.GetGCMemoryInfo();
        return string.Create(CultureInfo.InvariantCulture,
            $"anon {anon} MiB, peak {peak} MiB, GC committed {gc.TotalCommittedBytes / 1048576.0:0.0} MiB, heap {GC.GetTotalMemory(false) / 1048576.0:0.0} MiB, gen2 GCs {GC.CollectionCount(2)}");
    }

    private static string Kib(string statusLine) =>
        (long.Parse(statusLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0).ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>A timestamp to pass to <see cref="Add"/> later (0 when tracing is off).</summary>
    public static long Now() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="since"/> (from <see cref="Now"/>) and <paramref name="bytes"/> to the sum of <paramref name="step"/>.</summary>
    public static void Add(string step, long since, long bytes = 0)
    {
        if (!Enabled) return;
        long elapsed = Stopwatch.GetTimestamp() - since;
        var sum = Sums.GetOrAdd(step, _ => new long[3]);
        Interlocked.Add(ref sum[0], elapsed);
        Interlocked.Add(ref sum[1], bytes);
        Interlocked.Increment(ref sum[2]);
    }

    /// <summary>Prints the sums of <see cref="Add"/> (thread time: steps on parallel threads overlap in wall time).</summary>
    public static void Report()
    {
        if (!Enabled || Sums.IsEmpty) return;
        foreach (var (step, sum) in Sums.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"pgvault timing: sum {Ms(sum[0]),10:0.0} ms  {sum[2],8} calls  {sum[1] / 1048576.0,10:0.0} MiB  {step}"));
        }
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
