using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// Tests that change process-wide environment variables (PGVAULT_CONFIG, PG*). xunit runs a
/// collection with parallelisation disabled on its own, after the parallel ones, so nothing else
/// observes the temporary values.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "environment";
}

/// <summary>Sets (or clears, with null) environment variables and restores the old values on dispose.</summary>
internal sealed class EnvironmentScope : IDisposable
{
    private readonly Dictionary<string, string?> _saved = new(StringComparer.Ordinal);

    public EnvironmentScope Set(string name, string? value)
    {
        if (!_saved.ContainsKey(name)) _saved[name] = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
        return this;
    }

    /// <summary>Clears every libpq variable ConnInfo falls back to, so defaults apply.</summary>
    public EnvironmentScope ClearLibpq()
    {
        foreach (string name in (string[])["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGPASSFILE", "PGCONNECT_TIMEOUT", "PGAPPNAME"])
        {
            Set(name, null);
        }

        return this;
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved) Environment.SetEnvironmentVariable(name, value);
    }
}
