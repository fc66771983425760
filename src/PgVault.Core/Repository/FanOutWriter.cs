using PgVault.Core.Pipeline;
using PgVault.Core.Storage;

namespace PgVault.Core.Repository;

/// <summary>
/// Writes one object to several repositories from one producer, through one
/// <see cref="WritePipeline"/> with a branch per repository: the bytes are hashed and compressed
/// once, then each repository's branch encrypts them with its own data key (when it is
/// encrypted), counts what it stores and writes it. Every object is committed only after the
/// producer and every branch finished; if anything fails, no repository keeps the object.
/// </summary>
internal static class FanOutWriter
{
    public static Task<StoredFile[]> WriteAsync(
        IReadOnlyList<Repository> repositories,
        string key,
        CompressionSpec compression,
        Func<Stream, CancellationToken, Task> produce,
        CancellationToken ct) => WriteAsync(repositories, _ => key, compression, produce, ct);

    /// <summary>As above, with a key per repository (WAL objects carry a per-repository content tag).</summary>
    public static Task<StoredFile[]> WriteAsync(
        IReadOnlyList<Repository> repositories,
        Func<Repository, string> keyOf,
        CompressionSpec compression,
        Func<Stream, CancellationToken, Task> produce,
        CancellationToken ct) => WriteAsync(repositories, keyOf, compression, produce, hashSource: true, ct);

    /// <summary>
    /// As above; with <paramref name="hashSource"/> false the bytes produced are not hashed again
    /// (the caller has their checksum, e.g. already compressed WAL) and the results' Sha256 is empty.
    /// </summary>
    public static async Task<StoredFile[]> WriteAsync(
        IReadOnlyList<Repository> repositories,
        Func<Repository, string> keyOf,
        CompressionSpec compression,
        Func<Stream, CancellationToken, Task> produce,
        bool hashSource,
        CancellationToken ct)
    {
        var writers = new List<ObjectWriter>(repositories.Count);
        try
        {
            foreach (var repository in repositories) repository.EnsureWritable();
            var branches = new List<WriteBranch>(repositories.Count);
            foreach (var repository in repositories)
            {
                string key = keyOf(repository);
                var writer = await repository.Store.OpenWriteAsync(key, ct).ConfigureAwait(false);
                writers.Add(writer);
                branches.Add(new WriteBranch(writer, repository.DataKey, repository.DataKey != null && repository.BindsNames ? key : null));
            }
            PipelineResult result;
            await using (var pipeline = ObjectPipeline.OpenWrite(branches, compression, hashSource))
            {
                await produce(pipeline.Input, ct).ConfigureAwait(false);
                result = await pipeline.CompleteAsync(ct).ConfigureAwait(false);
            }
            foreach (var writer in writers) await writer.CommitAsync(ct).ConfigureAwait(false);
            return repositories.Select((repository, i) => new StoredFile
            {
                SizeBytes = result.SourceBytes,
                StoredBytes = result.StoredBytesPerBranch[i],
                Sha256 = result.SourceSha256,
                Compression = CompressionSpec.TypeName(compression.Type),
                Encrypted = repository.DataKey != null,
            }).ToArray();
        }
        finally
        {
            foreach (var writer in writers) await writer.DisposeAsync().ConfigureAwait(false); // aborts what was not committed
        }
    }
}
