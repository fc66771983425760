using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Errors;

namespace PgVault.Core.Repository;

/// <summary>
/// The repository's random 256-bit data key, wrapped (AES-256-GCM) by a key derived from the
/// passphrase with PBKDF2-SHA256 and a random salt. Changing the passphrase re-wraps the data key
/// and re-encrypts nothing. The wrap is bound to the repository format (its AAD names it), so a
/// descriptor edited to claim an older format no longer unwraps.
/// </summary>
internal static class KeyWrapping
{
    public const int DefaultIterations = 600_000;

    /// <summary>Iterations accepted from a descriptor (untrusted): fewer is weak, more is a denial of service.</summary>
    public const int MinIterations = 100_000;

    public const int MaxIterations = 10_000_000;

    private const int SaltSize = 32;

    public static byte[] NewDataKey() => RandomNumberGenerator.GetBytes(32);

    private static byte[] Aad(int format) => Encoding.ASCII.GetBytes(format <= 1 ? "pgvault data key v1" : $"pgvault data key v{format}");

    public static RepositoryEncryption Wrap(byte[] dataKey, string passphrase, int format, int iterations = DefaultIterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(SaltSize);
        byte[] kek = Derive(passphrase, salt, iterations);
        byte[] nonce = RandomNumberGenerator.GetBytes(12);
        byte[] cipher = new byte[dataKey.Length];
        byte[] tag = new byte[16];
        using (var gcm = new AesGcm(kek, 16))
        {
            gcm.Encrypt(nonce, dataKey, cipher, tag, Aad(format));
        }
        CryptographicOperations.ZeroMemory(kek);
        return new RepositoryEncryption
        {
            Iterations = iterations,
            Salt = Convert.ToBase64String(salt),
            WrappedKey = Convert.ToBase64String([.. nonce, .. cipher, .. tag]),
        };
    }

    /// <summary>
    /// Unwraps the data key of a repository of <paramref name="format"/>; a wrong passphrase is one
    /// clear error, and so is every out-of-range or malformed value of the (untrusted) descriptor.
    /// The key derivation runs on the thread pool so that <paramref name="ct"/> (SIGTERM) interrupts the wait.
    /// </summary>
    public static async Task<byte[]> UnwrapAsync(RepositoryEncryption encryption, string passphrase, int format, string repositoryName, CancellationToken ct)
    {
        if (encryption.Kdf != "pbkdf2-sha256" || encryption.Cipher != "aes-256-gcm-framed-v1")
            throw new PgVaultException(ErrorCode.RepositoryFormat, $"repository '{repositoryName}' uses encryption '{encryption.Cipher}' with '{encryption.Kdf}', which this version of PgVault does not know",
                "upgrade PgVault");
        if (encryption.Iterations is < MinIterations or > MaxIterations)
            throw PgVaultException.Corrupt(RepositoryLayout.Descriptor, $"key derivation iterations {encryption.Iterations} outside {MinIterations}..{MaxIterations}");
        byte[] salt = FromBase64(encryption.Salt, "salt");
        if (salt.Length != SaltSize) throw PgVaultException.Corrupt(RepositoryLayout.Descriptor, $"salt has {salt.Length} bytes, not {SaltSize}");
        byte[] wrapped = FromBase64(encryption.WrappedKey, "wrapped key");
        if (wrapped.Length != 12 + 32 + 16) throw PgVaultException.Corrupt(RepositoryLayout.Descriptor, "wrapped key has a wrong length");
        byte[] kek = await Task.Run(() => Derive(passphrase, salt, encryption.Iterations), CancellationToken.None).WaitAsync(ct).ConfigureAwait(false);
        byte[] key = new byte[32];
        try
        {
            using var gcm = new AesGcm(kek, 16);
            gcm.Decrypt(wrapped.AsSpan(0, 12), wrapped.AsSpan(12, 32), wrapped.AsSpan(44, 16), key, Aad(format));
            return key;
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new PgVaultException(ErrorCode.WrongPassphrase, $"wrong passphrase for repository '{repositoryName}' (or its descriptor {RepositoryLayout.Descriptor} was altered)",
                "check encryption.passphrase_file / passphrase_env in the configuration");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    private static byte[] FromBase64(string? value, string what)
    {
        try
        {
            return Convert.FromBase64String(value ?? throw new FormatException());
        }
        catch (FormatException)
        {
            throw PgVaultException.Corrupt(RepositoryLayout.Descriptor, $"{what} is not base64");
        }
    }

    private static byte[] Derive(string passphrase, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(passphrase), salt, iterations, HashAlgorithmName.SHA256, 32);
}
