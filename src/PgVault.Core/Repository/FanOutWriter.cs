using PgVault.Core.IO;
using PgVault.Core.Pipeline;
using PgVault.Core.Storage;

namespace PgVault.Core.Repository;

/// <summary>
/// Writes one object to several repositories from one producer: the bytes are hashed and
/// compressed once, then each repository's branch encrypts them with its own data key (when it
/// is encrypted), counts what it stores and writes it. Every object is committed only after the
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
    public static async Task<StoredFile[]> WriteAsync(
        IReadOnlyList<Repository> repositories,
        Func<Repository, string> keyOf,
        CompressionSpec compression,
        Func<Stream, CancellationToken, Task> produce,
        CancellationToken ct)
    {
        var writers = new List<ObjectWriter>(repositories.Count);
        var counters = new List<CountingStream>(repositories.Count);
        var encryptors = new List<EncryptingStream?>(repositories.Count);
        try
        {
            foreach (var repository in repositories) repository.EnsureWritable();
            foreach (var repository in repositories)
            {
                string key = keyOf(repository);
                var writer = await repository.Store.OpenWriteAsync(key, ct).ConfigureAwait(false);
                writers.Add(writer);
                var counter = new CountingStream(writer, leaveOpen: true);
                counters.Add(counter);
                encryptors.Add(repository.DataKey is { } dataKey ? new EncryptingStream(counter, dataKey, leaveOpen: true, repository.BindsNames ? key : null) : null);
            }
            var branches = counters.Select((c, i) => (Stream?)encryptors[i] ?? c).ToArray();
            PipelineResult result;
            await using (var tee = new TeeStream(branches))
            await using (var pipeline = ObjectPipeline.OpenWrite(tee, compression, dataKey: null))
            {
                await produce(pipeline.Input, ct).ConfigureAwait(false);
                result = await pipeline.CompleteAsync(ct).ConfigureAwait(false);
            }
            for (int i = 0; i < writers.Count; i++)
            {
                if (encryptors[i] is { } encryptor) await encryptor.FinishAsync(ct).ConfigureAwait(false);
                await counters[i].FlushAsync(ct).ConfigureAwait(false);
            }
            foreach (var writer in writers) await writer.CommitAsync(ct).ConfigureAwait(false);
            return counters.Select((c, i) => new StoredFile
            {
                SizeBytes = result.SourceBytes,
                StoredBytes = c.Bytes,
                Sha256 = result.SourceSha256,
                Compression = CompressionSpec.TypeName(compression.Type),
                Encrypted = encryptors[i] != null,
            }).ToArray();
        }
        finally
        {
            foreach (var encryptor in encryptors)
            {
                if (encryptor != null) await encryptor.DisposeAsync().ConfigureAwait(false);
            }
            foreach (var writer in writers) await writer.DisposeAsync().ConfigureAwait(false); // aborts what was not committed
        }
    }

    /// <summary>A write-only stream that writes everything to each of its branches in turn.</summary>
    private sealed class TeeStream(Stream[] branches) : WriteOnlyStreamBase
    {
        public override bool CanWrite => true;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            foreach (var branch in branches) branch.Write(buffer);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            foreach (var branch in branches) await branch.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        public override void Flush()
        {
            foreach (var branch in branches) branch.Flush();
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            foreach (var branch in branches) await branch.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
