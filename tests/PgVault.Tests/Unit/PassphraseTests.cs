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
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
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

    [Fact]
    public void PassphraseFileReadableByOthers_IsAnErrorAsRootAndAWarningOtherwise()
    {
        string path = WriteFile("correct horse battery\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100); // 0644
        var warnings = new List<string>();

        var e = Assert.Throws<PgVaultException>(() => FilePermissions.CheckPassphraseFile(path, asRoot: true, warnings.Add));
        Assert.Contains("is accessible by group or others (mode 0644)", e.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", e.Hint, StringComparison.Ordinal);

        FilePermissions.CheckPassphraseFile(path, asRoot: false, warnings.Add);
        Assert.Contains(warnings, w => w.Contains("mode 0644", StringComparison.Ordinal));

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        warnings.Clear();
        FilePermissions.CheckPassphraseFile(path, asRoot: true, warnings.Add);
        Assert.Empty(warnings);
    }

    [Fact]
    public void ConfigFile_WritableByOthersOrReadableWhileHoldingAPassword_GivesAWarning()
    {
        string path = Path.Combine(_dir.FullName, "pgvault.yaml");
        File.WriteAllText(path, "clusters:\n  main:\n    connection: host=/tmp password=hunter2-secret\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100); // 0644
        var warnings = new List<string>();

        FilePermissions.CheckConfigFile(path, holdsSecret: true, warnings.Add);
        Assert.Contains(warnings, w => w.Contains("holds a password and is readable by group or others", StringComparison.Ordinal));
        Assert.DoesNotContain(warnings, w => w.Contains("hunter2", StringComparison.Ordinal));
        Assert.True(PgVault.Core.PostgreSql.ConnInfo.HasPassword("host=/tmp password=hunter2-secret"));

        warnings.Clear();
        FilePermissions.CheckConfigFile(path, holdsSecret: false, warnings.Add); // nothing secret in it: others may read it
        Assert.Empty(warnings);

        File.SetUnixFileMode(path, (UnixFileMode)0b110_110_100); // 0664
        FilePermissions.CheckConfigFile(path, holdsSecret: false, warnings.Add);
        Assert.Contains(warnings, w => w.Contains("is writable by group or others (mode 0664)", StringComparison.Ordinal));
    }
}
