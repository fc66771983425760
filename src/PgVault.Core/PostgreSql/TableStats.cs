using Npgsql;

namespace PgVault.Core.PostgreSql;

/// <summary>One table of a database and PostgreSQL's own estimate of its rows (pg_class.reltuples).</summary>
public sealed record TableEstimate
{
    public string Schema { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>reltuples: -1 when the table was never vacuumed or analysed.</summary>
    public double Rows { get; init; }
    /// <summary>Unlogged: its data is not in a physical backup (PostgreSQL empties it at recovery).</summary>
    public bool Unlogged { get; init; }
}

/// <summary>The tables of one database at backup time (what a restore drill compares with).</summary>
public sealed record DatabaseTables
{
    public string Database { get; init; } = "";
    public List<TableEstimate> Tables { get; init; } = [];
}

/// <summary>
/// A cheap record of a database's tables: names and row estimates from the catalog, no table
/// scan, so it costs the same whatever the database's size.
/// </summary>
public static class TableStats
{
    private const string Query = """
        SELECT n.nspname, c.relname, c.reltuples::float8, c.relpersistence = 'u'
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm') AND c.relpersistence IN ('p', 'u')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
        ORDER BY 1, 2
        """;

    public static async Task<DatabaseTables> ReadAsync(ConnInfo connection, string database, CancellationToken ct)
    {
        await using var conn = await PgServer.ConnectAsync(connection.WithDatabase(database), ct).ConfigureAwait(false);
        return await ReadAsync(conn, database, ct).ConfigureAwait(false);
    }

    public static async Task<DatabaseTables> ReadAsync(NpgsqlConnection conn, string database, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(Query, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var tables = new List<TableEstimate>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            tables.Add(new TableEstimate { Schema = reader.GetString(0), Name = reader.GetString(1), Rows = reader.GetDouble(2), Unlogged = reader.GetBoolean(3) });
        return new DatabaseTables { Database = database, Tables = tables };
    }

    /// <summary>
    /// The tables of every named database. Best effort: a database that cannot be read (no
    /// connection allowed, say) is reported through <paramref name="warn"/> and left out; the
    /// backup does not fail for a record that only a drill uses.
    /// </summary>
    public static async Task<List<DatabaseTables>> ReadAllAsync(ConnInfo connection, IEnumerable<string> databases, Action<string> warn, CancellationToken ct)
    {
        var result = new List<DatabaseTables>();
        foreach (var database in databases)
        {
            try
            {
                result.Add(await ReadAsync(connection, database, ct).ConfigureAwait(false));
            }
            catch (Exception e) when (e is Errors.PgVaultException or NpgsqlException)
            {
                warn($"could not record the tables of database \"{database}\" for restore drills: {e.Message}");
            }
        }
        return result;
    }
}
