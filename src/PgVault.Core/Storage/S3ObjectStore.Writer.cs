using Amazon.S3;
using Amazon.S3.Model;
using PgVault.Core.Errors;

namespace PgVault.Core.Storage;

public sealed partial class S3ObjectStore
{
    private const string ContentType = "application/octet-stream";

    /// <summary>How long an abort of a multipart upload may take when a writer is disposed.</summary>
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(30);

    private void ApplyEncryption(PutObjectRequest request)
    {
        if (_settings.Sse is null) return;
        request.ServerSideEncryptionMethod = _settings.Sse == S3Settings.SseKms ? ServerSideEncryptionMethod.AWSKMS : ServerSideEncryptionMethod.AES256;
        if (_settings.SseKmsKeyId is { } keyId) request.ServerSideEncryptionKeyManagementServiceKeyId = keyId;
    }

    private void ApplyEncryption(InitiateMultipartUploadRequest request)
    {
        if (_settings.Sse is null) return;
        request.ServerSideEncryptionMethod = _settings.Sse == S3Settings.SseKms ? ServerSideEncryptionMethod.AWSKMS : ServerSideEncryptionMethod.AES256;
        if (_settings.SseKmsKeyId is { } keyId) request.ServerSideEncryptionKeyManagementServiceKeyId = keyId;
    }

    /// <summary>
    /// Buffers one part at a time in a pooled array. The first full part is sent only once a byte
    /// beyond it arrives, so an object of at most one part is a single PutObject at commit. Parts go
    /// out in the background, at most <c>_concurrency</c> at once; a write waits for a free slot.
    /// Any failure (or cancellation) poisons the writer: only dispose is left, which aborts.
    /// </summary>
    private sealed class Writer(S3ObjectStore store, string objectKey) : ObjectWriter
    {
        private readonly CancellationTokenSource _abort = new();
        private readonly List<Task<PartETag>> _inFlight = [];
        private readonly List<PartETag> _parts = [];
        private Task<string>? _create;
        private byte[]? _buffer;
        private int _filled;
        private int _nextPart = 1;
        private State _state;

        private enum State { Open, Failed, Committed, Closed }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            EnsureOpen();
            try
            {
                while (buffer.Length > 0)
                {
                    if (_filled == store._partSize) SendPartAsync(CancellationToken.None).GetAwaiter().GetResult();
                    int n = Append(buffer);
                    buffer = buffer[n..];
                }
            }
            catch
            {
                _state = State.Failed;
                throw;
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            EnsureOpen();
            if (cancellationToken.IsCancellationRequested)
            {
                _state = State.Failed;
                return ValueTask.FromCanceled(cancellationToken);
            }
            if (_buffer is not null && buffer.Length <= store._partSize - _filled)
            {
                Append(buffer.Span); // fast path: fits in the current part
                return ValueTask.CompletedTask;
            }
            return WriteSlowAsync(buffer, cancellationToken);
        }

        private async ValueTask WriteSlowAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct)
        {
            try
            {
                while (buffer.Length > 0)
                {
                    if (_filled == store._partSize) await SendPartAsync(ct).ConfigureAwait(false);
                    int n = Append(buffer.Span);
                    buffer = buffer[n..];
                }
            }
            catch
            {
                _state = State.Failed;
                throw;
            }
        }

        public override void Flush()
        {
            // Parts are staged in memory or in flight; durability comes with CommitAsync.
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override async Task CommitAsync(CancellationToken ct)
        {
            EnsureOpen();
            try
            {
                ct.ThrowIfCancellationRequested();
                if (_create is null)
                {
                    await PutWholeAsync(ct).ConfigureAwait(false);
                }
                else
                {
                    if (_filled > 0) await SendPartAsync(ct).ConfigureAwait(false);
                    while (_inFlight.Count > 0) await HarvestOneAsync(ct).ConfigureAwait(false);
                    await CompleteAsync(await _create.ConfigureAwait(false), ct).ConfigureAwait(false);
                }
                _state = State.Committed;
            }
            catch
            {
                _state = State.Failed;
                throw;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && _state != State.Closed) CloseAsync().GetAwaiter().GetResult();
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await CloseAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        /// <summary>Stops everything in flight and, unless committed, aborts the upload. Never throws.</summary>
        private async Task CloseAsync()
        {
            if (_state == State.Closed) return;
            bool committed = _state == State.Committed;
            _state = State.Closed;
            if (!committed)
            {
                await _abort.CancelAsync().ConfigureAwait(false);
                try { await Task.WhenAll(_inFlight).ConfigureAwait(false); } catch (Exception) { /* aborting anyway */ }
                if (_create is not null)
                {
                    string? uploadId = null;
                    try { uploadId = await _create.ConfigureAwait(false); } catch (Exception) { /* never started */ }
                    if (uploadId is not null) await AbortUploadAsync(uploadId).ConfigureAwait(false);
                }
            }
            if (_buffer is not null) store._buffers.Return(_buffer);
            _buffer = null;
            _abort.Dispose();
        }

        private async Task AbortUploadAsync(string uploadId)
        {
            using var timeout = new CancellationTokenSource(AbortTimeout);
            try
            {
                await store._client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
                {
                    BucketName = store._bucket,
                    Key = objectKey,
                    UploadId = uploadId,
                }, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Best effort: an upload left behind holds no visible object; ListUnfinishedUploadsAsync finds it.
            }
        }

        private int Append(ReadOnlySpan<byte> data)
        {
            _buffer ??= store._buffers.Rent(store._partSize);
            int n = Math.Min(data.Length, store._partSize - _filled);
            data[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            return n;
        }

        /// <summary>Starts the upload of the current buffer as the next part, after waiting for a free slot.</summary>
        private async Task SendPartAsync(CancellationToken ct)
        {
            _create ??= CreateUploadAsync();
            await _create.WaitAsync(ct).ConfigureAwait(false);
            // Surface failures early, and keep at most _concurrency parts (and buffers) in flight.
            foreach (var done in _inFlight.Where(t => t.IsCompleted).ToList())
            {
                _inFlight.Remove(done);
                _parts.Add(await done.ConfigureAwait(false));
            }
            while (_inFlight.Count >= store._concurrency) await HarvestOneAsync(ct).ConfigureAwait(false);
            byte[] buffer = _buffer!;
            int length = _filled;
            _buffer = null;
            _filled = 0;
            _inFlight.Add(UploadPartAsync(_create.Result, _nextPart++, buffer, length));
        }

        private async Task HarvestOneAsync(CancellationToken ct)
        {
            var done = await Task.WhenAny(_inFlight).WaitAsync(ct).ConfigureAwait(false);
            _inFlight.Remove(done);
            _parts.Add(await done.ConfigureAwait(false));
        }

        private async Task<string> CreateUploadAsync()
        {
            // Runs on the writer's own token so that dispose can wait for it and abort what it created.
            var request = new InitiateMultipartUploadRequest
            {
                BucketName = store._bucket,
                Key = objectKey,
                ContentType = ContentType,
                ChecksumAlgorithm = ChecksumAlgorithm.CRC32, // every part then carries one, and the completion lists them
            };
            store.ApplyEncryption(request);
            try
            {
                var response = await store._client.InitiateMultipartUploadAsync(request, _abort.Token).ConfigureAwait(false);
                return response.UploadId;
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, _abort.Token))
            {
                throw S3Errors.Translate(store, "PUT", objectKey, e);
            }
        }

        private async Task<PartETag> UploadPartAsync(string uploadId, int number, byte[] buffer, int length)
        {
            try
            {
                using var body = new MemoryStream(buffer, 0, length, writable: false);
                var response = await store._client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = store._bucket,
                    Key = objectKey,
                    UploadId = uploadId,
                    PartNumber = number,
                    PartSize = length,
                    InputStream = body,
                    ChecksumAlgorithm = ChecksumAlgorithm.CRC32,
                    UseChunkEncoding = false, // s3rver (and some others) would store the aws-chunked framing
                }, _abort.Token).ConfigureAwait(false);
                return new PartETag(response); // with the part's CRC32 when the server returned it
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, _abort.Token))
            {
                throw S3Errors.Translate(store, $"PUT (part {number})", objectKey, e);
            }
            finally
            {
                store._buffers.Return(buffer);
            }
        }

        private async Task PutWholeAsync(CancellationToken ct)
        {
            using var body = _buffer is null ? new MemoryStream([], writable: false) : new MemoryStream(_buffer, 0, _filled, writable: false);
            var request = new PutObjectRequest
            {
                BucketName = store._bucket,
                Key = objectKey,
                InputStream = body,
                AutoCloseStream = false,
                ContentType = ContentType,
                ChecksumAlgorithm = ChecksumAlgorithm.CRC32, // sent as a header: no aws-chunked body
                UseChunkEncoding = false,
            };
            store.ApplyEncryption(request);
            try
            {
                await store._client.PutObjectAsync(request, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
            {
                throw S3Errors.Translate(store, "PUT", objectKey, e);
            }
        }

        private async Task CompleteAsync(string uploadId, CancellationToken ct)
        {
            _parts.Sort((a, b) => (a.PartNumber ?? 0).CompareTo(b.PartNumber ?? 0));
            try
            {
                await store._client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = store._bucket,
                    Key = objectKey,
                    UploadId = uploadId,
                    PartETags = _parts,
                }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
            {
                throw S3Errors.Translate(store, "PUT (complete)", objectKey, e);
            }
        }

        private void EnsureOpen()
        {
            switch (_state)
            {
                case State.Open:
                    return;
                case State.Closed:
                    throw new ObjectDisposedException(nameof(ObjectWriter));
                case State.Committed:
                    throw new InvalidOperationException($"object '{objectKey}' is already committed");
                default:
                    throw new PgVaultException(ErrorCode.IoFailed, $"S3 repository '{store.Name}': writing '{objectKey}' failed earlier; the upload is abandoned");
            }
        }
    }
}
