using PgVault.Core.IO;

namespace PgVault.Core.Pipeline;

/// <summary>A write-only stream that writes everything to each of its branches in turn (it leaves them open).</summary>
internal sealed class TeeStream(Stream[] branches) : WriteOnlyStreamBase
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
