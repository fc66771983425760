using PgVault.Core.IO;
using Amazon.S3.Model;

namespace PgVault.Core.Storage;

public sealed partial class S3ObjectStore
{
    /// <summary>
    /// The body of a GetObject response, streamed. Disposing it disposes the response (and so the
    /// connection's remaining bytes). A connection lost mid-read becomes a <see cref="Errors.PgVaultException"/>.
    /// </summary>
    private sealed class ReadStream(S3ObjectStore store, string objectKey, GetObjectResponse response) : ReadOnlyStreamBase
    {
        private readonly Stream _body = response.ResponseStream;
        private bool _disposed;

        public override bool CanRead => !_disposed;

        public override int Read(Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                return _body.Read(buffer);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, CancellationToken.None))
            {
                throw S3Errors.Translate(store, "GET", objectKey, e);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            cancellationToken.ThrowIfCancellationRequested(); // even when the connection has bytes buffered
            try
            {
                return await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, cancellationToken))
            {
                throw S3Errors.Translate(store, "GET", objectKey, e);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                _body.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
