namespace PgVault.Core.Daemon;

/// <summary>How one scheduled run ended.</summary>
public static class TaskResults
{
    public const string Success = "success";
    public const string Failure = "failure";
    public const string Cancelled = "cancelled";
    /// <summary>A slot that passed while the daemon was down, older than catch_up.</summary>
    public const string Missed = "missed";
}

/// <summary>One scheduled run, as it ended.</summary>
/// <param name="Task">backup, verify, drill or expire.</param>
/// <param name="What">The schedule in short: "backup full", "backup logical shop", "drill random".</param>
/// <param name="Result">One of <see cref="TaskResults"/>.</param>
/// <param name="ErrorCode">The wire name of the error (PgVaultException's code), null on success.</param>
/// <param name="Message">What happened, one line (the error message on failure).</param>
public sealed record TaskOutcome(string Cluster, string Task, string What, string Result, string? ErrorCode, string Message, DateTimeOffset Started, TimeSpan Duration);

/// <summary>
/// Told about every scheduled run (alerts, metrics). Called on the scheduler's worker threads:
/// implementations must be thread-safe, return quickly and not throw (an exception is logged and ignored).
/// </summary>
public interface ITaskObserver
{
    void TaskStarted(string cluster, string task, string what);

    void TaskFinished(TaskOutcome outcome);
}
