using PgVault.Core.Errors;

namespace PgVault.Core.Config;

/// <summary>
/// Checks that files holding secrets are private, as ssh does for keys: the passphrase file (an
/// error when running as root, a warning otherwise) and the configuration file (a warning when
/// others may change it, or read it while it holds a password).
/// </summary>
public static class FilePermissions
{
    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    private static readonly HashSet<string> Warned = new(StringComparer.Ordinal);

    /// <summary>Where warnings go (standard error unless a host such as the daemon redirects them); each is given once.</summary>
    public static Action<string> Sink { get; set; } = message => Console.Error.WriteLine($"pgvault: warning: {message}");

    public static void CheckPassphraseFile(string path) => CheckPassphraseFile(path, Environment.IsPrivilegedProcess, Warn);

    /// <summary>A passphrase file group or others may read or write: an error as root, else a warning.</summary>
    internal static void CheckPassphraseFile(string path, bool asRoot, Action<string> warn)
    {
        var mode = ModeOf(path);
        if (mode is not { } m || (m & GroupOrOthers) == 0) return;
        string problem = $"passphrase file '{path}' is accessible by group or others (mode {Octal(m)})";
        string fix = $"chmod 600 {path}";
        if (asRoot) throw new PgVaultException(ErrorCode.ConfigPermission, problem, fix + " (refused when running as root, as ssh refuses such keys)");
        warn($"{problem}: {fix}");
    }

    public static void CheckConfigFile(string path, bool holdsSecret) => CheckConfigFile(path, holdsSecret, Warn);

    /// <summary>
    /// Warns when the configuration file may be changed by others (it decides where backups go and
    /// which passphrase file is read), or read by them while it holds a password.
    /// </summary>
    internal static void CheckConfigFile(string path, bool holdsSecret, Action<string> warn)
    {
        var mode = ModeOf(path);
        if (mode is not { } m) return;
        if ((m & WritableByOthers) != 0)
            warn($"config '{path}' is writable by group or others (mode {Octal(m)}): chmod go-w {path}");
        else if (holdsSecret && (m & GroupOrOthers) != 0)
            warn($"config '{path}' holds a password and is readable by group or others (mode {Octal(m)}): chmod 600 {path}, or move the password to ~/.pgpass");
    }

    private static void Warn(string message)
    {
        lock (Warned)
        {
            if (!Warned.Add(message)) return;
        }
        Sink(message);
    }

    private static UnixFileMode? ModeOf(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        try
        {
            return File.GetUnixFileMode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // reading it reports the problem
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8);
}
