using PgVault.Core.Repository;

namespace PgVault.Core.Vault;

/// <summary>
/// What a backup (logical or physical) produced: the manifest stored in each repository, in the
/// order of <see cref="Repositories"/>; sizes and checksums agree, stored bytes may differ.
/// </summary>
public sealed record BackupResult(IReadOnlyList<BackupManifest> Manifests, IReadOnlyList<string> Repositories)
{
    /// <summary>The manifest as stored in the first repository (what the CLI reports).</summary>
    public BackupManifest Manifest => Manifests[0];
}
