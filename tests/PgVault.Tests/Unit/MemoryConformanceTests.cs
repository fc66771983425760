using PgVault.Core.Storage;
using PgVault.Tests.Storage;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Unit;

/// <summary>The storage conformance suite against <see cref="MemoryObjectStore"/>: the store unit tests of catalog logic use.</summary>
[Collection(StorageConformanceCollection.Name)]
public sealed class MemoryConformanceTests(ITestOutputHelper output) : ObjectStoreConformance(output)
{
    private readonly MemoryObjectStore _store = new("conformance");

    protected override int PartSize => 5 * 1024 * 1024;

    protected override Task<IObjectStore> OpenStoreAsync() => Task.FromResult<IObjectStore>(_store);

    protected override IObjectStore OpenPeerStore() => _store.OpenPeer();

    protected override Task<IReadOnlyList<string>> LeftoversAsync() =>
        Task.FromResult<IReadOnlyList<string>>(_store.OpenWriters == 0 ? [] : [$"{_store.OpenWriters} writer(s) neither committed nor disposed"]);
}
