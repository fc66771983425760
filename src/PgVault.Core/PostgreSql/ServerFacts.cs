namespace PgVault.Core.PostgreSql;

public sealed record ServerFacts
{
    public string Version { get; init; } = "";
    public int VersionNum { get; init; }
    public string SystemIdentifier { get; init; } = "";
}
