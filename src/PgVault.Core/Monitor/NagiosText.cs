using System.Globalization;
using System.Text;

namespace PgVault.Core.Monitor;

/// <summary>
/// The Nagios plugin output of `pgvault status --nagios`: the first line is the overall state,
/// the worst problem and the performance data (<c>PGVAULT WARNING - main: newest backup 27h old |
/// backup_age=97200s;93600;187200 ...</c>); each further problem follows on a line of its own.
/// Exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the worst state, CRITICAL over WARNING over UNKNOWN).
/// </summary>
public static class NagiosText
{
    public static (int ExitCode, string Text) Render(IReadOnlyList<ClusterStatus> clusters)
    {
        var all = clusters.SelectMany(c => c.Checks.Select(check => (c.Cluster, Check: check))).ToList();
        var state = CheckStates.Worst(all.Select(x => x.Check.State));
        var problems = all.Where(x => x.Check.State != CheckState.Ok)
            .OrderByDescending(x => x.Check.State.Severity()).ToList();
        string summary = problems.Count > 0
            ? $"{problems[0].Cluster}: {problems[0].Check.Message}"
            : string.Join(", ", clusters.Select(c => $"{c.Cluster}: {c.Checks.Count} checks OK"));
        if (clusters.Count == 0) summary = "no cluster configured";
        bool prefix = clusters.Count > 1;
        var perf = string.Join(' ', all.Select(x => Perf(prefix ? $"{x.Cluster}.{x.Check.Name}" : x.Check.Name, x.Check)));
        var text = new StringBuilder();
        text.Append("PGVAULT ").Append(state.Name()).Append(" - ").Append(Clean(summary));
        if (perf.Length > 0) text.Append(" | ").Append(perf);
        text.Append('\n');
        foreach (var (cluster, check) in problems.Skip(1))
            text.Append(check.State.Name()).Append(" - ").Append(cluster).Append(": ").Append(Clean(check.Message)).Append('\n');
        return ((int)state, text.ToString());
    }

    /// <summary>One performance datum: label=value[unit];warn;crit (no value when unknown: "U").</summary>
    public static string Perf(string label, StatusCheck check)
    {
        string Number(double? v) => v is { } x ? Math.Round(x, x >= 100 ? 0 : 1).ToString("0.#", CultureInfo.InvariantCulture) : "";
        string value = check.Value is null ? "U" : Number(check.Value) + check.Unit;
        string name = label.Contains(' ', StringComparison.Ordinal) || label.Contains('=', StringComparison.Ordinal) ? $"'{label.Replace("'", "", StringComparison.Ordinal)}'" : label;
        return $"{name}={value};{Number(check.Warning)};{Number(check.Critical)}";
    }

    /// <summary>The plugin text may not hold '|' (it starts the performance data) or line breaks.</summary>
    private static string Clean(string text) => text.Replace('|', '/').Replace('\n', ' ').Replace('\r', ' ');
}
