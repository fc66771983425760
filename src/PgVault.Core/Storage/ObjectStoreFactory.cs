using PgVault.Core.Config;
using PgVault.Core.Errors;

namespace PgVault.Core.Storage;

/// <summary>Creates the store a repository's configuration describes.</summary>
public static class ObjectStoreFactory
{
    public static IObjectStore Open(RepositoryConfig repository) => repository.Type switch
    {
        "filesystem" => new FileSystemObjectStore(repository.Name, repository.Path!),
        _ => throw PgVaultException.Usage($"repository type '{repository.Type}' is not supported"),
    };
}
