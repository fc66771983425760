using System.Buffers;
using System.Globalization;

namespace PgVault.Core.PostgreSql;

/// <summary>
/// WAL positions (LSNs) in PostgreSQL's text form: two 32-bit halves as upper-case hex without
/// padding, "%X/%X" (e.g. "0/2000028", "16/B374D848"). Backup manifests, backup_label and
/// pg_lsn all use this form, so it must match byte for byte.
/// </summary>
internal static class Lsn
{
    /// <summary>Longest hex run PostgreSQL's pg_lsn input accepts on either side of the '/'.</summary>
    private const int MaxComponentDigits = 8;

    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>Formats like PostgreSQL's LSN_FORMAT_ARGS with "%X/%X".</summary>
    internal static string FormatLsn(ulong lsn) =>
        string.Create(CultureInfo.InvariantCulture, $"{(uint)(lsn >> 32):X}/{(uint)lsn:X}");

    /// <summary>
    /// Parses as strictly as PostgreSQL's pg_lsn input: 1-8 hex digits (either case), '/', 1-8 hex
    /// digits, nothing else (no sign, no spaces). Throws <see cref="FormatException"/> otherwise.
    /// </summary>
    internal static ulong ParseLsn(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0) throw new FormatException($"invalid LSN '{text}': expected HI/LO");
        return ((ulong)ParseHalf(text, text.AsSpan(0, slash)) << 32) | ParseHalf(text, text.AsSpan(slash + 1));
    }

    private static uint ParseHalf(string text, ReadOnlySpan<char> half)
    {
        if (half.Length is < 1 or > MaxComponentDigits || half.ContainsAnyExcept(HexDigits))
            throw new FormatException($"invalid LSN '{text}': each half must be 1 to {MaxComponentDigits} hex digits");
        return uint.Parse(half, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }
}
