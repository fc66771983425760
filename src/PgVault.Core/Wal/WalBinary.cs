using System.Diagnostics;
using System.Reflection;
using PgVault.Core.IO;

namespace PgVault.Core.Wal;

/// <summary>
/// Whether <c>pgvault-wal</c> next to the running pgvault may run the WAL commands in its place
/// (archive_command and restore_command are run later, as the server's user, possibly by root's
/// hand today): only a regular file (no symbolic link) owned by pgvault's owner or root, no more
/// writable and no less executable than pgvault, of the very same version. Anything else and
/// pgvault itself is used: a file another user planted in a shared directory (where they can add
/// files but not replace pgvault), a copy left by an older install, or one the server cannot run.
/// </summary>
internal static class WalBinary
{
    public const string Name = "pgvault-wal";

    private const UnixFileMode Writable = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
    private const UnixFileMode Executable = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private static readonly Lazy<string?> OwnVersion = new(() =>
        Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    /// <summary>Null when <paramref name="sibling"/> may stand in for <paramref name="self"/>, else why not.</summary>
    public static string? WhyNot(string self, string sibling, Func<string, string?> versionOf, string? ownVersion)
    {
        var file = new FileInfo(sibling);
        if (!file.Exists) return "absent";
        if (file.LinkTarget != null) return "a symbolic link";
        var (selfUid, _) = Posix.GetOwner(self);
        var (uid, _) = Posix.GetOwner(sibling);
        if (uid != selfUid && uid != 0) return $"owned by uid {uid}, not by pgvault's owner";
        UnixFileMode selfMode = File.GetUnixFileMode(self), mode = file.UnixFileMode;
        if ((mode & Writable & ~(selfMode & Writable)) != 0) return "writable by more users than pgvault";
        if ((selfMode & Executable & ~(mode & Executable)) != 0) return "executable by fewer users than pgvault";
        string? version = versionOf(sibling);
        if (ownVersion == null || version != ownVersion) return $"version {version ?? "unknown"}, not {ownVersion ?? "unknown"}";
        return null;
    }

    /// <summary>
    /// The invocation of the WAL commands for <paramref name="self"/> (a native binary, or dotnet +
    /// pgvault.dll): pgvault-wal when <see cref="WhyNot"/> has no objection, else <paramref name="self"/>.
    /// </summary>
    public static IReadOnlyList<string> For(IReadOnlyList<string> self)
    {
        string last = self[^1];
        bool native = self.Count == 1;
        string name = native ? Name : Name + ".dll";
        if (Path.GetFileName(last) == name) return self;
        string sibling = Path.Combine(Path.GetDirectoryName(last)!, name);
        string? why = WhyNot(last, sibling, s => VersionOf(native ? [s] : [.. self.SkipLast(1), s]), OwnVersion.Value);
        return why == null ? [.. self.SkipLast(1), sibling] : self;
    }

    /// <summary>What <c>--version</c> prints (first line), or null when it cannot tell within 10 s.</summary>
    private static string? VersionOf(IReadOnlyList<string> invocation)
    {
        var psi = new ProcessStartInfo(invocation[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in invocation.Skip(1)) psi.ArgumentList.Add(arg);
        psi.ArgumentList.Add("--version");
        // Nothing of this process's environment (a passphrase variable, say) reaches the probe.
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/bin:/bin";
        try
        {
            using var process = Process.Start(psi);
            if (process == null) return null;
            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(10_000))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }
            return process.ExitCode == 0 ? output.GetAwaiter().GetResult().Split('\n')[0].Trim() : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return null;
        }
    }
}
