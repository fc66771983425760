using System.Reflection;
using System.Text.RegularExpressions;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// Keeps the layers of PgVault.Core honest: reads the namespace dependencies of every source file
/// under src/PgVault.Core and fails on any that the matrix in docs/architecture.md does not allow
/// (no upward reference, no cycle).
/// </summary>
public sealed partial class ArchitectureTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PgVault.sln"))) return dir.FullName;
        throw new InvalidOperationException("PgVault.sln not found above the test binaries");
    }

    /// <summary>The matrix of docs/architecture.md: each layer and the layers it may use.</summary>
    internal static Dictionary<string, HashSet<string>> AllowedMatrix(string markdown)
    {
        var allowed = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        bool inTable = false;
        foreach (string line in markdown.Split('\n'))
        {
            if (line.StartsWith("| layer | may use", StringComparison.Ordinal)) { inTable = true; continue; }
            if (!inTable) continue;
            if (!line.StartsWith('|')) break;
            var cells = line.Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length < 3 || cells[1].StartsWith("---", StringComparison.Ordinal)) continue;
            string layer = cells[1].Trim('`');
            allowed[layer] = cells[2].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(c => c.Trim('`')).Where(c => c != "—" && c != "-").ToHashSet(StringComparer.Ordinal);
        }
        return allowed;
    }

    /// <summary>Every (layer -> used layer, file) found in the sources of PgVault.Core.</summary>
    internal static List<(string From, string To, string File)> Dependencies(string sourceRoot, IReadOnlyDictionary<string, HashSet<string>> typesByLayer)
    {
        var found = new List<(string, string, string)>();
        foreach (string file in Directory.EnumerateFiles(sourceRoot, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains("/obj/", StringComparison.Ordinal) || file.Contains("/bin/", StringComparison.Ordinal)) continue;
            string text = File.ReadAllText(file);
            var ns = NamespaceLine().Match(text);
            if (!ns.Success) continue;
            string from = LayerOf(ns.Groups[1].Value);
            var uses = new HashSet<string>(StringComparer.Ordinal);
            foreach (Match m in UsingLine().Matches(text)) uses.Add(LayerOf(m.Groups[1].Value));
            foreach (Match m in QualifiedName().Matches(text)) uses.Add(LayerOf(m.Groups[1].Value));
            // Partly qualified references from inside PgVault.Core (e.g. `Physical.Lsn` in namespace PgVault.Core.Wal).
            foreach (Match m in PartialName().Matches(text))
            {
                string layer = m.Groups[1].Value;
                if (typesByLayer.TryGetValue(layer, out var types) && types.Contains(m.Groups[2].Value)) uses.Add(layer);
            }
            foreach (string to in uses.Where(u => u != from)) found.Add((from, to, Path.GetRelativePath(sourceRoot, file)));
        }
        return found;
    }

    private static string LayerOf(string ns)
    {
        string rest = ns == "PgVault.Core" ? "" : ns["PgVault.Core.".Length..];
        int dot = rest.IndexOf('.', StringComparison.Ordinal);
        return rest.Length == 0 ? "Core" : dot < 0 ? rest : rest[..dot];
    }

    private static Dictionary<string, HashSet<string>> TypesByLayer()
    {
        var byLayer = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var type in typeof(PgVault.Core.Errors.PgVaultException).Assembly.GetTypes())
        {
            if (type.Namespace is not { } ns || !ns.StartsWith("PgVault.Core", StringComparison.Ordinal) || type.IsNested) continue;
            string name = type.Name.Split('`')[0];
            string layer = LayerOf(ns);
            if (!byLayer.TryGetValue(layer, out var set)) byLayer[layer] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(name);
        }
        return byLayer;
    }

    [Fact]
    public void Core_layers_use_only_what_docs_architecture_md_allows()
    {
        var allowed = AllowedMatrix(File.ReadAllText(Path.Combine(Root, "docs", "architecture.md")));
        Assert.NotEmpty(allowed);
        var violations = Dependencies(Path.Combine(Root, "src", "PgVault.Core"), TypesByLayer())
            .Where(d => !allowed.TryGetValue(d.From, out var may) || !may.Contains(d.To))
            .Select(d => $"{d.From} -> {d.To} ({d.File})")
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(violations.Count == 0, "dependencies not allowed by docs/architecture.md:\n" + string.Join('\n', violations));
    }

    [Fact]
    public void The_allowed_matrix_has_no_cycle()
    {
        var allowed = AllowedMatrix(File.ReadAllText(Path.Combine(Root, "docs", "architecture.md")));
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        string? Visit(string layer, string path)
        {
            if (state.GetValueOrDefault(layer) == 1) return path + " -> " + layer;
            if (state.GetValueOrDefault(layer) == 2) return null;
            state[layer] = 1;
            foreach (string next in allowed.GetValueOrDefault(layer) ?? [])
                if (Visit(next, path + " -> " + layer) is { } cycle) return cycle;
            state[layer] = 2;
            return null;
        }
        foreach (string layer in allowed.Keys)
            Assert.Null(Visit(layer, ""));
    }

    [Fact]
    public void An_upward_reference_is_caught()
    {
        // The test of the test: a Storage file that uses the Repository layer must be reported.
        string dir = Directory.CreateTempSubdirectory("pgvault-arch-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "Bad.cs"), "using PgVault.Core.Repository;\nnamespace PgVault.Core.Storage;\ninternal sealed class Bad { }\n");
            File.WriteAllText(Path.Combine(dir, "Partial.cs"), "namespace PgVault.Core.Wal;\ninternal static class P { static string F() => Physical.PageChecksum.ToString(); }\n");
            var deps = Dependencies(dir, TypesByLayer());
            Assert.Contains(("Storage", "Repository", "Bad.cs"), deps);
            Assert.Contains(("Wal", "Physical", "Partial.cs"), deps);
            var allowed = AllowedMatrix(File.ReadAllText(Path.Combine(Root, "docs", "architecture.md")));
            Assert.DoesNotContain("Repository", allowed["Storage"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [GeneratedRegex(@"^namespace (PgVault\.Core[\w.]*)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(PgVault\.Core(?:\.\w+)?)[\w.]*\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingLine();

    [GeneratedRegex(@"(?<![\w.])(PgVault\.Core\.\w+)\.")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"(?<![\w.])(\w+)\.(\w+)")]
    private static partial Regex PartialName();
}
