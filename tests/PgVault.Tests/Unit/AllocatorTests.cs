using PgVault.Core.IO;
using Xunit;

namespace PgVault.Tests.Unit;

[Collection(EnvironmentCollection.Name)]
public sealed class AllocatorTests
{
    [Fact]
    public void On_glibc_every_setting_the_environment_leaves_open_is_applied()
    {
        using var env = new EnvironmentScope()
            .Set("MALLOC_ARENA_MAX", null).Set("MALLOC_MMAP_THRESHOLD_", null).Set("MALLOC_TRIM_THRESHOLD_", null);

        var applied = Allocator.Configure();

        // This machine (and CI) is Debian: glibc's mallopt accepts all three.
        Assert.Equal(["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"], applied);
    }

    [Fact]
    public void A_setting_given_in_the_environment_is_left_to_the_user()
    {
        using var env = new EnvironmentScope()
            .Set("MALLOC_ARENA_MAX", "8").Set("MALLOC_MMAP_THRESHOLD_", null).Set("MALLOC_TRIM_THRESHOLD_", "0");

        var applied = Allocator.Configure();

        Assert.Equal(["MALLOC_MMAP_THRESHOLD_"], applied);
    }
}
