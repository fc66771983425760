using Npgsql;
using NpgsqlTypes;

namespace PgVault.Core.PostgreSql;

/// <summary>One row of the seed's backup_log table (its columns, then PgVault's additions).</summary>
public sealed record BackupLogRow(string? DatabaseName, string BackupType, string? BackupFile, long? BackupSize, DateTimeOffset StartTime, DateTimeOffset? EndTime, string Status)
{
    public const string Success = "SUCCESS";
    public const string Failed = "FAILED";

    public string? Cluster { get; init; }
    public long? StoredSize { get; init; }
    public string? StartLsn { get; init; }
    public string? StopLsn { get; init; }
    public string? Repository { get; init; }
    public double? RtoSeconds { get; init; }
    public string? ErrorMessage { get; init; }
}

/// <summary>
/// The SQL of the backup_log table: created when missing (schema too), one INSERT per row. The
/// seed's columns keep their names and meaning so its queries work as written.
/// </summary>
internal static class BackupLogSql
{
    public static async Task EnsureTableAsync(NpgsqlConnection connection, string schema, string table, CancellationToken ct)
    {
        string qualified = $"{PgServer.QuoteIdent(schema)}.{PgServer.QuoteIdent(table)}";
        string sql = $"""
            CREATE SCHEMA IF NOT EXISTS {PgServer.QuoteIdent(schema)};
            CREATE TABLE IF NOT EXISTS {qualified} (
                id            bigserial PRIMARY KEY,
                database_name text,
                backup_type   text NOT NULL,
                backup_file   text,
                backup_size   bigint,
                start_time    timestamptz NOT NULL,
                end_time      timestamptz,
                status        text NOT NULL,
                stored_size   bigint,
                start_lsn     pg_lsn,
                stop_lsn      pg_lsn,
                repository    text,
                rto_seconds   double precision,
                cluster       text,
                error_message text
            );
            """;
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task InsertAsync(NpgsqlConnection connection, string schema, string table, IReadOnlyList<BackupLogRow> rows, CancellationToken ct)
    {
        string sql = $"""
            INSERT INTO {PgServer.QuoteIdent(schema)}.{PgServer.QuoteIdent(table)}
                (database_name, backup_type, backup_file, backup_size, start_time, end_time, status,
                 stored_size, start_lsn, stop_lsn, repository, rto_seconds, cluster, error_message)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::pg_lsn, $10::pg_lsn, $11, $12, $13, $14)
            """;
        await using var batch = new NpgsqlBatch(connection);
        foreach (var row in rows)
        {
            var command = new NpgsqlBatchCommand(sql);
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.DatabaseName ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = row.BackupType, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.BackupFile ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.BackupSize ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
            command.Parameters.Add(new NpgsqlParameter { Value = row.StartTime.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.EndTime?.ToUniversalTime() ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            command.Parameters.Add(new NpgsqlParameter { Value = row.Status, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.StoredSize ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)NullIfEmpty(row.StartLsn) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)NullIfEmpty(row.StopLsn) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.Repository ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.RtoSeconds ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Double });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.Cluster ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)row.ErrorMessage ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
