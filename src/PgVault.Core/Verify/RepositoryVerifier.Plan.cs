using PgVault.Core.Pipeline;
using PgVault.Core.PostgreSql;
using PgVault.Core.Repository;

namespace PgVault.Core.Verify;

/// <summary>Verify, phase 1: what each selected backup needs — its manifest, its chain's manifests, every object and member.</summary>
internal sealed partial class RepositoryVerifier
{
    private sealed class BackupPlan(string id)
    {
        public string Id { get; } = id;
        public string Type { get; set; } = BackupId.KindOf(id)?.Name() ?? "";
        public BackupManifest? Manifest { get; set; }
        /// <summary>Problems found before any object is read (manifest, chain).</summary>
        public List<string> Problems { get; } = [];
        public List<Item> Items { get; } = [];
        /// <summary>Members of packs (and their item) that this backup restores from.</summary>
        public List<(Item Pack, Member Member)> Members { get; } = [];
    }

    /// <summary>Manifests read so far (a chain's are shared by its backups), or the problem that kept one from being read.</summary>
    private readonly Dictionary<string, (BackupManifest? Manifest, string? Problem)> _manifests = new(StringComparer.Ordinal);

    private async Task<(BackupManifest? Manifest, string? Problem)> ManifestAsync(string id, CancellationToken ct)
    {
        if (_manifests.TryGetValue(id, out var known)) return known;
        string key = RepositoryLayout.Manifest(Cluster, id);
        (BackupManifest?, string?) got;
        if (!_listing.ContainsKey(key))
        {
            got = (null, $"its manifest {key} is missing");
        }
        else
        {
            _metadataRead++;
            var (manifest, problem) = await catalog.ReadManifestOrProblemAsync(id, ct).ConfigureAwait(false);
            got = problem != null ? (null, $"its manifest {key} is damaged: {problem}")
                : manifest is null ? (null, $"its manifest {key} is missing")
                : manifest.Id != id ? (null, $"its manifest {key} is the manifest of backup {manifest.Id}")
                : (manifest, null);
        }
        _manifests[id] = got;
        return got;
    }

    private Item Add(BackupPlan plan, string key, ItemKind kind, StoredFile recorded)
    {
        if (!_items.TryGetValue(key, out var item))
        {
            item = new Item(key, kind, recorded.Sha256) { Recorded = recorded with { Encrypted = Repo.Encrypted } };
            _items[key] = item;
        }
        if (!plan.Items.Contains(item)) plan.Items.Add(item);
        return item;
    }

    private async Task<BackupPlan> PlanBackupAsync(string id, CancellationToken ct)
    {
        var plan = new BackupPlan(id);
        var (manifest, problem) = await ManifestAsync(id, ct).ConfigureAwait(false);
        if (manifest is null)
        {
            plan.Problems.Add(problem!);
            return plan;
        }
        plan.Manifest = manifest;
        plan.Type = manifest.Type;
        if (manifest.Physical is not { } physical)
        {
            foreach (var db in manifest.Databases)
                foreach (var f in db.Files) Add(plan, RepositoryLayout.BackupObject(Cluster, id, f.Object), ItemKind.File, f);
            if (manifest.Globals is { } g) Add(plan, RepositoryLayout.BackupObject(Cluster, id, g.File.Object), ItemKind.File, g.File);
            return plan;
        }
        if (physical.Chain.Count == 0 || physical.Chain[^1] != id)
            plan.Problems.Add($"its chain ({string.Join(", ", physical.Chain)}) does not end with itself");
        // The packs of every backup of the chain, as each recorded them.
        var packs = new Dictionary<(string Backup, string Pack), StoredFile>();
        foreach (var link in physical.Chain)
        {
            var (linked, linkProblem) = link == id ? (manifest, null) : await ManifestAsync(link, ct).ConfigureAwait(false);
            if (linked?.Physical is null)
            {
                plan.Problems.Add($"backup {link} of its chain cannot be used: {linkProblem ?? "it is not a physical backup"}");
                continue;
            }
            foreach (var pack in linked.Physical.Packs) packs[(link, pack.Object)] = pack;
        }
        var chain = physical.Chain.ToHashSet(StringComparer.Ordinal);
        void Need(string path, string backup, string pack, long offset, long length, string compression, MemberRole role, long size, string? xxh, string? sha, int pages)
        {
            if (!chain.Contains(backup))
            {
                plan.Problems.Add($"{path}: its bytes are in backup {backup}, which is not in the chain (the chain does not resolve)");
                return;
            }
            if (!packs.TryGetValue((backup, pack), out var recorded))
            {
                if (_manifests.TryGetValue(backup, out var m) && m.Manifest != null)
                    plan.Problems.Add($"{path}: pack {pack} of backup {backup} is not recorded in that backup's manifest (the chain does not resolve)");
                return; // an unreadable chain manifest is reported once above
            }
            var item = Add(plan, RepositoryLayout.BackupObject(Cluster, backup, pack), ItemKind.Pack, recorded);
            var member = new Member(path, backup, offset, length, compression, role, size, xxh, sha, pages);
            item.Members.TryAdd((offset, length, role), member);
            plan.Members.Add((item, member));
        }
        foreach (var f in physical.Files)
        {
            if (f.Pack.Length == 0)
            {
                if (f.Size != 0) plan.Problems.Add($"{f.Path}: {f.Size} bytes but no stored copy");
                continue;
            }
            if (f.Deltas is { Count: > 0 } deltas)
            {
                Need(f.Path, f.Backup, f.Pack, f.Offset, f.Length, f.Compression, MemberRole.Base, f.BaseSize ?? -1, f.BaseXxh128, null, 0);
                string? previous = f.Backup;
                foreach (var d in deltas)
                {
                    if (previous != null && string.CompareOrdinal(d.Backup, previous) <= 0)
                        plan.Problems.Add($"{f.Path}: its page delta from backup {d.Backup} does not follow {previous} (the delta chain does not resolve)");
                    previous = d.Backup;
                    Need(f.Path, d.Backup, d.Pack, d.Offset, d.Length, d.Compression, MemberRole.Delta, -1, null, null, d.Pages);
                }
                continue;
            }
            Need(f.Path, f.Backup, f.Pack, f.Offset, f.Length, f.Compression, MemberRole.Whole, f.Size, f.Xxh128, f.Sha256, 0);
        }
        var none = CompressionSpec.TypeName(CompressionType.None);
        Add(plan, RepositoryLayout.BackupObject(Cluster, id, physical.PgManifestObject), ItemKind.Metadata,
            new StoredFile { Compression = none, Sha256 = physical.PgManifestSha256, SizeBytes = physical.PgManifestBytes });
        if (physical.PageHashesObject is { } hashes && physical.PageHashesSha256 is { } hashesSha)
            Add(plan, RepositoryLayout.BackupObject(Cluster, id, hashes), ItemKind.Metadata,
                new StoredFile { Compression = none, Sha256 = hashesSha, SizeBytes = physical.PageHashesBytes });
        return plan;
    }
}
