using Npgsql;
using PgVault.Core.Sandbox;
using Xunit;

namespace PgVault.Tests.Infrastructure;

/// <summary>
/// A real PostgreSQL cluster for one test class: initdb + pg_ctl in a temp dir on a free port
/// (as the postgres OS user when running as root), removed when the class is done, pass or fail.
/// </summary>
public class ClusterFixture : IAsyncLifetime
{
    private SandboxCluster? _cluster;

    public SandboxCluster Cluster => _cluster ?? throw new InvalidOperationException("cluster not started");

    public virtual string ConnectionString => Cluster.ConnectionString;

    protected virtual SandboxOptions Options => new();

    public virtual async Task InitializeAsync()
    {
        _cluster = await SandboxCluster.StartAsync(Options, CancellationToken.None);
    }

    public virtual async Task DisposeAsync()
    {
        if (_cluster != null) await _cluster.DisposeAsync();
    }

    public NpgsqlConnection Open(string database = "postgres")
    {
        var connection = new NpgsqlConnection(Cluster.Connection.WithDatabase(database).ToNpgsqlConnectionString("pgvault-tests"));
        connection.Open();
        return connection;
    }

    public async Task ExecAsync(string database, string sql)
    {
        await using var connection = Open(database);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string database, string sql)
    {
        await using var connection = Open(database);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task CreateDatabaseAsync(string name)
    {
        await ExecAsync("postgres", $"CREATE DATABASE \"{name}\"");
    }

    public async Task<bool> DatabaseExistsAsync(string name) =>
        await ScalarAsync<bool>("postgres", $"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')");

    /// <summary>Runs a SQL file with psql (ON_ERROR_STOP) into a database.</summary>
    public Task LoadFileAsync(string database, string file) =>
        Cluster.RunToolAsync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", Cluster.SocketDir, "-p", Cluster.Port.ToString(), "-U", "postgres", "-d", database, "-f", file], CancellationToken.None);

    /// <summary>
    /// pg_dump --format=plain of a database: the text the issue compares. The \restrict key that
    /// pg_dump 15.14+ randomises per run is pinned so two dumps of equal databases are equal.
    /// </summary>
    public Task<string> DumpTextAsync(string database, params string[] extra) =>
        Cluster.RunToolAsync("pg_dump", ["--format=p", "--restrict-key=pgvaulttests", "-h", Cluster.SocketDir, "-p", Cluster.Port.ToString(), "-U", "postgres", .. extra, database], CancellationToken.None);
}
