using PgVault.Core.Storage;
using PgVault.Core.Errors;

namespace PgVault.Core.Config;

/// <summary>Creates the store a repository's configuration describes.</summary>
public static class ObjectStoreFactory
{
    public static IObjectStore Open(RepositoryConfig repository) => repository.Type switch
    {
        "filesystem" => new FileSystemObjectStore(repository.Name, repository.Path!),
        "s3" => new S3ObjectStore(repository.Name, repository.S3
            ?? throw new PgVaultException(ErrorCode.ConfigInvalid, $"repository '{repository.Name}' is of type s3 but has no S3 settings")),
        _ => throw new PgVaultException(ErrorCode.ConfigInvalid, $"repository type '{repository.Type}' is not supported"),
    };
}
