using PgVault.Core.Errors;
using PgVault.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Storage;

/// <summary>An https endpoint with a self-signed certificate: refused by default, usable with verify_tls: false.</summary>
public sealed class S3TlsTests(S3TlsServerFixture server, ITestOutputHelper output) : IClassFixture<S3TlsServerFixture>
{
    [Fact]
    public async Task Self_signed_certificate_is_refused_with_a_hint_to_verify_tls()
    {
        await using var store = new S3ObjectStore("selfsigned", server.Settings("tls"));

        var e = await Assert.ThrowsAsync<PgVaultException>(() => store.PutAsync("k", new byte[] { 1 }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(90)));

        output.WriteLine(e.Message);
        Assert.StartsWith($"S3 repository 'selfsigned': unable to reach {server.Endpoint}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("certificate", e.Message, StringComparison.Ordinal);
        Assert.Contains("verify_tls: false", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_tls_false_accepts_the_self_signed_certificate()
    {
        await using var store = new S3ObjectStore("selfsigned", server.Settings($"tls/{Guid.NewGuid():N}") with { VerifyTls = false });
        byte[] data = new byte[5 * 1024 * 1024 + 3];
        new Random(8).NextBytes(data);

        await store.PutAsync("big", data, CancellationToken.None);

        Assert.Equal(data, await store.GetBytesAsync("big", CancellationToken.None));
        Assert.StartsWith("https://", server.Endpoint, StringComparison.Ordinal);
    }
}
