namespace PgVault.Core.Progress;

/// <summary>
/// How long operations report what they do. The CLI renders it as a progress bar on a terminal
/// and as log lines otherwise; tests use <see cref="NullProgress"/>.
/// </summary>
public interface IProgressSink
{
    /// <summary>A one-line message about a step (never contains secrets).</summary>
    void Info(string message);

    /// <summary>A warning that does not stop the operation.</summary>
    void Warn(string message);

    /// <summary>Starts a task with an optional total in bytes; returns a handle to advance it.</summary>
    IProgressTask Start(string description, long? totalBytes = null);
}

public interface IProgressTask : IDisposable
{
    /// <summary>Sets how many bytes are done so far.</summary>
    void Report(long doneBytes);
}

public sealed class NullProgress : IProgressSink
{
    public static readonly NullProgress Instance = new();

    public void Info(string message) { }

    public void Warn(string message) { }

    public IProgressTask Start(string description, long? totalBytes = null) => NullTask.Instance;

    private sealed class NullTask : IProgressTask
    {
        public static readonly NullTask Instance = new();
        public void Report(long doneBytes) { }
        public void Dispose() { }
    }
}
