using PgVault.Core.Errors;
using PgVault.Core.Verify;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class VerifyOptionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 2, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("7d", "2026-01-25T12:00:00+00:00")]
    [InlineData("36h", "2026-01-31T00:00:00+00:00")]
    [InlineData("2w", "2026-01-18T12:00:00+00:00")]
    [InlineData("2026-01-31", "2026-01-31T00:00:00+00:00")]
    [InlineData("2026-01-31 12:00:00+01", "2026-01-31T11:00:00+00:00")]
    public void Since_takes_an_age_or_a_time(string text, string expected) =>
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), VerifyOptions.ParseSince(text, Now));

    [Fact]
    public void Bad_since_sample_and_combinations_are_usage_errors()
    {
        Assert.Equal(ErrorCode.Usage, Assert.Throws<PgVaultException>(() => VerifyOptions.ParseSince("yesterday", Now)).Code);
        Assert.Equal(10, VerifyOptions.ParseSample("10%"));
        Assert.Equal(ErrorCode.Usage, Assert.Throws<PgVaultException>(() => VerifyOptions.ParseSample("ten")).Code);
        Assert.Throws<PgVaultException>(() => new VerifyOptions { SamplePercent = 0 }.Validate());
        Assert.Throws<PgVaultException>(() => new VerifyOptions { SamplePercent = 101 }.Validate());
        Assert.Throws<PgVaultException>(() => new VerifyOptions { Backup = "latest", Since = Now }.Validate());
        Assert.Throws<PgVaultException>(() => new VerifyOptions { WalOnly = true, Backup = "latest" }.Validate());
        Assert.Equal("sample", new VerifyOptions { SamplePercent = 5, Full = true }.Mode);
        Assert.Equal("incremental", new VerifyOptions().Mode);
    }
}
