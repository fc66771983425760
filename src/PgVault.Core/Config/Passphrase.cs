using PgVault.Core.Errors;

namespace PgVault.Core.Config;

/// <summary>
/// Reads the repository passphrase from where the configuration says: a file (which must be private,
/// see <see cref="FilePermissions"/>) or an environment variable (never passed on to child programs).
/// </summary>
public static class Passphrase
{
    /// <summary>The passphrase, or null when the configuration has no encryption section.</summary>
    public static string? Resolve(EncryptionConfig? encryption)
    {
        if (encryption is null) return null;
        string? value;
        if (encryption.PassphraseFile is { } file)
        {
            try
            {
                value = File.ReadAllText(file).TrimEnd('\r', '\n');
                FilePermissions.CheckPassphraseFile(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PgVaultException(ErrorCode.PassphraseUnavailable, $"unable to read passphrase file '{file}': {e.Message}",
                    "check encryption.passphrase_file; the file must be readable by the user running pgvault");
            }
        }
        else
        {
            PostgreSql.ChildEnvironment.MarkSecret(encryption.PassphraseEnv);
            value = Environment.GetEnvironmentVariable(encryption.PassphraseEnv!);
            if (value is null)
                throw new PgVaultException(ErrorCode.PassphraseUnavailable, $"environment variable '{encryption.PassphraseEnv}' (encryption.passphrase_env) is not set",
                    "export it before running pgvault, or use encryption.passphrase_file");
        }
        if (value.Length < 8)
            throw new PgVaultException(ErrorCode.PassphraseUnavailable, "the repository passphrase is shorter than 8 characters", "choose a longer passphrase");
        return value;
    }
}
