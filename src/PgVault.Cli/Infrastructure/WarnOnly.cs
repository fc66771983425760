using PgVault.Core.Progress;

namespace PgVault.Cli.Infrastructure;

/// <summary>A progress sink for quick commands: warnings reach stderr, the rest is not shown.</summary>
internal sealed class WarnOnly(Renderer renderer) : IProgressSink
{
    public void Info(string message)
    {
    }

    public void Warn(string message) => renderer.Warn(message);

    public IProgressTask Start(string description, long? totalBytes = null) => NullProgress.Instance.Start(description, totalBytes);
}
