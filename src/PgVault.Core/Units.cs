using System.Globalization;

namespace PgVault.Core;

/// <summary>Human renderings of sizes and durations.</summary>
public static class Units
{
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} B" : value.ToString(value < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    public static string Duration(double seconds) =>
        seconds < 60 ? seconds.ToString("0.0", CultureInfo.InvariantCulture) + "s" : TimeSpan.FromSeconds(Math.Round(seconds)).ToString("c", CultureInfo.InvariantCulture);

    /// <summary>
    /// A span written as a number and a unit: s, m, h, d or w (e.g. "90m", "14d", "2w"); several
    /// parts add up ("1d12h"). False for anything else, or for zero.
    /// </summary>
    public static bool TryParseDuration(string? text, out TimeSpan span)
    {
        span = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
            if (i == start || i == text.Length || i - start > 6) return false;
            long number = long.Parse(text.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture);
            TimeSpan unit = text[i] switch
            {
                's' => TimeSpan.FromSeconds(1),
                'm' => TimeSpan.FromMinutes(1),
                'h' => TimeSpan.FromHours(1),
                'd' => TimeSpan.FromDays(1),
                'w' => TimeSpan.FromDays(7),
                _ => TimeSpan.Zero,
            };
            if (unit == TimeSpan.Zero) return false;
            span += unit * number;
            i++;
        }
        return span > TimeSpan.Zero;
    }
}
