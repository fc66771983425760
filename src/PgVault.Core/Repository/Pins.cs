namespace PgVault.Core.Repository;

/// <summary>backups/ID/expiring.json: the backup is being removed (see <see cref="Catalog.MarkExpiringAsync"/>).</summary>
public sealed record ExpiringMarker
{
    public string Id { get; init; } = "";
    public DateTimeOffset Since { get; init; }
    public string Reason { get; init; } = "";
}

/// <summary>One pin (pgvault keep): the backup is kept until <see cref="Until"/> (null: forever).</summary>
public sealed record BackupPin
{
    public string Id { get; init; } = "";
    public DateTimeOffset? Until { get; init; }
    /// <summary>Also keep every WAL segment after the backup up to the next kept backup (PITR from it).</summary>
    public bool Pitr { get; init; }
    public DateTimeOffset PinnedAt { get; init; }

    public bool ActiveAt(DateTimeOffset now) => Until is not { } until || until > now;
}

/// <summary>clusters/C/pins.json: every pin of the cluster's backups in one repository.</summary>
public sealed record PinFile
{
    public List<BackupPin> Pins { get; init; } = [];
}

/// <summary>
/// The pins of one cluster in one repository: read by expire, list and delete, changed by
/// <c>pgvault keep</c> under the repository lock. Stored as checksummed (and, when encrypted,
/// authenticated) metadata like a manifest.
/// </summary>
public sealed class Pins(Catalog catalog)
{
    private string Key => RepositoryLayout.Pins(catalog.Cluster);

    public async Task<List<BackupPin>> ReadAsync(CancellationToken ct) =>
        (await catalog.Repository.ReadMetadataAsync(Key, RepositoryJson.Default.PinFile, ct).ConfigureAwait(false))?.Pins ?? [];

    /// <summary>Replaces the pin of <paramref name="pin"/>'s backup (call under the repository lock).</summary>
    public async Task SetAsync(BackupPin pin, CancellationToken ct)
    {
        var pins = await ReadAsync(ct).ConfigureAwait(false);
        pins.RemoveAll(p => p.Id == pin.Id);
        pins.Add(pin);
        await WriteAsync(pins, ct).ConfigureAwait(false);
    }

    /// <summary>Removes the pin of <paramref name="id"/>; false when it had none (call under the repository lock).</summary>
    public async Task<bool> ReleaseAsync(string id, CancellationToken ct)
    {
        var pins = await ReadAsync(ct).ConfigureAwait(false);
        if (pins.RemoveAll(p => p.Id == id) == 0) return false;
        await WriteAsync(pins, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Drops pins of backups that no longer exist (call under the repository lock).</summary>
    public async Task PruneAsync(IReadOnlySet<string> existing, CancellationToken ct)
    {
        var pins = await ReadAsync(ct).ConfigureAwait(false);
        if (pins.RemoveAll(p => !existing.Contains(p.Id)) > 0) await WriteAsync(pins, ct).ConfigureAwait(false);
    }

    private Task WriteAsync(List<BackupPin> pins, CancellationToken ct) =>
        catalog.Repository.WriteMetadataAsync(Key, new PinFile { Pins = [.. pins.OrderBy(p => p.Id, StringComparer.Ordinal)] }, RepositoryJson.Default.PinFile, ct);
}
