using PgVault.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Storage;

/// <summary>
/// The conformance suite against <see cref="S3ObjectStore"/> on s3rver, with 5 MiB parts and 4
/// parts in flight; each test works under its own key prefix.
/// </summary>
[Collection(StorageConformanceCollection.Name)]
public sealed class S3ConformanceTests(S3ServerFixture server, ITestOutputHelper output) : ObjectStoreConformance(output), IClassFixture<S3ServerFixture>
{
    private S3ObjectStore? _s3;

    protected override int PartSize => 5 * 1024 * 1024;

    protected override Task<IObjectStore> OpenStoreAsync()
    {
        _s3 = server.OpenStore("conformance", $"conformance/{Guid.NewGuid():N}");
        return Task.FromResult<IObjectStore>(_s3);
    }

    protected override async Task<IReadOnlyList<string>> LeftoversAsync()
    {
        var uploads = await _s3!.ListUnfinishedUploadsAsync(Ct);
        return uploads.Select(u => $"{u.Key} (upload {u.UploadId})").ToList();
    }
}
