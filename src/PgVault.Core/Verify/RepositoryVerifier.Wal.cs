using System.Globalization;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;

namespace PgVault.Core.Verify;

/// <summary>
/// Verify, the WAL side: what the archive holds per timeline (from the one listing), which stored
/// segments are read (those from the oldest selected physical backup's start on; the whole archive
/// when no physical backup is selected), and the verdicts: gaps, one name stored with two contents,
/// segments of another system, damaged segments, and each backup's own range.
/// </summary>
internal sealed partial class RepositoryVerifier
{
    private const long DefaultSegmentSize = 16L << 20;

    private sealed class WalModel
    {
        public long SegmentSize { get; init; } = DefaultSegmentSize;
        /// <summary>The first segment number of the window checked for continuity and read.</summary>
        public ulong WindowStart { get; init; }
        /// <summary>Every segment name the archive holds, with each stored copy.</summary>
        public SortedDictionary<string, List<Item>> Segments { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<uint, Item> Histories { get; } = [];
        /// <summary>The system identifiers this cluster's WAL may carry (cluster.json and the backups).</summary>
        public HashSet<ulong> Systems { get; } = [];
        public List<string> Problems { get; } = [];
    }

    private WalModel PlanWal(List<BackupPlan> plans)
    {
        var physical = plans.Select(p => p.Manifest?.Physical).OfType<PhysicalBackupInfo>().Where(p => p.StartWal.Length >= 24).ToList();
        long size = physical.Select(p => p.WalSegmentSize).FirstOrDefault(s => s > 0, DefaultSegmentSize);
        var model = new WalModel
        {
            SegmentSize = size,
            WindowStart = Math.Max(physical.Count == 0 ? 0 : physical.Min(p => WalSegments.Parse(p.StartWal, size).Segment),
                WindowStartWal is { Length: >= 24 } anchor ? WalSegments.Parse(anchor, size).Segment : 0),
        };
        string prefix = RepositoryLayout.WalPrefix(Cluster);
        foreach (var key in _listing.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
        {
            string file = key[(key.LastIndexOf('/') + 1)..];
            int dash = file.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0 || WalFileName.TryParse(file[..dash]) is not { } wal) continue;
            if (wal.Kind is not (WalFileKind.Segment or WalFileKind.TimelineHistory)) continue;
            if (RepositoryLayout.ParseWalObject(Cluster, wal.Name, key) is not { } parsed || CompressionSpec.TypeFromExtension(parsed.Extension) is not { } compression)
            {
                model.Problems.Add($"{key} is not a WAL object name PgVault writes");
                continue;
            }
            bool history = wal.Kind == WalFileKind.TimelineHistory;
            var item = new Item(key, history ? ItemKind.History : ItemKind.Wal, parsed.Sha16) { Wal = wal, WalTag = parsed.Sha16, Compression = compression };
            if (history)
            {
                model.Histories[wal.Timeline] = item;
                _items[key] = item;
                continue;
            }
            if (!model.Segments.TryGetValue(wal.Name, out var copies)) model.Segments[wal.Name] = copies = [];
            copies.Add(item);
            if (WalSegments.Parse(wal.Name, size).Segment >= model.WindowStart) _items[key] = item;
        }
        return model;
    }

    private async Task ReadSystemsAsync(WalModel model, List<BackupPlan> plans, CancellationToken ct)
    {
        string key = RepositoryLayout.ClusterInfo(Cluster);
        if (_listing.ContainsKey(key))
        {
            _metadataRead++;
            try
            {
                var info = await Repo.ReadMetadataAsync(key, RepositoryJson.Default.ClusterInfo, ct).ConfigureAwait(false);
                foreach (var s in info?.History ?? []) AddSystem(model, s.SystemIdentifier);
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                model.Problems.Add($"{key} is damaged: {e.Message}");
            }
        }
        foreach (var p in plans) AddSystem(model, p.Manifest?.Server.SystemIdentifier);
    }

    private static void AddSystem(WalModel model, string? text)
    {
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong system)) model.Systems.Add(system);
    }

    private ulong Number(WalModel model, string name) => WalSegments.Parse(name, model.SegmentSize).Segment;

    private string Name(WalModel model, uint timeline, ulong segment) => WalSegments.Name(timeline, segment, model.SegmentSize);

    /// <summary>What is wrong with one stored segment name, or nothing: two contents, or every copy damaged or of another system.</summary>
    private IEnumerable<string> SegmentProblems(WalModel model, string name, List<Item> copies)
    {
        var tags = copies.Select(c => c.WalTag).Distinct(StringComparer.Ordinal).ToList();
        if (tags.Count > 1)
            yield return $"segment {name} is stored with {tags.Count} different contents ({string.Join(", ", copies.Select(c => c.Key))})";
        foreach (var copy in copies)
        {
            foreach (var problem in copy.Problems) yield return problem;
            if (copy.SystemIdentifier is { } system && model.Systems.Count > 0 && !model.Systems.Contains(system))
                yield return $"segment {name} ({copy.Key}) belongs to database system {system}, not to cluster '{Cluster}' (system {string.Join(", ", model.Systems)})";
        }
    }

    /// <summary>The archive's own problems in the window: damaged, duplicated and foreign segments, gaps per timeline and at timeline switches.</summary>
    private List<string> JudgeArchive(WalModel model)
    {
        var problems = new List<string>(model.Problems);
        foreach (var (name, copies) in model.Segments)
        {
            if (Number(model, name) >= model.WindowStart) problems.AddRange(SegmentProblems(model, name, copies));
        }
        foreach (var history in model.Histories.Values) problems.AddRange(history.Problems);
        var byTimeline = InWindow(model);
        foreach (var (timeline, numbers) in byTimeline)
        {
            for (int i = 1; i < numbers.Count; i++)
            {
                if (numbers[i] != numbers[i - 1] + 1)
                    problems.Add($"timeline {timeline}: a gap: {Span(model, timeline, numbers[i - 1] + 1, numbers[i] - 1)} missing between {Name(model, timeline, numbers[i - 1])} and {Name(model, timeline, numbers[i])}");
            }
        }
        foreach (var (timeline, history) in model.Histories)
        {
            if (history.Text is null) continue;
            List<TimelineSpan> spans;
            try
            {
                spans = TimelineHistory.Spans(timeline, history.Text);
            }
            catch (PgVaultException e)
            {
                problems.Add($"{history.Key}: {e.Message}");
                continue;
            }
            if (spans.Count < 2) continue;
            var parent = spans[^2];
            ulong branch = WalSegments.SegmentOf(parent.End, model.SegmentSize);
            string at = PostgreSql.Lsn.FormatLsn(parent.End);
            if (byTimeline.TryGetValue(timeline, out var own) && own[0] > branch && own[0] > model.WindowStart)
                problems.Add($"timeline {timeline} branches from timeline {parent.Timeline} at {at}, but its first stored segment is {Name(model, timeline, own[0])}: {Span(model, timeline, Math.Max(branch, model.WindowStart), own[0] - 1)} missing");
            if (branch > model.WindowStart && byTimeline.TryGetValue(parent.Timeline, out var before) && before[^1] < branch - 1)
                problems.Add($"timeline {parent.Timeline} ends at {Name(model, parent.Timeline, before[^1])}, but timeline {timeline} branches from it at {at}: {Span(model, parent.Timeline, before[^1] + 1, branch - 1)} missing");
        }
        return problems;
    }

    private string Span(WalModel model, uint timeline, ulong first, ulong last) =>
        first == last ? $"segment {Name(model, timeline, first)} is" : $"segments {Name(model, timeline, first)} .. {Name(model, timeline, last)} ({last - first + 1}) are";

    /// <summary>Segment numbers per timeline from the window start on, ascending.</summary>
    private SortedDictionary<uint, List<ulong>> InWindow(WalModel model)
    {
        var result = new SortedDictionary<uint, List<ulong>>();
        foreach (var name in model.Segments.Keys)
        {
            var (timeline, number) = WalSegments.Parse(name, model.SegmentSize);
            if (number < model.WindowStart) continue;
            if (!result.TryGetValue(timeline, out var list)) result[timeline] = list = [];
            list.Add(number);
        }
        foreach (var list in result.Values) list.Sort();
        return result;
    }

    /// <summary>Per timeline, the contiguous runs of segments the whole archive holds.</summary>
    private List<TimelineVerification> Timelines(WalModel model)
    {
        var byTimeline = new SortedDictionary<uint, List<ulong>>();
        foreach (var name in model.Segments.Keys)
        {
            var (timeline, number) = WalSegments.Parse(name, model.SegmentSize);
            if (!byTimeline.TryGetValue(timeline, out var list)) byTimeline[timeline] = list = [];
            list.Add(number);
        }
        var result = new List<TimelineVerification>();
        foreach (var (timeline, numbers) in byTimeline)
        {
            numbers.Sort();
            var ranges = new List<WalRange>();
            ulong start = numbers[0];
            for (int i = 1; i <= numbers.Count; i++)
            {
                if (i < numbers.Count && numbers[i] == numbers[i - 1] + 1) continue;
                ranges.Add(new WalRange(Name(model, timeline, start), Name(model, timeline, numbers[i - 1]), (int)(numbers[i - 1] - start + 1)));
                if (i < numbers.Count) start = numbers[i];
            }
            result.Add(new TimelineVerification { Timeline = timeline, Ranges = ranges });
        }
        return result;
    }

    /// <summary>A backup's verdict: its own problems and objects, then every WAL segment from its start to its stop.</summary>
    private BackupVerification Judge(BackupPlan plan, WalModel model)
    {
        var problems = new List<string>(plan.Problems);
        foreach (var item in plan.Items) problems.AddRange(item.Problems);
        string? firstMissing = null;
        if (plan.Manifest?.Physical is { StartWal.Length: >= 24, StopWal.Length: >= 24 } p)
        {
            var (timeline, first) = WalSegments.Parse(p.StartWal, model.SegmentSize);
            ulong last = WalSegments.Parse(p.StopWal, model.SegmentSize).Segment;
            int missing = 0;
            for (ulong s = first; s <= last; s++)
            {
                string name = Name(model, timeline, s);
                if (!model.Segments.TryGetValue(name, out var copies))
                {
                    firstMissing ??= name;
                    missing++;
                    continue;
                }
                problems.AddRange(SegmentProblems(model, name, copies).Select(x => $"its WAL: {x}"));
            }
            if (firstMissing != null)
                problems.Add($"WAL segment {firstMissing} of its range {p.StartWal} .. {p.StopWal} is missing{(missing > 1 ? $" ({missing} segments missing)" : "")}");
        }
        int own = problems.Count - (firstMissing != null ? 1 : 0);
        return new BackupVerification
        {
            Id = plan.Id,
            Type = plan.Type,
            Status = own > 0 ? VerifyStatus.Invalid : firstMissing != null ? VerifyStatus.WalMissing : VerifyStatus.Valid,
            Problems = problems.Distinct(StringComparer.Ordinal).ToList(),
            FirstMissingWal = firstMissing,
            ObjectsChecked = plan.Items.Count(i => i.Read),
        };
    }
}
