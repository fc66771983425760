using System.Net.Sockets;
using Npgsql;
using PgVault.Core.Errors;

namespace PgVault.Core.PostgreSql;

/// <summary>A database as the server describes it.</summary>
public sealed record DatabaseFacts(string Name, string Encoding, string Collate, string Ctype, bool AllowConnections, bool IsTemplate);

/// <summary>Connections to the server and the SQL PgVault needs, with failures turned into one clear sentence.</summary>
public static class PgServer
{
    public static async Task<NpgsqlConnection> ConnectAsync(ConnInfo info, CancellationToken ct)
    {
        var connection = new NpgsqlConnection(info.ToNpgsqlConnectionString());
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e) when (e is NpgsqlException or PostgresException or SocketException or TimeoutException or IOException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw Explain(e, info);
        }
    }

    /// <summary>Turns a connection failure into the message a DBA expects.</summary>
    public static PgVaultException Explain(Exception e, ConnInfo info)
    {
        if (FindPostgres(e) is { } pg)
        {
            return pg.SqlState switch
            {
                "28P01" or "28000" => new PgVaultException(ErrorCode.ServerAuthFailed, $"authentication failed for user \"{info.User}\" at {info.Describe()}: {pg.MessageText}",
                    "check the password (PGPASSWORD, ~/.pgpass or the connection setting) and pg_hba.conf"),
                "3D000" => new PgVaultException(ErrorCode.DatabaseNotFound, $"database \"{info.Database}\" does not exist on {info.Describe()}",
                    "check the database name (see \\l in psql)"),
                _ => new PgVaultException(ErrorCode.ServerRefused, $"PostgreSQL at {info.Describe()} refused the connection: {pg.MessageText}"),
            };
        }
        string reason = e.InnerException is SocketException se ? se.Message : e.Message;
        return new PgVaultException(ErrorCode.ServerUnreachable, $"unable to connect to PostgreSQL at {info.Describe()}: {reason}",
            "is the server running and does the connection setting (host, port) point at it?");
    }

    private static PostgresException? FindPostgres(Exception? e)
    {
        for (; e != null; e = e.InnerException)
        {
            if (e is PostgresException pg) return pg;
        }
        return null;
    }

    public static async Task<ServerFacts> FactsAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, (SELECT system_identifier::text FROM pg_control_system())",
            connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new ServerFacts
        {
            Version = reader.GetString(0),
            VersionNum = reader.GetInt32(1),
            SystemIdentifier = reader.GetString(2),
        };
    }

    public static async Task<List<DatabaseFacts>> DatabasesAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT datname, pg_encoding_to_char(encoding), datcollate, datctype, datallowconn, datistemplate FROM pg_database ORDER BY datname",
            connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<DatabaseFacts>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new DatabaseFacts(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), reader.GetBoolean(5)));
        }
        return list;
    }

    /// <summary>Quotes an identifier for SQL.</summary>
    public static string QuoteIdent(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Quotes a string literal for SQL (standard_conforming_strings on).</summary>
    public static string QuoteLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
