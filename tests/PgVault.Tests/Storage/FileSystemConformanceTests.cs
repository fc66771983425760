using PgVault.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Storage;

/// <summary>The conformance suite against <see cref="FileSystemObjectStore"/> in a temp directory.</summary>
[Collection(StorageConformanceCollection.Name)]
public sealed class FileSystemConformanceTests(ITestOutputHelper output) : ObjectStoreConformance(output)
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("pgvault-conformance-");

    protected override int PartSize => 5 * 1024 * 1024;

    protected override Task<IObjectStore> OpenStoreAsync() => Task.FromResult<IObjectStore>(new FileSystemObjectStore("conformance", _root.FullName));

    protected override IObjectStore OpenPeerStore() => new FileSystemObjectStore("conformance", _root.FullName);

    protected override Task<IReadOnlyList<string>> LeftoversAsync() =>
        Task.FromResult<IReadOnlyList<string>>(Directory.GetFiles(_root.FullName, "*" + FileSystemObjectStore.TempMarker + "*", SearchOption.AllDirectories));

    protected override Task CloseStoreAsync()
    {
        _root.Delete(recursive: true);
        return Task.CompletedTask;
    }
}
