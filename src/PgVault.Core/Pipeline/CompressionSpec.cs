using System.Globalization;
using PgVault.Core.Errors;

namespace PgVault.Core.Pipeline;

/// <summary>
/// A compression algorithm and its level, as written in configuration ("zstd:3", "lz4", "gzip:6",
/// "none"). <see cref="ToString"/> gives the canonical text, which <see cref="Parse"/> accepts back.
/// </summary>
public sealed record CompressionSpec(CompressionType Type, int Level)
{
    public const int ZstdMinLevel = 1;
    public const int ZstdMaxLevel = 19;
    public const int ZstdDefaultLevel = 3;
    public const int Lz4MinLevel = 0;
    public const int Lz4MaxLevel = 12;
    public const int Lz4DefaultLevel = 0;
    public const int GzipMinLevel = 1;
    public const int GzipMaxLevel = 9;
    public const int GzipDefaultLevel = 6;

    private const string AllowedForms = "zstd, zstd:1..19 (default 3), lz4, lz4:0..12 (default 0 = fast), gzip, gzip:1..9 (default 6), none";

    /// <summary>The default for new repositories: zstd:3.</summary>
    public static CompressionSpec Default { get; } = new(CompressionType.Zstd, ZstdDefaultLevel);

    /// <summary>No compression.</summary>
    public static CompressionSpec None { get; } = new(CompressionType.None, 0);

    /// <summary>File name extension for objects with this compression: zst, lz4, gz or raw.</summary>
    public string FileExtension => Type switch
    {
        CompressionType.Zstd => "zst",
        CompressionType.Lz4 => "lz4",
        CompressionType.Gzip => "gz",
        _ => "raw",
    };

    /// <summary>The compression of an object named with <see cref="FileExtension"/>'s <paramref name="extension"/>, or null.</summary>
    public static CompressionType? TypeFromExtension(string extension) => extension switch
    {
        "zst" => CompressionType.Zstd,
        "lz4" => CompressionType.Lz4,
        "gz" => CompressionType.Gzip,
        "raw" => CompressionType.None,
        _ => null,
    };

    /// <summary>Parses "zstd", "zstd:N", "lz4", "lz4:N", "gzip", "gzip:N" or "none" (case-insensitive).</summary>
    /// <exception cref="PgVaultException">Usage error naming the bad value and the allowed forms.</exception>
    public static CompressionSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        string name = colon < 0 ? trimmed : trimmed[..colon];
        string? levelText = colon < 0 ? null : trimmed[(colon + 1)..];

        if (!TryParseName(name, out CompressionType type))
        {
            throw Invalid(text);
        }

        if (type == CompressionType.None)
        {
            return levelText is null ? None : throw Invalid(text);
        }

        (int min, int max, int dflt) = LevelRange(type);
        if (levelText is null)
        {
            return new CompressionSpec(type, dflt);
        }

        if (!int.TryParse(levelText, NumberStyles.None, CultureInfo.InvariantCulture, out int level) || level < min || level > max)
        {
            throw Invalid(text);
        }

        return new CompressionSpec(type, level);
    }

    /// <summary>Parses a compression type name as stored in manifests: zstd, lz4, gzip or none.</summary>
    public static CompressionType ParseType(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryParseName(name, out CompressionType type)
            ? type
            : throw new PgVaultException(ErrorCode.RepositoryFormat,
                $"unknown compression type '{name}' (expected zstd, lz4, gzip or none)",
                "the repository may have been written by a newer PgVault version");
    }

    /// <summary>The manifest name of a type: zstd, lz4, gzip or none (inverse of <see cref="ParseType"/>).</summary>
    public static string TypeName(CompressionType type) => type switch
    {
        CompressionType.None => "none",
        CompressionType.Zstd => "zstd",
        CompressionType.Lz4 => "lz4",
        CompressionType.Gzip => "gzip",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown compression type"),
    };

    /// <summary>Canonical text: "zstd:3", "lz4" (fast) or "lz4:9", "gzip:6", "none".</summary>
    public override string ToString() => Type switch
    {
        CompressionType.None => "none",
        CompressionType.Lz4 when Level == Lz4DefaultLevel => "lz4",
        _ => string.Create(CultureInfo.InvariantCulture, $"{TypeName(Type)}:{Level}"),
    };

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when the level is outside the type's range.</summary>
    internal void Validate()
    {
        if (!Enum.IsDefined(Type))
        {
            throw new ArgumentOutOfRangeException(nameof(Type), Type, "unknown compression type");
        }

        (int min, int max, _) = LevelRange(Type);
        if (Level < min || Level > max)
        {
            throw new ArgumentOutOfRangeException(nameof(Level), Level, $"level for {TypeName(Type)} must be {min}..{max}");
        }
    }

    private static (int Min, int Max, int Default) LevelRange(CompressionType type) => type switch
    {
        CompressionType.Zstd => (ZstdMinLevel, ZstdMaxLevel, ZstdDefaultLevel),
        CompressionType.Lz4 => (Lz4MinLevel, Lz4MaxLevel, Lz4DefaultLevel),
        CompressionType.Gzip => (GzipMinLevel, GzipMaxLevel, GzipDefaultLevel),
        _ => (0, 0, 0),
    };

    private static bool TryParseName(string name, out CompressionType type)
    {
        foreach (CompressionType candidate in (ReadOnlySpan<CompressionType>)[CompressionType.None, CompressionType.Zstd, CompressionType.Lz4, CompressionType.Gzip])
        {
            if (string.Equals(name, TypeName(candidate), StringComparison.OrdinalIgnoreCase))
            {
                type = candidate;
                return true;
            }
        }

        type = default;
        return false;
    }

    private static PgVaultException Invalid(string text) =>
        PgVaultException.Usage($"invalid compression '{text}': expected one of {AllowedForms}", "for example: zstd:3");
}
