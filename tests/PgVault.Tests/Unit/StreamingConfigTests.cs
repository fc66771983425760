using PgVault.Core.Config;
using PgVault.Core.Errors;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>clusters.NAME.streaming: read and checked like every other key.</summary>
public sealed class StreamingConfigTests
{
    private const string File = "/etc/pgvault/test.yaml";

    [Fact]
    public void The_streaming_section_is_read()
    {
        var config = ConfigLoader.Parse("""
            clusters:
              main:
                streaming:
                  slot: vault_slot
                  application_name: vault_sync
                  synchronous: true
                  status_interval: 2
              other: {}
            """, File);
        Assert.Equal(new StreamingConfig("vault_slot", "vault_sync", true, 2), config.Clusters["main"].Streaming);
        Assert.Null(config.Clusters["other"].Streaming);
    }

    [Theory]
    [InlineData("slot: Bad-Slot", "clusters.main.streaming.slot")]
    [InlineData("synchronous: maybe", "clusters.main.streaming.synchronous")]
    [InlineData("status_interval: 0", "clusters.main.streaming.status_interval")]
    [InlineData("status_interval: 4000", "clusters.main.streaming.status_interval")]
    [InlineData("application_name: \"a b\"", "clusters.main.streaming.application_name")]
    [InlineData("slots: x", "unknown key 'clusters.main.streaming.slots'")]
    public void Bad_streaming_values_name_their_key(string line, string expected)
    {
        var e = Assert.Throws<PgVaultException>(() => ConfigLoader.Parse($"clusters:\n  main:\n    streaming:\n      {line}\n", File));
        Assert.Equal(ErrorCode.ConfigInvalid, e.Code);
        Assert.Contains(expected, e.Message);
    }
}
