using PgVault.Core.Config;

namespace PgVault.Core.Daemon;

/// <summary>What start-up does with the slots a schedule passed while the daemon was down.</summary>
/// <param name="RunNow">The newest missed slot when it is younger than catch_up: run it once now.</param>
/// <param name="Missed">Slots not run (logged and counted as missed); capped at <see cref="ScheduleClock.MaxCounted"/>.</param>
/// <param name="Newest">The newest slot passed (what the state records as handled), or null when none passed.</param>
public sealed record CatchUpDecision(DateTimeOffset? RunNow, int Missed, DateTimeOffset? Newest);

/// <summary>The time arithmetic of schedules: next slot, and catch-up after a downtime. Pure functions.</summary>
public static class ScheduleClock
{
    public const int MaxCounted = 100_000;

    /// <summary>The first slot strictly after <paramref name="after"/>, in UTC (null: the expression never fires again).</summary>
    public static DateTimeOffset? Next(ScheduleSpec spec, DateTimeOffset after)
    {
        if (spec.Every is { } every)
        {
            long since = after.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
            long n = Math.DivRem(since, every.Ticks, out long rest) + 1;
            if (since < 0 && rest != 0) n--;
            return DateTimeOffset.UnixEpoch.AddTicks(n * every.Ticks);
        }
        return spec.Cron!.GetNextOccurrence(after.ToUniversalTime(), spec.TimeZone)?.ToUniversalTime();
    }

    /// <summary>
    /// The slots in (<paramref name="lastHandled"/>, <paramref name="now"/>]: the newest runs now when it
    /// is younger than <paramref name="catchUp"/>, every other one is missed. Nothing when the
    /// schedule was never handled (a new schedule does not catch up on its past).
    /// </summary>
    public static CatchUpDecision CatchUp(ScheduleSpec spec, DateTimeOffset? lastHandled, DateTimeOffset now, TimeSpan catchUp)
    {
        if (lastHandled is not { } last || last >= now) return new CatchUpDecision(null, 0, null);
        int count = 0;
        DateTimeOffset? newest = null;
        for (var slot = Next(spec, last); slot is { } s && s <= now; slot = Next(spec, s))
        {
            newest = s;
            if (++count >= MaxCounted)
            {
                // Far behind: jump to the newest slot without counting every one in between.
                newest = Previous(spec, now) ?? s;
                break;
            }
        }
        if (newest is not { } n) return new CatchUpDecision(null, 0, null);
        bool run = catchUp > TimeSpan.Zero && now - n < catchUp;
        return new CatchUpDecision(run ? n : null, run ? count - 1 : count, n);
    }

    /// <summary>The newest slot at or before <paramref name="now"/> within the last year, searched forward day by day.</summary>
    private static DateTimeOffset? Previous(ScheduleSpec spec, DateTimeOffset now)
    {
        for (var from = now.AddDays(-1); from > now.AddYears(-1); from = from.AddDays(-1))
        {
            DateTimeOffset? best = null;
            for (var slot = Next(spec, from); slot is { } s && s <= now; slot = Next(spec, s)) best = s;
            if (best != null) return best;
        }
        return null;
    }
}
