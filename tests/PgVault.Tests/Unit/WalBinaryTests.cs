using PgVault.Core.IO;
using PgVault.Core.Wal;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// When pgvault-wal next to pgvault may stand in for it in archive_command and restore_command
/// (<see cref="WalBinary.WhyNot"/>): never a link, a file of another user, one writable by more or
/// executable by fewer users than pgvault, nor another version.
/// </summary>
public sealed class WalBinaryTests : IDisposable
{
    private const string Version = "0.1.0+abc";
    private const UnixFileMode Mode755 = (UnixFileMode)0b111_101_101;

    private readonly string _root = Directory.CreateTempSubdirectory("pgvault-walbinary-").FullName;
    private readonly string _self;
    private readonly string _sibling;

    public WalBinaryTests()
    {
        _self = Path.Combine(_root, "pgvault");
        _sibling = Path.Combine(_root, WalBinary.Name);
        File.WriteAllText(_self, "self");
        File.SetUnixFileMode(_self, Mode755);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string? WhyNot(string? version = Version) => WalBinary.WhyNot(_self, _sibling, _ => version, Version);

    private void Sibling(UnixFileMode mode)
    {
        File.WriteAllText(_sibling, "wal");
        File.SetUnixFileMode(_sibling, mode);
    }

    [Fact]
    public void A_sibling_like_pgvault_of_the_same_version_stands_in()
    {
        Sibling(Mode755);
        Assert.Null(WhyNot());
    }

    [Fact]
    public void No_sibling_means_pgvault_itself() => Assert.Equal("absent", WhyNot());

    [Fact]
    public void A_symbolic_link_is_refused_even_to_a_good_file()
    {
        string real = Path.Combine(_root, "elsewhere");
        File.WriteAllText(real, "wal");
        File.SetUnixFileMode(real, Mode755);
        File.CreateSymbolicLink(_sibling, real);
        Assert.Equal("a symbolic link", WhyNot());
    }

    [Theory]
    [InlineData(0b111_111_101, "writable by more users than pgvault")]
    [InlineData(0b111_101_111, "writable by more users than pgvault")]
    [InlineData(0b111_100_100, "executable by fewer users than pgvault")]
    [InlineData(0b110_100_100, "executable by fewer users than pgvault")]
    public void A_sibling_more_writable_or_less_executable_than_pgvault_is_refused(int mode, string why)
    {
        Sibling((UnixFileMode)mode);
        Assert.Equal(why, WhyNot());
    }

    [Fact]
    public void Another_version_or_none_is_refused()
    {
        Sibling(Mode755);
        Assert.Equal($"version 0.0.9, not {Version}", WhyNot("0.0.9"));
        Assert.Equal($"version unknown, not {Version}", WhyNot(null));
    }

    [Fact]
    public void A_sibling_of_another_user_is_refused()
    {
        Sibling(Mode755);
        if (Posix.IsRoot)
        {
            // Root's pgvault in a shared directory: a file another user added there must not run.
            Posix.ChangeOwner(_self, 1234, 1234);
            Posix.ChangeOwner(_sibling, 65534, 65534);
            Assert.Equal("owned by uid 65534, not by pgvault's owner", WhyNot());
            Posix.ChangeOwner(_sibling, 0, 0); // root's own file may stand in for anyone's pgvault
            Assert.Null(WhyNot());
        }
        else
        {
            Assert.Null(WhyNot()); // without root no file of another user can be made; the same owner passes
        }
    }
}
