using PgVault.Core.PostgreSql;

namespace PgVault.Core.Drill;

/// <summary>How the restored tables of one database are held against the record taken at backup time.</summary>
/// <param name="Exact">The restore is at the backup's own point (logical; physical to immediate): lists must match, tables must not be emptied.</param>
/// <param name="Selective">A logical backup of some tables or schemas only: recorded tables left out are not missing.</param>
/// <param name="NoData">A schema-only backup: estimates are not compared.</param>
/// <param name="RecordedAtStart">A physical backup records at its start: tables created before its end are expected extras.</param>
public sealed record TableComparison(bool Exact, bool Selective, bool NoData, bool RecordedAtStart)
{
    /// <summary>An estimate this far off (either way) is noted.</summary>
    public const double EstimateFactor = 2;

    /// <summary>A table that came back empty fails the drill when the backup estimated at least this many rows.</summary>
    public const double EmptiedThreshold = 100;

    /// <summary>Problems (fail the drill) and notes (do not) for one database.</summary>
    public (List<string> Problems, List<string> Notes) Compare(DatabaseTables recorded, DatabaseTables restored)
    {
        var problems = new List<string>();
        var notes = new List<string>();
        var have = restored.Tables.ToDictionary(t => (t.Schema, t.Name));
        var had = recorded.Tables.Select(t => (t.Schema, t.Name)).ToHashSet();
        var missing = recorded.Tables.Where(t => !have.ContainsKey((t.Schema, t.Name))).Select(Name).ToList();
        var extra = restored.Tables.Where(t => !had.Contains((t.Schema, t.Name))).Select(Name).ToList();
        if (missing.Count > 0 && !Selective)
        {
            string text = $"{missing.Count} table(s) of the backup missing: {List(missing)}";
            if (Exact) problems.Add(text);
            else notes.Add($"{text} (dropped before the target?)");
        }
        if (extra.Count > 0)
        {
            string text = $"{extra.Count} table(s) not recorded at backup time: {List(extra)}";
            if (Exact && !RecordedAtStart) problems.Add(text);
            else notes.Add(text);
        }
        if (!Exact || NoData) return (problems, notes);
        foreach (var was in recorded.Tables.Where(t => !t.Unlogged && t.Rows >= 0))
        {
            if (!have.TryGetValue((was.Schema, was.Name), out var now) || now.Rows < 0) continue;
            if (now.Rows == 0 && was.Rows >= EmptiedThreshold)
                problems.Add($"table {Name(was)} came back empty; about {was.Rows:0} rows at backup time");
            else if (now.Rows > was.Rows * EstimateFactor + 10 || now.Rows < was.Rows / EstimateFactor - 10)
                notes.Add($"table {Name(was)} has about {now.Rows:0} rows, estimated {was.Rows:0} at backup time");
        }
        return (problems, notes);
    }

    private static string Name(TableEstimate t) => $"{t.Schema}.{t.Name}";

    private static string List(List<string> names) => string.Join(", ", names.Take(5)) + (names.Count > 5 ? ", ..." : "");
}
