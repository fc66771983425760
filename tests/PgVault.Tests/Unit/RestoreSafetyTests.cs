using PgVault.Core.Errors;
using PgVault.Core.IO;
using PgVault.Core.Physical;
using PgVault.Core.Repository;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>Restore safety without a server: manifest paths, O_EXCL|O_NOFOLLOW creation, private temporary directories.</summary>
public sealed class RestoreSafetyTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgvault-safety-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData("base/1/1234", true)]
    [InlineData("PG_VERSION", true)]
    [InlineData("../x", false)]
    [InlineData("base/../../x", false)]
    [InlineData("/etc/x", false)]
    [InlineData("base//x", false)]
    [InlineData("base/./x", false)]
    [InlineData(".", false)]
    [InlineData("", false)]
    [InlineData("base/\0x", false)]
    [InlineData("base/1/", false)]
    public void Manifest_paths_are_plain_relative_names(string path, bool safe) => Assert.Equal(safe, PhysicalRestore.IsSafeRelative(path));

    [Fact]
    public void A_manifest_path_or_tablespace_leading_outside_the_targets_is_refused_as_corrupt()
    {
        var good = new PhysicalBackupInfo
        {
            Chain = ["B"],
            Directories = [new PhysicalDirectory { Path = "base", Mode = 448 }],
            Files = [new PhysicalFile { Path = "base/1", Backup = "B", Pack = "pg/00001.pack", Length = 5 }],
        };
        string pgdata = Path.Combine(_root, "pgdata");
        PhysicalRestore.CheckManifestPaths("m", good, pgdata, []);

        void Refused(PhysicalBackupInfo p, List<TablespacePlan>? t = null)
        {
            var e = Assert.Throws<PgVaultException>(() => PhysicalRestore.CheckManifestPaths("clusters/main/backups/B/manifest.json", p, pgdata, t ?? []));
            Assert.Contains("corrupt object 'clusters/main/backups/B/manifest.json': unsafe", e.Message, StringComparison.Ordinal);
        }
        Refused(good with { Files = [new PhysicalFile { Path = "../x" }] });
        Refused(good with { Files = [new PhysicalFile { Path = "/etc/x" }] });
        Refused(good with { Directories = [new PhysicalDirectory { Path = "base/../.." }] });
        Refused(good with { Files = [.. good.Files, good.Files[0]] });
        Refused(good with { Files = [good.Files[0] with { Pack = "../../other/pack" }] });
        Refused(good with { Files = [good.Files[0] with { Backup = "NOT-IN-CHAIN" }] });
        Refused(good, [new TablespacePlan(16385, "ts", "/srv/ts/../../etc")]);
        Refused(good, [new TablespacePlan(16385, "ts", "relative/dir")]);
        Refused(good, [new TablespacePlan(16385, "ts", "/")]);
        Refused(good, [new TablespacePlan(16385, "ts", Path.Combine(pgdata, "base"))]);
        Refused(good, [new TablespacePlan(16385, "ts", _root)]);
        PhysicalRestore.CheckManifestPaths("m", good, pgdata, [new TablespacePlan(16385, "ts", Path.Combine(_root, "ts"))]);
    }

    [Fact]
    public void A_file_is_never_created_through_a_planted_link()
    {
        string outside = Path.Combine(_root, "outside");
        File.WriteAllText(outside, "precious");
        string planted = Path.Combine(_root, "planted");
        File.CreateSymbolicLink(planted, outside);

        Assert.Throws<IOException>(() => SafeFiles.CreateNew(planted).Dispose());
        Assert.Throws<IOException>(() => SafeFiles.OpenExisting(planted, write: true).Dispose());
        Assert.Equal("precious", File.ReadAllText(outside));

        // Replace removes the link itself, never its target, then creates a file of its own.
        using (var handle = SafeFiles.Replace(planted))
        {
            RandomAccess.Write(handle, "mine"u8, 0);
        }
        Assert.Null(new FileInfo(planted).LinkTarget);
        Assert.Equal("mine", File.ReadAllText(planted));
        Assert.Equal("precious", File.ReadAllText(outside));

        string dirLink = Path.Combine(_root, "dirlink");
        Directory.CreateSymbolicLink(dirLink, _root);
        Assert.Throws<IOException>(() => SafeFiles.MakeDirectory(dirLink));
        Assert.Throws<IOException>(() => SafeFiles.SetDirectory(dirLink, 448, null, null));
    }

    [Fact]
    public void Temporary_directories_are_private_unpredictable_and_leftovers_of_dead_processes_go()
    {
        string a = SafeFiles.CreatePrivateTempDirectory();
        string b = SafeFiles.CreatePrivateTempDirectory();
        try
        {
            Assert.NotEqual(a, b);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(a));
            Assert.StartsWith(Path.Combine(Path.GetTempPath(), $"pgvault-tmp-{Environment.ProcessId}-"), a, StringComparison.Ordinal);

            // A leftover of a process that is gone (pid 1 never started at that time) is removed by the next run;
            // this process's own directories stay.
            string stale = Path.Combine(Path.GetTempPath(), "pgvault-tmp-1-999999999-abcdef");
            Directory.CreateDirectory(Path.Combine(stale, "dump"));
            File.WriteAllText(Path.Combine(stale, "dump", "toc.dat"), "x");
            SafeFiles.RemoveStaleTempDirectories();
            Assert.False(Directory.Exists(stale));
            Assert.True(Directory.Exists(a));
        }
        finally
        {
            Directory.Delete(a, recursive: true);
            Directory.Delete(b, recursive: true);
        }
    }
}
