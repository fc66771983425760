using PgVault.Tests.Infrastructure;

namespace PgVault.Tests.Integration;

/// <summary>A cluster whose database "src" holds every kind of object pg_dump carries (Resources/allobjects.sql).</summary>
public sealed class AllObjectsFixture : ClusterFixture
{
    public const string Source = "src";

    public string SourceDump { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CreateDatabaseAsync(Source);
        await LoadFileAsync(Source, Path.Combine(AppContext.BaseDirectory, "Resources", "allobjects.sql"));
        SourceDump = await DumpTextAsync(Source);
    }
}
