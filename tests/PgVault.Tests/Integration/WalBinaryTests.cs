using PgVault.Tests.Infrastructure;
using Xunit;

namespace PgVault.Tests.Integration;

/// <summary>
/// pgvault-wal, the WAL commands' own binary (what `setup archiving` and `restore` write into
/// archive_command and restore_command): it answers like pgvault on the same arguments, and has no
/// other command. Its archiving and fetching under a real server run in every test built on
/// <see cref="ArchivingFixture"/> and in every restore that replays archived WAL.
/// </summary>
public sealed class WalBinaryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pgvault-walbin-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static Task<CliResult> Wal(params string[] args) => PgVaultCli.RunAsync(args, program: PgVaultCli.WalCommand);

    private static Task<CliResult> Pgvault(params string[] args) => PgVaultCli.RunAsync(args);

    [Fact]
    public async Task It_has_the_wal_commands_and_the_same_version_as_pgvault()
    {
        var help = await Wal("--help");
        Assert.True(help.ExitCode == 0, help.ToString());
        Assert.Contains("archive-push", help.Stdout, StringComparison.Ordinal);
        Assert.Contains("archive-get", help.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("backup", help.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("archive-push-worker", help.Stdout, StringComparison.Ordinal); // hidden, as in pgvault

        var version = await Wal("--version");
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Equal((await Pgvault("--version")).Stdout, version.Stdout);
    }

    [Theory]
    [InlineData("backup")]
    [InlineData("restore", "--pgdata", "/tmp/x")]
    public async Task Any_other_command_is_a_one_line_usage_error(params string[] args)
    {
        var result = await Wal(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"pgvault: error: Unrecognized command or argument '{args[0]}'.", result.ErrorLines[0]);
        Assert.Contains("HINT: see 'pgvault-wal --help'", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    private static string AsPgvault(string text) => text.Replace("'pgvault-wal ", "'pgvault ", StringComparison.Ordinal);

    private static IEnumerable<string[]> BadInputs(string root) =>
    [
        ["archive-push"],
        ["archive-get", "000000010000000000000001"],
        ["--output", "json", "archive-push", "a", "b"],
        ["--config", Path.Combine(root, "missing.yaml"), "archive-push", "pg_wal/000000010000000000000001"],
        ["--config", Path.Combine(root, "missing.yaml"), "--output", "json", "archive-get", "000000010000000000000001", Path.Combine(root, "out")],
        ["--repo-path", Path.Combine(root, "repo"), "archive-get", "not-a-wal-file", Path.Combine(root, "out")],
        ["--repo-path", Path.Combine(root, "repo"), "archive-push", Path.Combine(root, "000000010000000000000001")],
        ["--repo-path", Path.Combine(root, "repo"), "archive-push-worker"],
    ];

    [Fact]
    public async Task Bad_input_gives_the_same_exit_code_output_and_error_lines_as_pgvault()
    {
        var init = await Pgvault("--repo-path", Path.Combine(_root, "repo"), "repo", "init");
        Assert.True(init.ExitCode == 0, init.ToString());
        await File.WriteAllBytesAsync(Path.Combine(_root, "000000010000000000000001"), new byte[100]);
        foreach (var args in BadInputs(_root))
        {
            var main = await Pgvault(args);
            var wal = await Wal(args);
            string what = $"pgvault {string.Join(' ', args)}\n--- pgvault\n{main}\n--- pgvault-wal\n{wal}";
            Assert.True(main.ExitCode != 0, what);
            Assert.True(main.ExitCode == wal.ExitCode, what);
            // A usage error's hint names the program it came from ("see 'pgvault-wal archive-push --help'").
            Assert.True(main.Stdout == AsPgvault(wal.Stdout), what);
            Assert.NotEmpty(wal.ErrorLines);
            Assert.True(main.ErrorLines.SequenceEqual(wal.ErrorLines.Select(AsPgvault)), what);
            Assert.DoesNotContain("   at ", wal.Stderr, StringComparison.Ordinal);
        }
    }
}
