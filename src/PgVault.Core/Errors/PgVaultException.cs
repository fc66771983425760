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
}

/// <summary>
/// The one exception type PgVault raises for expected failures. The message is one sentence that
/// names the object and what failed; <see cref="Hint"/> says what to do about it. The CLI prints
/// both without a stack trace (unless --verbose).
/// </summary>
public sealed class PgVaultException : Exception
{
    public PgVaultException(string message, string? hint = null, ErrorKind kind = ErrorKind.Failure, Exception? inner = null)
        : base(message, inner)
    {
        Hint = hint;
        Kind = kind;
    }

    public string? Hint { get; }

    public ErrorKind Kind { get; }

    public int ExitCode => (int)Kind;

    /// <summary>
    /// True when the failure lies with one repository (damaged or missing object, unreachable
    /// store), so the same data may still be read from another repository.
    /// </summary>
    public bool RepositoryFault { get; init; }

    public static PgVaultException Usage(string message, string? hint = null) => new(message, hint, ErrorKind.Usage);

    /// <summary>A stored object failed its integrity check (checksum, authentication tag, framing).</summary>
    public static PgVaultException Corrupt(string key, string detail, Exception? inner = null) =>
        new($"corrupt object '{key}': {detail}", "restore from another repository or take a new backup", ErrorKind.Failure, inner) { RepositoryFault = true };
}
