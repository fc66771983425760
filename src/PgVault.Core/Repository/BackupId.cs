using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using PgVault.Core.Errors;

namespace PgVault.Core.Repository;

/// <summary>What a backup is: a logical dump, or a physical full, differential or incremental copy.</summary>
public enum BackupKind
{
    Logical,
    Full,
    Diff,
    Incr,
}

/// <summary>The letter of a kind in a backup id, and its name in manifests and on the command line.</summary>
internal static class BackupKinds
{
    /// <summary>L, F, D or I.</summary>
    public static char Letter(this BackupKind kind) => kind switch
    {
        BackupKind.Logical => 'L',
        BackupKind.Full => 'F',
        BackupKind.Diff => 'D',
        BackupKind.Incr => 'I',
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>logical, full, diff or incr: the manifest's "type".</summary>
    public static string Name(this BackupKind kind) => kind switch
    {
        BackupKind.Logical => "logical",
        BackupKind.Full => "full",
        BackupKind.Diff => "diff",
        BackupKind.Incr => "incr",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool IsPhysical(this BackupKind kind) => kind != BackupKind.Logical;

    public static bool TryFromLetter(char letter, out BackupKind kind)
    {
        (bool ok, kind) = letter switch
        {
            'L' => (true, BackupKind.Logical),
            'F' => (true, BackupKind.Full),
            'D' => (true, BackupKind.Diff),
            'I' => (true, BackupKind.Incr),
            _ => (false, BackupKind.Logical),
        };
        return ok;
    }

    public static bool TryFromName(string? name, out BackupKind kind)
    {
        (bool ok, kind) = name switch
        {
            "logical" => (true, BackupKind.Logical),
            "full" => (true, BackupKind.Full),
            "diff" => (true, BackupKind.Diff),
            "incr" => (true, BackupKind.Incr),
            _ => (false, BackupKind.Logical),
        };
        return ok;
    }

    /// <summary>The kind named <paramref name="name"/> (a usage error otherwise).</summary>
    public static BackupKind FromName(string name) => TryFromName(name, out var kind) ? kind
        : throw PgVaultException.Usage($"'{name}' is not a backup type (expected logical, full, diff or incr)");
}

/// <summary>
/// A backup id such as <c>20261123T143012Z-F</c>: the UTC start second, a dash and the kind's
/// letter. Ids sort by time (ordinal order), so the newest is the greatest.
/// </summary>
public readonly record struct BackupId : IComparable<BackupId>
{
    public const string TimeFormat = "yyyyMMdd'T'HHmmss'Z'";

    private BackupId(string text, DateTimeOffset start, BackupKind kind)
    {
        Text = text;
        Start = start;
        Kind = kind;
    }

    /// <summary>The id as stored and shown.</summary>
    public string Text { get; }

    /// <summary>The second the backup started (UTC), as encoded in the id.</summary>
    public DateTimeOffset Start { get; }

    public BackupKind Kind { get; }

    /// <summary>The time part (first 16 characters): two backups never share it in one cluster.</summary>
    public string Stamp => Text[..16];

    public static BackupId Create(DateTimeOffset start, BackupKind kind)
    {
        var second = new DateTimeOffset(start.UtcTicks - start.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        return new BackupId($"{second.ToString(TimeFormat, CultureInfo.InvariantCulture)}-{kind.Letter()}", second, kind);
    }

    /// <summary>The second a time part (<see cref="Stamp"/>) encodes; false when it is not one.</summary>
    public static bool TryStampTime(string stamp, out DateTimeOffset time)
    {
        bool ok = DateTime.TryParseExact(stamp, TimeFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed);
        time = ok ? new DateTimeOffset(parsed, TimeSpan.Zero) : default;
        return ok;
    }

    public static bool TryParse([NotNullWhen(true)] string? text, out BackupId id)
    {
        id = default;
        if (text is not { Length: 18 } || text[16] != '-' || !BackupKinds.TryFromLetter(text[17], out var kind)) return false;
        if (!TryStampTime(text[..16], out var time)) return false;
        id = new BackupId(text, time, kind);
        return true;
    }

    /// <summary>The id <paramref name="text"/>, or a usage error naming the expected shape.</summary>
    public static BackupId Parse(string text) => TryParse(text, out var id) ? id
        : throw PgVaultException.Usage($"'{text}' is not a backup id (expected e.g. 20261123T143012Z-L, or 'latest')");

    public static bool IsValid([NotNullWhen(true)] string? text) => TryParse(text, out _);

    /// <summary>The kind encoded in <paramref name="text"/>, or null when it is not an id.</summary>
    public static BackupKind? KindOf(string? text) => TryParse(text, out var id) ? id.Kind : null;

    public int CompareTo(BackupId other) => string.CompareOrdinal(Text, other.Text);

    public override string ToString() => Text ?? "";
}
