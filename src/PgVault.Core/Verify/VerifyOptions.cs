using System.Text.Json.Serialization;

namespace PgVault.Core.Verify;

/// <summary>
/// What `pgvault verify` checks: <see cref="Backup"/> (an id or "latest") or every backup started
/// since <see cref="Since"/> (all backups when both are null); <see cref="WalOnly"/> checks the WAL
/// archive alone. Objects verified by an earlier run and unchanged since (key, size, time) are
/// skipped unless <see cref="Full"/>; <see cref="SamplePercent"/> reads that share of the data
/// objects (packs, dumps, WAL segments) and all metadata.
/// </summary>
public sealed record VerifyOptions
{
    public string? Backup { get; init; }
    public DateTimeOffset? Since { get; init; }
    public bool WalOnly { get; init; }
    public bool Full { get; init; }
    public double? SamplePercent { get; init; }
    public int Parallel { get; init; } = 2;
    /// <summary>Store the result in each repository (clusters/C/verify/TIME.json).</summary>
    public bool Store { get; init; } = true;

    /// <summary>How this run chose what to read: full, incremental or sample.</summary>
    public string Mode => SamplePercent is not null ? "sample" : Full ? "full" : "incremental";

    /// <summary>
    /// --since: an age ("36h", "7d", "2w", "90m") counted back from <paramref name="now"/>, or a time
    /// ("2026-01-31", "2026-01-31 12:00:00+01"; UTC when no offset is given).
    /// </summary>
    public static DateTimeOffset ParseSince(string text, DateTimeOffset now)
    {
        text = text.Trim();
        if (text.Length >= 2 && double.TryParse(text[..^1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double amount) && amount >= 0)
        {
            TimeSpan? age = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                'd' => TimeSpan.FromDays(amount),
                'w' => TimeSpan.FromDays(7 * amount),
                _ => null,
            };
            if (age is { } a) return now - a;
        }
        if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AllowWhiteSpaces, out var time))
            return time;
        throw Errors.PgVaultException.Usage($"--since '{text}' is neither an age nor a time", "e.g. --since 7d, --since 36h or --since '2026-01-31 12:00:00+00'");
    }

    /// <summary>--sample: "10%" or "10".</summary>
    public static double ParseSample(string text)
    {
        string number = text.Trim().TrimEnd('%');
        if (!double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double share))
            throw Errors.PgVaultException.Usage($"--sample '{text}' is not a percentage", "e.g. --sample 10%");
        return share;
    }

    public void Validate()
    {
        if (Backup != null && Since != null)
            throw Errors.PgVaultException.Usage("--backup and --since select backups in two ways; give one of them");
        if (WalOnly && (Backup != null || Since != null))
            throw Errors.PgVaultException.Usage("--wal-only checks no backup; leave out --backup and --since");
        if (SamplePercent is { } s && (s <= 0 || s > 100 || double.IsNaN(s)))
            throw Errors.PgVaultException.Usage($"--sample {s}% is not a share between 0 and 100%", "e.g. --sample 10%");
        if (Parallel < 1) throw Errors.PgVaultException.Usage("--parallel must be at least 1");
    }
}

public static class VerifyStatus
{
    public const string Valid = "valid";
    public const string Invalid = "invalid";
    public const string WalMissing = "wal-missing";
}

/// <summary>The outcome of one run over every selected repository. <see cref="Valid"/> is true only when nothing is wrong.</summary>
public sealed record VerifyResult
{
    public DateTimeOffset Time { get; init; }
    public string Cluster { get; init; } = "";
    public string Mode { get; init; } = "";
    public bool Valid { get; init; }
    public List<RepositoryVerification> Repositories { get; init; } = [];
    /// <summary>One line per problem, each naming the repository and what is wrong where.</summary>
    public List<string> Problems { get; init; } = [];
    /// <summary>The error code of a run that found problems ("verify-failed"; see docs/errors.md), null when valid.</summary>
    public string? Error => Valid ? null : Errors.ErrorCodes.WireName(Errors.ErrorCode.VerifyFailed);
}

public sealed record RepositoryVerification
{
    public string Repository { get; init; } = "";
    public List<BackupVerification> Backups { get; init; } = [];
    public List<TimelineVerification> Timelines { get; init; } = [];
    /// <summary>WAL problems outside any backup's own range (gaps, duplicates, foreign or damaged segments).</summary>
    public List<string> WalProblems { get; init; } = [];
    public int DataObjectsRead { get; init; }
    public int DataObjectsSkipped { get; init; }
    public int MetadataObjectsRead { get; init; }
    public long BytesRead { get; init; }
    /// <summary>Where the result was stored (null when it was not: --no-store, or a read-only repository).</summary>
    public string? StoredAs { get; init; }
}

public sealed record BackupVerification
{
    public string Id { get; init; } = "";
    public string Type { get; init; } = "";
    /// <summary>valid | invalid | wal-missing.</summary>
    public string Status { get; init; } = VerifyStatus.Valid;
    public List<string> Problems { get; init; } = [];
    /// <summary>The first segment of the backup's own WAL range the archive lacks (status wal-missing).</summary>
    public string? FirstMissingWal { get; init; }
    public int ObjectsChecked { get; init; }
}

/// <summary>What the archive holds of one timeline: contiguous runs of segments.</summary>
public sealed record TimelineVerification
{
    public uint Timeline { get; init; }
    public List<WalRange> Ranges { get; init; } = [];
}

public sealed record WalRange(string First, string Last, int Segments);

/// <summary>clusters/C/verify/TIME.json: a stored verification, with what lets the next run be incremental.</summary>
public sealed record VerifyRecord
{
    public int Format { get; init; } = 1;
    public DateTimeOffset Time { get; init; }
    public string Mode { get; init; } = "";
    public bool Valid { get; init; }
    public List<string> Problems { get; init; } = [];
    /// <summary>The last verification of every backup that still exists (carried forward from earlier runs).</summary>
    public Dictionary<string, BackupVerifyMark> Backups { get; init; } = [];
    /// <summary>Objects read whole and found intact, as listed then: unchanged ones are skipped by an incremental run.</summary>
    public List<VerifiedObject> Verified { get; init; } = [];
}

public sealed record BackupVerifyMark
{
    public DateTimeOffset Time { get; init; }
    public string Status { get; init; } = "";
    public string Mode { get; init; } = "";
}

public sealed record VerifiedObject
{
    public string Key { get; init; } = "";
    public long Size { get; init; }
    public DateTimeOffset Modified { get; init; }
    /// <summary>The content checksum it was verified against (SHA-256 or a WAL tag), so a changed record is not skipped.</summary>
    public string Checksum { get; init; } = "";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NewLine = "\n",
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(VerifyRecord))]
[JsonSerializable(typeof(VerifyResult))]
public sealed partial class VerifyJson : JsonSerializerContext;
