using PgVault.Core.IO;
using PgVault.Core.Errors;

namespace PgVault.Core.Repository;

/// <summary>
/// Wraps a stored object's stream so that any failure of the store while reading (I/O error,
/// dropped connection) becomes a <see cref="PgVaultException"/> marked
/// <see cref="PgVaultException.RepositoryFault"/>: the reader may then try another repository.
/// </summary>
internal sealed class FaultMarkingStream(Stream inner, string repository, string key) : ReadOnlyStreamBase
{
    public override bool CanRead => true;

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return inner.Read(buffer);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Mark(e, repository, key);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Mark(e, repository, key);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    internal static bool IsStoreFailure(Exception e) => e is not (OperationCanceledException or OutOfMemoryException or ObjectDisposedException);

    /// <summary>The failure as a repository fault, keeping a PgVault message when there is one.</summary>
    internal static PgVaultException Mark(Exception e, string repository, string key) => e is PgVaultException p
        ? new PgVaultException(p.Code, p.Message, p.Hint, p.InnerException ?? p) { RepositoryFault = true }
        : new PgVaultException(ErrorCode.IoFailed, $"unable to read '{key}' from repository '{repository}': {e.Message}", null, e) { RepositoryFault = true };
}
