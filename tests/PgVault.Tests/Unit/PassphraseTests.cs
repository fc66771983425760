using PgVault.Core.Config;
using PgVault.Core.Errors;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// Environment variables used here have unique names per test, so these tests can run in
/// parallel with everything else.
/// </summary>
public sealed class PassphraseTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pgvault-passphrase-");
    private readonly string _variable = "PGVAULT_TEST_PASSPHRASE_" + Guid.NewGuid().ToString("N");

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(_variable, null);
        _dir.Delete(recursive: true);
    }

    private string WriteFile(string content)
    {
        string path = Path.Combine(_dir.FullName, "passphrase");
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void No_encryption_section_means_no_passphrase()
    {
        Assert.Null(Passphrase.Resolve(null));
    }

    [Theory]
    [InlineData("correct horse battery\n")]
    [InlineData("correct horse battery\r\n")]
    [InlineData("correct horse battery\n\n")]
    [InlineData("correct horse battery")]
    public void File_passphrase_has_its_trailing_newline_trimmed(string content)
    {
        string path = WriteFile(content);

        Assert.Equal("correct horse battery", Passphrase.Resolve(new EncryptionConfig(path, null)));
    }

    [Fact]
    public void File_passphrase_keeps_inner_and_leading_spaces()
    {
        string path = WriteFile("  two words  \n");

        Assert.Equal("  two words  ", Passphrase.Resolve(new EncryptionConfig(path, null)));
    }

    [Fact]
    public void Missing_passphrase_file_is_a_clear_error()
    {
        string path = Path.Combine(_dir.FullName, "absent");

        var e = Assert.Throws<PgVaultException>(() => Passphrase.Resolve(new EncryptionConfig(path, null)));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("unable to read passphrase file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Environment_passphrase_is_read()
    {
        Environment.SetEnvironmentVariable(_variable, "from the environment");

        Assert.Equal("from the environment", Passphrase.Resolve(new EncryptionConfig(null, _variable)));
    }

    [Fact]
    public void Missing_environment_variable_is_named_in_the_error()
    {
        var e = Assert.Throws<PgVaultException>(() => Passphrase.Resolve(new EncryptionConfig(null, _variable)));

        Assert.Contains($"'{_variable}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("is not set", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_short_passphrase_from_a_file_is_rejected()
    {
        string path = WriteFile("1234567\n");

        var e = Assert.Throws<PgVaultException>(() => Passphrase.Resolve(new EncryptionConfig(path, null)));

        Assert.Contains("shorter than 8 characters", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("1234567", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_short_passphrase_from_the_environment_is_rejected()
    {
        Environment.SetEnvironmentVariable(_variable, "short");

        var e = Assert.Throws<PgVaultException>(() => Passphrase.Resolve(new EncryptionConfig(null, _variable)));

        Assert.Contains("shorter than 8 characters", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Eight_characters_are_enough()
    {
        string path = WriteFile("12345678\n");

        Assert.Equal("12345678", Passphrase.Resolve(new EncryptionConfig(path, null)));
    }
}
