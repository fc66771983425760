using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.PostgreSql;
using PgVault.Core.Progress;
using PgVault.Core.Repository;
using PgVault.Core.Storage;

namespace PgVault.Core.Verify;

/// <summary>
/// One run of verify over one repository: list the cluster's objects once, plan what each selected
/// backup needs (RepositoryVerifier.Plan.cs) and what the WAL window holds (RepositoryVerifier.Wal.cs),
/// read every object once, in parallel (RepositoryVerifier.Read.cs), then judge each backup and the archive.
/// </summary>
internal sealed partial class RepositoryVerifier(Catalog catalog, VerifyOptions options, IProgressSink progress, DateTimeOffset time)
{
    private Repository.Repository Repo => catalog.Repository;

    /// <summary>Where WAL continuity starts being required (the retention policy's PITR anchor), when later than the oldest backup.</summary>
    public string? WindowStartWal { get; init; }

    private string Cluster => catalog.Cluster;

    /// <summary>Every object of the cluster as listed at the start: missing objects are found here, without a read.</summary>
    private readonly Dictionary<string, ObjectInfo> _listing = new(StringComparer.Ordinal);

    /// <summary>Objects an earlier run verified, by key.</summary>
    private readonly Dictionary<string, VerifiedObject> _previous = new(StringComparer.Ordinal);

    private VerifyRecord? _previousRecord;

    /// <summary>Every object to check, by key: each is read at most once per run, whatever number of backups need it.</summary>
    private readonly Dictionary<string, Item> _items = new(StringComparer.Ordinal);

    private int _metadataRead;

    private enum ItemKind { Pack, File, Metadata, Wal, History }

    /// <summary>One stored object to read back and what it must hold.</summary>
    private sealed class Item(string key, ItemKind kind, string checksum)
    {
        public string Key { get; } = key;
        public ItemKind Kind { get; } = kind;
        /// <summary>What it is checked against (recorded SHA-256, or the WAL tag): a changed record is never skipped.</summary>
        public string Checksum { get; } = checksum;
        public StoredFile? Recorded { get; init; }
        /// <summary>Members of a pack that the selected backups need, by (offset, length, role).</summary>
        public Dictionary<(long Offset, long Length, MemberRole Role), Member> Members { get; } = [];
        public WalFileName? Wal { get; init; }
        public string? WalTag { get; init; }
        public CompressionType Compression { get; init; }
        public List<string> Problems { get; } = [];
        public bool Missing { get; set; }
        public bool Read { get; set; }
        public bool Skipped { get; set; }
        /// <summary>From a WAL segment's header, once read.</summary>
        public ulong? SystemIdentifier { get; set; }
        /// <summary>A timeline history's content, once read.</summary>
        public string? Text { get; set; }
        public bool IsData => Kind is ItemKind.Pack or ItemKind.File or ItemKind.Wal;
        public bool Failed => Missing || Problems.Count > 0;
    }

    private enum MemberRole { Whole, Base, Delta }

    /// <summary>A compressed member of a pack: a file stored whole, the base of a file stored as deltas, or a page delta.</summary>
    private sealed record Member(string Path, string Backup, long Offset, long Length, string Compression, MemberRole Role,
        long Size, string? Xxh128, string? Sha256, int Pages);

    public async Task<(RepositoryVerification Result, VerifyRecord Record)> RunAsync(CancellationToken ct)
    {
        using (progress.Start($"list repository '{Repo.Name}'"))
        {
            await foreach (var info in Repo.Store.ListAsync(RepositoryLayout.ClusterPrefix(Cluster), ct).ConfigureAwait(false))
                _listing[info.Key] = info;
        }
        await ReadPreviousAsync(ct).ConfigureAwait(false);

        var plans = new List<BackupPlan>();
        foreach (var id in SelectBackups())
            plans.Add(await PlanBackupAsync(id, ct).ConfigureAwait(false));
        var wal = PlanWal(plans);
        await ReadSystemsAsync(wal, plans, ct).ConfigureAwait(false);

        var (read, skipped, bytes) = await ReadItemsAsync(ct).ConfigureAwait(false);

        var walProblems = JudgeArchive(wal);
        var backups = plans.Select(p => Judge(p, wal)).ToList();
        var result = new RepositoryVerification
        {
            Repository = Repo.Name,
            Backups = backups,
            Timelines = Timelines(wal),
            WalProblems = walProblems,
            DataObjectsRead = read,
            DataObjectsSkipped = skipped,
            MetadataObjectsRead = _metadataRead,
            BytesRead = bytes,
        };
        return (result, Record(result));
    }

    /// <summary>The ids to verify: from the listing of manifests (a backup with a damaged manifest is still selected, and judged invalid).</summary>
    private List<string> SelectBackups()
    {
        if (options.WalOnly) return [];
        var ids = _listing.Keys
            .Select(k => RepositoryLayout.BackupIdOf(Cluster, k) is { } id && k == RepositoryLayout.Manifest(Cluster, id) && BackupId.IsValid(id) ? id : null)
            .OfType<string>().Order(StringComparer.Ordinal).ToList();
        if (options.Backup == "latest") return ids.Count == 0 ? [] : [ids[^1]];
        if (options.Backup is { } wanted)
        {
            BackupId.Parse(wanted);
            return ids.Contains(wanted) ? [wanted] : [];
        }
        if (options.Since is { } since) return ids.Where(id => BackupId.Parse(id).Start >= since).ToList();
        return ids;
    }

    private async Task ReadPreviousAsync(CancellationToken ct)
    {
        string prefix = RepositoryLayout.VerifyPrefix(Cluster);
        var keys = _listing.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k.EndsWith(".json", StringComparison.Ordinal))
            .OrderDescending(StringComparer.Ordinal).ToList();
        foreach (var key in keys)
        {
            _metadataRead++;
            try
            {
                _previousRecord = await Repo.ReadMetadataAsync(key, VerifyJson.Default.VerifyRecord, ct).ConfigureAwait(false);
            }
            catch (PgVaultException e) when (e.Kind != ErrorKind.Usage)
            {
                progress.Warn($"repository '{Repo.Name}': stored verification {key} is unreadable ({e.Message}); trying an older one");
                continue;
            }
            if (_previousRecord is null) continue;
            foreach (var v in _previousRecord.Verified) _previous[v.Key] = v;
            return;
        }
    }

    /// <summary>True when an earlier run verified <paramref name="item"/> and it is listed unchanged (size, time, checksum).</summary>
    private bool VerifiedBefore(Item item) =>
        _previous.TryGetValue(item.Key, out var v) && _listing.TryGetValue(item.Key, out var now)
        && v.Size == now.Size && v.Modified == now.LastModified && v.Checksum == item.Checksum;

    /// <summary>What is stored: this run's verdicts, earlier verdicts of backups not verified now, and every object known intact.</summary>
    private VerifyRecord Record(RepositoryVerification result)
    {
        var marks = new Dictionary<string, BackupVerifyMark>(StringComparer.Ordinal);
        if (_previousRecord != null)
        {
            foreach (var (id, mark) in _previousRecord.Backups)
                if (_listing.ContainsKey(RepositoryLayout.Manifest(Cluster, id))) marks[id] = mark;
        }
        foreach (var b in result.Backups) marks[b.Id] = new BackupVerifyMark { Time = time, Status = b.Status, Mode = options.Mode };
        var verified = new Dictionary<string, VerifiedObject>(StringComparer.Ordinal);
        foreach (var v in _previous.Values)
        {
            if (_listing.TryGetValue(v.Key, out var now) && now.Size == v.Size && now.LastModified == v.Modified) verified[v.Key] = v;
        }
        foreach (var item in _items.Values)
        {
            if (item.Failed) verified.Remove(item.Key);
            else if (item.Read && item.IsData && _listing.TryGetValue(item.Key, out var now))
                verified[item.Key] = new VerifiedObject { Key = item.Key, Size = now.Size, Modified = now.LastModified, Checksum = item.Checksum };
        }
        var problems = result.Backups.SelectMany(b => b.Problems.Select(p => $"backup {b.Id} {b.Status}: {p}"))
            .Concat(result.WalProblems.Select(p => "WAL: " + p)).ToList();
        return new VerifyRecord
        {
            Time = time,
            Mode = options.Mode,
            Valid = problems.Count == 0,
            Problems = problems,
            Backups = marks,
            Verified = verified.Values.OrderBy(v => v.Key, StringComparer.Ordinal).ToList(),
        };
    }
}
