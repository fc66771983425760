using System.Security.Cryptography;
using System.Text;
using PgVault.Core.Errors;

namespace PgVault.Core.Repository;

/// <summary>
/// The repository's random 256-bit data key, wrapped (AES-256-GCM) by a key derived from the
/// passphrase with PBKDF2-SHA256 and a random salt. Changing the passphrase re-wraps the data key
/// and re-encrypts nothing.
/// </summary>
public static class KeyWrapping
{
    public const int DefaultIterations = 600_000;
    private static readonly byte[] Aad = Encoding.ASCII.GetBytes("pgvault data key v1");

    public static byte[] NewDataKey() => RandomNumberGenerator.GetBytes(32);

    public static RepositoryEncryption Wrap(byte[] dataKey, string passphrase, int iterations = DefaultIterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(32);
        byte[] kek = Derive(passphrase, salt, iterations);
        byte[] nonce = RandomNumberGenerator.GetBytes(12);
        byte[] cipher = new byte[dataKey.Length];
        byte[] tag = new byte[16];
        using (var gcm = new AesGcm(kek, 16))
        {
            gcm.Encrypt(nonce, dataKey, cipher, tag, Aad);
        }
        CryptographicOperations.ZeroMemory(kek);
        return new RepositoryEncryption
        {
            Iterations = iterations,
            Salt = Convert.ToBase64String(salt),
            WrappedKey = Convert.ToBase64String([.. nonce, .. cipher, .. tag]),
        };
    }

    /// <summary>Unwraps the data key; a wrong passphrase is one clear error.</summary>
    public static byte[] Unwrap(RepositoryEncryption encryption, string passphrase, string repositoryName)
    {
        if (encryption.Kdf != "pbkdf2-sha256" || encryption.Cipher != "aes-256-gcm-framed-v1")
            throw new PgVaultException($"repository '{repositoryName}' uses encryption '{encryption.Cipher}' with '{encryption.Kdf}', which this version of PgVault does not know",
                "upgrade PgVault");
        byte[] wrapped = Convert.FromBase64String(encryption.WrappedKey);
        if (wrapped.Length != 12 + 32 + 16) throw PgVaultException.Corrupt(RepositoryLayout.Descriptor, "wrapped key has a wrong length");
        byte[] kek = Derive(passphrase, Convert.FromBase64String(encryption.Salt), encryption.Iterations);
        byte[] key = new byte[32];
        try
        {
            using var gcm = new AesGcm(kek, 16);
            gcm.Decrypt(wrapped.AsSpan(0, 12), wrapped.AsSpan(12, 32), wrapped.AsSpan(44, 16), key, Aad);
            return key;
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new PgVaultException($"wrong passphrase for repository '{repositoryName}'",
                "check encryption.passphrase_file / passphrase_env in the configuration");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    private static byte[] Derive(string passphrase, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(passphrase), salt, iterations, HashAlgorithmName.SHA256, 32);
}
