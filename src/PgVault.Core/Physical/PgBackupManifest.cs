using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PgVault.Core.PostgreSql;

namespace PgVault.Core.Physical;

/// <summary>
/// One file of a physical backup as a backup_manifest lists it. <paramref name="Path"/> is relative
/// to the data directory with '/' separators ("base/1/1259", "pg_tblspc/16385/PG_15_202209061/16386/16387",
/// "backup_label"); <paramref name="Sha256Hex"/> is the SHA-256 of the file's content (64 hex digits).
/// </summary>
internal sealed record PgManifestFile(string Path, long Size, DateTimeOffset LastModified, string Sha256Hex, string? Crc32CHex = null);

/// <summary>WAL needed to make the backup consistent on one timeline: [StartLsn, EndLsn].</summary>
internal sealed record PgManifestWalRange(uint Timeline, ulong StartLsn, ulong EndLsn);

/// <summary>
/// Writes the <c>backup_manifest</c> that pg_basebackup writes (version 1, the one PostgreSQL 13-16's
/// pg_verifybackup reads), so a data directory restored from a PgVault backup can be checked with
/// pg_verifybackup. The text is produced exactly as PostgreSQL's backend/backup/backup_manifest.c
/// does, because the manifest checksum covers the raw bytes:
/// <code>
/// { "PostgreSQL-Backup-Manifest-Version": 1,\n
/// "Files": [\n
/// { "Path": "...", "Size": N, "Last-Modified": "yyyy-MM-dd HH:mm:ss GMT", "Checksum-Algorithm": "SHA256", "Checksum": "hex" },\n
/// ...last file without the comma...\n
/// ],\n
/// "WAL-Ranges": [\n
/// { "Timeline": T, "Start-LSN": "X/X", "End-LSN": "X/X" }\n   (",\n" between ranges)
/// ],\n
/// "Manifest-Checksum": "sha256 of every byte before this line"}\n
/// </code>
/// pg_verifybackup checks the checksum over everything up to and including the second-to-last newline,
/// which is the newline right before <c>"Manifest-Checksum"</c>.
/// </summary>
internal static class PgBackupManifest
{
    /// <summary>Strict UTF-8: a path with an unpaired surrogate cannot be written, rather than silently becoming U+FFFD.</summary>
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>
    /// The exact bytes of a version-1 backup_manifest listing <paramref name="files"/> in the given order
    /// and <paramref name="walRanges"/> (newest timeline first, as PostgreSQL lists them).
    /// </summary>
    public static byte[] Build(IReadOnlyList<PgManifestFile> files, IReadOnlyList<PgManifestWalRange> walRanges)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(walRanges);
        if (walRanges.Count == 0) throw new ArgumentException("a backup manifest needs at least one WAL range", nameof(walRanges));

        var text = new StringBuilder(256 + (files.Count * 200));
        text.Append("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [");
        for (int i = 0; i < files.Count; i++)
        {
            text.Append(i == 0 ? "\n" : ",\n");
            AppendFile(text, files[i]);
        }
        text.Append("\n],\n\"WAL-Ranges\": [\n");
        for (int i = 0; i < walRanges.Count; i++)
        {
            var range = walRanges[i];
            text.Append(i == 0 ? "" : ",\n")
                .Append("{ \"Timeline\": ").Append(range.Timeline.ToString(CultureInfo.InvariantCulture))
                .Append(", \"Start-LSN\": \"").Append(Lsn.FormatLsn(range.StartLsn))
                .Append("\", \"End-LSN\": \"").Append(Lsn.FormatLsn(range.EndLsn)).Append("\" }");
        }
        text.Append("\n],\n");

        byte[] body = Utf8.GetBytes(text.ToString());
        byte[] tail = Encoding.ASCII.GetBytes("\"Manifest-Checksum\": \"" + Convert.ToHexStringLower(SHA256.HashData(body)) + "\"}\n");
        return [.. body, .. tail];
    }

    /// <summary>One file's object, without the separator before it or the newline after it.</summary>
    private static void AppendFile(StringBuilder text, PgManifestFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (string.IsNullOrEmpty(file.Path) || file.Path.Contains('\0', StringComparison.Ordinal))
            throw new ArgumentException($"invalid manifest path '{file.Path}'", nameof(file));
        if (file.Size < 0) throw new ArgumentException($"negative size for '{file.Path}'", nameof(file));
        // SHA-256 when known; a file stored as a delta of an earlier backup carries CRC32C instead
        // (pg_verifybackup takes the algorithm per file).
        bool crc = string.IsNullOrEmpty(file.Sha256Hex);
        string checksum = crc ? file.Crc32CHex ?? "" : file.Sha256Hex;
        // A file stored as deltas from the WAL block map has neither (most of it was not read):
        // listed without a checksum, which pg_verifybackup takes as "check the size only".
        bool none = crc && string.IsNullOrEmpty(file.Crc32CHex);
        if (!none && (crc ? checksum is not { Length: 8 } || checksum.AsSpan().ContainsAnyExcept(HexDigits)
                : checksum is not { Length: 64 } || checksum.AsSpan().ContainsAnyExcept(HexDigits)))
            throw new ArgumentException($"{(crc ? "CRC32C" : "SHA-256")} of '{file.Path}' must be {(crc ? 8 : 64)} hex digits", nameof(file));

        text.Append("{ \"Path\": ");
        AppendJsonString(text, file.Path);
        text.Append(", \"Size\": ").Append(file.Size.ToString(CultureInfo.InvariantCulture))
            // pg_time_t is whole seconds, printed with strftime("%Y-%m-%d %H:%M:%S %Z") in GMT.
            .Append(", \"Last-Modified\": \"")
            .Append(file.LastModified.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))
            .Append(" GMT\"");
        if (!none)
        {
            text.Append(", \"Checksum-Algorithm\": \"").Append(crc ? "CRC32C" : "SHA256").Append("\", \"Checksum\": \"")
                .Append(checksum.ToLowerInvariant()).Append('"');
        }
        text.Append(" }");
    }

    /// <summary>
    /// A JSON string literal the way PostgreSQL's escape_json writes it: \b \f \n \r \t \" \\ by name,
    /// other characters below 0x20 as \u00xx (lower-case hex), everything else (including '/', DEL and
    /// non-ASCII, which ends up as raw UTF-8) unchanged.
    /// </summary>
    internal static void AppendJsonString(StringBuilder text, string value)
    {
        text.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case < ' ': text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: text.Append(c); break;
            }
        }
        text.Append('"');
    }
}
