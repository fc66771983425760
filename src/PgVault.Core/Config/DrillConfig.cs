using System.Globalization;

namespace PgVault.Core.Config;

/// <summary>clusters.NAME.drills: the user's checks and where drills put their scratch place.</summary>
public sealed record DrillConfig(IReadOnlyList<DrillCheck> Checks, string? ScratchDir)
{
    public static readonly DrillConfig Default = new([], null);
}

/// <summary>One validation query of a restore drill: its first column of the first row must meet <see cref="Expect"/>.</summary>
public sealed record DrillCheck(string Name, string Sql, DrillExpectation Expect, string? Database = null);

/// <summary>
/// The condition a check's result must meet: "not empty" / "empty" (rows or none), or a comparison
/// of the first value of the first row: "&gt; 0", "&gt;= 5", "&lt; 10", "&lt;= 3", "= 5", "!= 0" (numbers
/// compare as numbers, anything else as text: "= active").
/// </summary>
public sealed record DrillExpectation(string Operator, string? Operand)
{
    private static readonly string[] Operators = [">=", "<=", "!=", "<>", ">", "<", "="];

    public override string ToString() => Operand is null ? Operator : $"{Operator} {Operand}";

    /// <summary>Parses "&gt; 0", "not empty", ...; null when the text is none of them.</summary>
    public static DrillExpectation? TryParse(string text)
    {
        string t = text.Trim();
        if (t.Equals("not empty", StringComparison.OrdinalIgnoreCase)) return new("not empty", null);
        if (t.Equals("empty", StringComparison.OrdinalIgnoreCase)) return new("empty", null);
        foreach (var op in Operators)
        {
            if (!t.StartsWith(op, StringComparison.Ordinal)) continue;
            string operand = t[op.Length..].Trim().Trim('\'');
            if (operand.Length == 0) return null;
            if (op is ">" or "<" or ">=" or "<=" && !IsNumber(operand)) return null;
            return new(op == "<>" ? "!=" : op, operand);
        }
        return null;
    }

    /// <summary>
    /// Null when the result meets the condition, else why not. <paramref name="first"/> is the
    /// first value of the first row (null for SQL NULL), <paramref name="hasRow"/> whether there was a row.
    /// </summary>
    public string? Failure(bool hasRow, object? first)
    {
        if (Operator == "not empty") return hasRow ? null : "the query returned no rows";
        if (Operator == "empty") return hasRow ? "the query returned rows" : null;
        if (!hasRow) return "the query returned no rows";
        if (first is null) return "the query returned NULL";
        string value = first switch
        {
            bool b => b ? "true" : "false",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => first.ToString() ?? "",
        };
        bool met;
        if (IsNumber(value) && IsNumber(Operand!))
        {
            decimal a = decimal.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
            decimal b = decimal.Parse(Operand!, NumberStyles.Float, CultureInfo.InvariantCulture);
            met = Operator switch { ">" => a > b, "<" => a < b, ">=" => a >= b, "<=" => a <= b, "=" => a == b, _ => a != b };
        }
        else
        {
            met = Operator switch { "=" => value == Operand, "!=" => value != Operand, _ => false };
        }
        return met ? null : $"got {value}, expected {this}";
    }

    private static bool IsNumber(string text) => decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
