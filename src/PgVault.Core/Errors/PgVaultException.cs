namespace PgVault.Core.Errors;

/// <summary>What went wrong, in a form that maps to an exit code.</summary>
public enum ErrorKind
{
    /// <summary>The operation failed (exit 1).</summary>
    Failure = 1,
    /// <summary>The command line or configuration is wrong (exit 2).</summary>
    Usage = 2,
    /// <summary>A check found a warning-level problem (exit 3).</summary>
    Warning = 3,
    /// <summary>The command was interrupted (exit 130, as after SIGINT).</summary>
    Interrupted = 130,
}

/// <summary>
/// The one exception type PgVault raises for expected failures. The message is one sentence that
/// names the object and what failed; <see cref="Hint"/> says what to do about it. The CLI prints
/// both without a stack trace (unless --verbose).
/// </summary>
public sealed class PgVaultException : Exception
{
    public PgVaultException(ErrorCode code, string message, string? hint = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Hint = hint;
    }

    public string? Hint { get; }

    /// <summary>The stable code of the error; <see cref="Kind"/> and <see cref="ExitCode"/> derive from it.</summary>
    public ErrorCode Code { get; }

    public ErrorKind Kind => Code.Kind();

    public int ExitCode => (int)Kind;

    /// <summary>
    /// True when the failure lies with one repository (damaged or missing object, unreachable
    /// store), so the same data may still be read from another repository.
    /// </summary>
    public bool RepositoryFault { get; init; }

    public static PgVaultException Usage(string message, string? hint = null) => new(ErrorCode.Usage, message, hint);

    /// <summary>A stored object failed its integrity check (checksum, authentication tag, framing).</summary>
    public static PgVaultException Corrupt(string key, string detail, Exception? inner = null) =>
        new(ErrorCode.ObjectCorrupt, $"corrupt object '{key}': {detail}", "restore from another repository or take a new backup", inner) { RepositoryFault = true };
}
